//! `MultiChainComparison`: reads several reasoning attempts at one question and gives a
//! final answer with its own rationale.

use crate::chain_of_thought::{ChainOfThought, WithReasoning};
use crate::error::{Error, Result};
use crate::lm::{Configured, LM, LmConfig};
use crate::module::{Module, Program, Visitor, VisitorMut};
use crate::predict::Predict;
use crate::settings::current_lm;
use crate::signature::{Dynamic, FieldRole, FieldSpec, Fields, Signature, SignatureSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::Arc;

/// An answer with the rationale that compared the attempts. Derefs to the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithRationale<O> {
    /// Why this answer, having read the attempts.
    pub rationale: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

output_wrapper!(WithRationale);

/// The comparison's signature: `S`'s inputs and `reasoning_attempt_1..M` in; `rationale`,
/// then `S`'s outputs, out.
pub struct Compare<S>(PhantomData<fn() -> S>);

impl<S: Signature> Signature for Compare<S> {
    type Input = Fields;
    type Output = WithRationale<S::Output>;
}

/// DSPy's `MultiChainComparison(signature, M=3, temperature=0.7)`: given `M` attempts (a
/// reasoning and an answer each), writes each as «I'm trying to {reasoning} I'm not sure
/// but my prediction is {answer}» into `reasoning_attempt_i` inputs and asks for a
/// holistic rationale and the final outputs.
///
/// [`attempt_and_compare`](Self::attempt_and_compare) also makes the attempts: `M` runs
/// of a `ChainOfThought` at temperature 1.0, each under its own `rollout_id`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::{MultiChainComparison, WithReasoning};
///
/// let lm = ScriptedLm::new([
///     "[[ ## rationale ## ]]\nTwo attempts say 4.\n\n[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]",
/// ]);
/// let compare = MultiChainComparison::<Dynamic>::parse("question -> answer", 3)?;
/// let attempt = |r: &str, a: &str| {
///     let mut out = dspy::Fields::new();
///     out.insert("answer".into(), a.into());
///     WithReasoning { reasoning: r.into(), output: out }
/// };
/// let mut input = dspy::Fields::new();
/// input.insert("question".into(), "2 + 2?".into());
/// let attempts = [attempt("add two and two", "4"), attempt("guess", "5"), attempt("count", "4")];
/// let out = compare.call_with(&lm, input, &attempts).await?;
/// assert_eq!(out["answer"], "4");
/// assert!(lm.requests()[0].messages[1].content.contains("«I'm trying to guess I'm not sure but my prediction is 5»"));
/// # Ok::<(), dspy::Error>(()) }).unwrap();
/// ```
pub struct MultiChainComparison<S: Signature> {
    predict: Predict<Compare<S>>,
    m: usize,
    last_output: String,
}

impl<S: Signature> Clone for MultiChainComparison<S> {
    fn clone(&self) -> Self {
        MultiChainComparison {
            predict: self.predict.clone(),
            m: self.m,
            last_output: self.last_output.clone(),
        }
    }
}

impl<S: Signature> std::fmt::Debug for MultiChainComparison<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiChainComparison")
            .field("predict", &self.predict)
            .field("m", &self.m)
            .finish()
    }
}

impl<S: crate::signature::TypedSignature> MultiChainComparison<S> {
    /// A comparison of `m` attempts for a derived signature.
    pub fn new(m: usize) -> Self {
        Self::build(S::spec(), m)
    }
}

impl MultiChainComparison<Dynamic> {
    /// A comparison of `m` attempts for a string signature.
    pub fn parse(signature: &str, m: usize) -> Result<Self> {
        Ok(Self::build(SignatureSpec::parse(signature)?, m))
    }
}

impl<S: Signature> MultiChainComparison<S> {
    fn build(signature: SignatureSpec, m: usize) -> Self {
        let m = m.max(1);
        let last_output = signature
            .outputs
            .last()
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let mut spec = signature.clone();
        spec.name = format!("{}Compare", signature.name);
        for i in 1..=m {
            let mut field = FieldSpec::string(&format!("reasoning_attempt_{i}"), FieldRole::Input);
            field.prefix = format!("Student Attempt #{i}:");
            spec.inputs.push(field);
        }
        let mut rationale =
            FieldSpec::string("rationale", FieldRole::Output).with_desc("${corrected reasoning}");
        rationale.prefix = "Accurate Reasoning: Thank you everyone. Let's now holistically".into();
        let spec = spec.clone().prepend_output(rationale).unwrap_or(spec);
        MultiChainComparison {
            predict: Predict::from_parts(spec)
                .with_config(LmConfig::default().with_temperature(0.7)),
            m,
            last_output,
        }
    }

    /// The comparing predictor (path `predict`).
    pub fn predict(&self) -> &Predict<Compare<S>> {
        &self.predict
    }

    /// The comparing predictor, to change.
    pub fn predict_mut(&mut self) -> &mut Predict<Compare<S>> {
        &mut self.predict
    }

    /// How many attempts it compares.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Compares `attempts` (exactly `m`) at `input` on the LM in effect.
    pub async fn call(
        &self,
        input: S::Input,
        attempts: &[WithReasoning<S::Output>],
    ) -> Result<WithRationale<S::Output>> {
        let lm = current_lm().ok_or(Error::NoLm)?;
        self.call_with(&*lm, input, attempts).await
    }

    /// Compares `attempts` (exactly `m`) at `input` on `lm`.
    pub async fn call_with(
        &self,
        lm: &dyn LM,
        input: S::Input,
        attempts: &[WithReasoning<S::Output>],
    ) -> Result<WithRationale<S::Output>> {
        let invalid = |message: String| Error::InvalidInput {
            signature: self.predict.signature().name.clone(),
            message,
        };
        if attempts.len() != self.m {
            return Err(invalid(format!(
                "{} attempts given; this comparison reads {}",
                attempts.len(),
                self.m
            )));
        }
        let mut fields = match serde_json::to_value(&input) {
            Ok(Value::Object(map)) => map,
            Ok(other) => return Err(invalid(format!("expected an object, got {other}"))),
            Err(e) => return Err(invalid(e.to_string())),
        };
        for (i, attempt) in attempts.iter().enumerate() {
            let answer = match serde_json::to_value(&attempt.output) {
                Ok(Value::Object(map)) => match map.get(&self.last_output) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
                _ => String::new(),
            };
            fields.insert(
                format!("reasoning_attempt_{}", i + 1),
                format!(
                    "«I'm trying to {} I'm not sure but my prediction is {}»",
                    first_line(&attempt.reasoning),
                    first_line(&answer)
                )
                .into(),
            );
        }
        self.predict.call_with(lm, fields).await
    }

    /// Makes `m` attempts with `cot` (temperature 1.0, rollouts 0..m, one after another)
    /// on `lm`, then compares them. Attempts that fail are left out; if fewer than `m`
    /// succeed, the first error is returned.
    pub async fn attempt_and_compare(
        &self,
        cot: &ChainOfThought<S>,
        lm: Arc<dyn LM>,
        input: S::Input,
    ) -> Result<WithRationale<S::Output>>
    where
        S::Input: Clone,
    {
        let mut attempts = Vec::with_capacity(self.m);
        let mut first_error = None;
        for i in 0..self.m {
            let hot = LmConfig::default()
                .with_temperature(1.0)
                .with_rollout_id(i as u64);
            let sampled = Configured::new(Arc::clone(&lm), hot);
            match cot.call_with(&sampled, input.clone()).await {
                Ok(attempt) => attempts.push(attempt),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if attempts.len() < self.m {
            return Err(first_error.unwrap_or(Error::NoLm));
        }
        self.call_with(&*lm, input, &attempts).await
    }
}

/// The first line of `text`, trimmed.
fn first_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or_default().trim()
}

/// What [`MultiChainComparison`] takes as a [`Program`]: the input and the attempts.
#[derive(Debug, Clone)]
pub struct Attempts<I, O> {
    /// The signature's inputs.
    pub input: I,
    /// The attempts to compare.
    pub attempts: Vec<WithReasoning<O>>,
}

impl<S: Signature> Module for MultiChainComparison<S> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        visitor.enter("predict");
        self.predict.visit_predictors(visitor);
        visitor.exit();
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        visitor.enter("predict");
        self.predict.visit_predictors_mut(visitor);
        visitor.exit();
    }
}

impl<S: Signature> Program for MultiChainComparison<S>
where
    S::Output: Sync,
{
    type Input = Attempts<S::Input, S::Output>;
    type Output = WithRationale<S::Output>;
    async fn forward(&self, input: Self::Input) -> Result<WithRationale<S::Output>> {
        self.call(input.input, &input.attempts).await
    }
}
