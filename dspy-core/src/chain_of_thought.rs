//! `ChainOfThought`: a `Predict` that reasons step by step before it answers.

use crate::adapter::Adapter;
use crate::error::{Result, SignatureError};
use crate::lm::{LM, LmConfig, Message};
use crate::module::{Module, Program, Visitor, VisitorMut};
use crate::predict::Predict;
use crate::signature::{
    Dynamic, FieldRole, FieldSpec, Fields, Signature, SignatureSpec, TypedSignature,
};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// An output with the model's reasoning in front of it: what [`ChainOfThought`] returns.
///
/// It derefs to the inner output, so `out.answer` works as with [`Predict`]; swapping
/// `Predict<S>` for `ChainOfThought<S>` changes the output type, and the compiler shows
/// every place that cares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithReasoning<O> {
    /// The step-by-step reasoning the model wrote before answering.
    pub reasoning: String,
    /// The signature's own outputs.
    #[serde(flatten)]
    pub output: O,
}

output_wrapper!(WithReasoning);

/// `S` with a `reasoning` output in front: the signature of ChainOfThought's predictor.
pub struct Reasoned<S>(PhantomData<fn() -> S>);

impl<S: Signature> Signature for Reasoned<S> {
    type Input = S::Input;
    type Output = WithReasoning<S::Output>;
}

/// The field ChainOfThought adds, as DSPy defines it.
fn reasoning_field() -> FieldSpec {
    FieldSpec::string("reasoning", FieldRole::Output)
}

/// Predicts with a `reasoning` output field added before the signature's own outputs, so
/// the model thinks before it answers (DSPy's `ChainOfThought`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
///
/// /// Answer questions with short factoid answers.
/// #[derive(Signature)]
/// struct QA {
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
/// }
///
/// let lm = ScriptedLm::new([
///     "[[ ## reasoning ## ]]\nHamlet is a play by Shakespeare.\n\n[[ ## answer ## ]]\nShakespeare\n\n[[ ## completed ## ]]",
/// ]);
/// let cot = ChainOfThought::<QA>::new();
/// let out = cot.call_with(&lm, QAInput { question: "Who wrote Hamlet?".into() }).await?;
/// assert_eq!(out.reasoning, "Hamlet is a play by Shakespeare.");
/// assert_eq!(out.answer, "Shakespeare"); // through Deref
/// # Ok::<(), dspy::Error>(()) }).unwrap();
/// ```
///
/// A signature that already has a `reasoning` field is rejected when the program is
/// compiled:
///
/// ```compile_fail
/// use dspy::prelude::*;
/// #[derive(Signature)]
/// struct Explain {
///     #[input] question: String,
///     #[output] reasoning: String,
/// }
/// let _ = ChainOfThought::<Explain>::new();
/// ```
pub struct ChainOfThought<S: Signature> {
    predict: Predict<Reasoned<S>>,
}

impl<S: Signature> Clone for ChainOfThought<S> {
    fn clone(&self) -> Self {
        ChainOfThought {
            predict: self.predict.clone(),
        }
    }
}

impl<S: Signature> std::fmt::Debug for ChainOfThought<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainOfThought")
            .field("predict", &self.predict)
            .finish()
    }
}

impl<S: TypedSignature> ChainOfThought<S> {
    /// ChainOfThought over a derived signature.
    pub fn new() -> Self {
        const {
            assert!(
                !crate::__private::contains_name(S::FIELD_NAMES, "reasoning"),
                "ChainOfThought adds a `reasoning` output field, and this signature already has a field named `reasoning`; rename it or use Predict"
            );
        }
        let spec = S::spec();
        // The const assertion above proves the name is free.
        let spec = spec
            .clone()
            .prepend_output(reasoning_field())
            .unwrap_or(spec);
        ChainOfThought {
            predict: Predict::from_parts(spec),
        }
    }
}

impl<S: TypedSignature> Default for ChainOfThought<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainOfThought<Dynamic> {
    /// ChainOfThought over a string signature (`"question -> answer"`).
    pub fn parse(signature: &str) -> Result<Self> {
        Ok(Self::from_spec(SignatureSpec::parse(signature)?)?)
    }

    /// ChainOfThought over a signature built at run time; fails if it has a `reasoning`
    /// field already.
    pub fn from_spec(signature: SignatureSpec) -> Result<Self, SignatureError> {
        Ok(ChainOfThought {
            predict: Predict::from_parts(signature.prepend_output(reasoning_field())?),
        })
    }
}

impl<S: Signature> ChainOfThought<S> {
    /// A chain of thought over `signature` (with `reasoning` put first among its
    /// outputs); the caller guarantees that `S`'s types fit it.
    pub(crate) fn from_parts(signature: SignatureSpec) -> Self {
        let spec = signature
            .clone()
            .prepend_output(reasoning_field())
            .unwrap_or(signature);
        ChainOfThought {
            predict: Predict::from_parts(spec),
        }
    }

    /// The inner predictor (its signature has `reasoning` first among the outputs).
    pub fn predict(&self) -> &Predict<Reasoned<S>> {
        &self.predict
    }

    /// The inner predictor, to change its instructions and demos.
    pub fn predict_mut(&mut self) -> &mut Predict<Reasoned<S>> {
        &mut self.predict
    }

    /// With other instructions.
    pub fn with_instructions(self, instructions: impl Into<String>) -> Self {
        self.map(|p| p.with_instructions(instructions))
    }

    /// With these demos (field maps; a missing `reasoning` is shown as not supplied).
    pub fn with_demos(self, demos: impl IntoIterator<Item = Fields>) -> Self {
        self.map(|p| p.with_demos(demos))
    }

    /// With an LM of its own.
    pub fn with_lm(self, lm: impl LM + 'static) -> Self {
        self.map(|p| p.with_lm(lm))
    }

    /// With an adapter.
    pub fn with_adapter(self, adapter: impl Adapter + 'static) -> Self {
        self.map(|p| p.with_adapter(adapter))
    }

    /// With settings for its calls.
    pub fn with_config(self, config: LmConfig) -> Self {
        self.map(|p| p.with_config(config))
    }

    /// With up to `n` re-asks on a parse failure.
    pub fn with_reasks(self, n: u32) -> Self {
        self.map(|p| p.with_reasks(n))
    }

    fn map(self, f: impl FnOnce(Predict<Reasoned<S>>) -> Predict<Reasoned<S>>) -> Self {
        ChainOfThought {
            predict: f(self.predict),
        }
    }

    /// Calls the LM in effect (see [`Predict::call`]).
    pub async fn call(&self, input: S::Input) -> Result<WithReasoning<S::Output>> {
        self.predict.call(input).await
    }

    /// Calls `lm` (see [`Predict::call_with`]).
    pub async fn call_with(
        &self,
        lm: &dyn LM,
        input: S::Input,
    ) -> Result<WithReasoning<S::Output>> {
        self.predict.call_with(lm, input).await
    }

    /// The messages a call with `input` would send.
    pub fn format(&self, input: &S::Input) -> Result<Vec<Message>> {
        self.predict.format(input)
    }
}

impl<S: Signature> Module for ChainOfThought<S> {
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

impl<S: Signature> Program for ChainOfThought<S> {
    type Input = S::Input;
    type Output = WithReasoning<S::Output>;
    async fn forward(&self, input: S::Input) -> Result<WithReasoning<S::Output>> {
        self.call(input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::ScriptedLm;

    #[tokio::test]
    async fn dynamic_chain_of_thought_returns_reasoning_and_fields() {
        let lm = ScriptedLm::new(["[[ ## reasoning ## ]]\n2+2=4\n\n[[ ## answer ## ]]\n4"]);
        let cot = ChainOfThought::parse("question -> answer: int").expect("valid");
        let mut input = Fields::new();
        input.insert("question".into(), "2+2?".into());
        let out = cot.call_with(&lm, input).await.expect("parses");
        assert_eq!(out.reasoning, "2+2=4");
        assert_eq!(out["answer"], 4);
        assert!(
            !out.contains_key("reasoning"),
            "reasoning is not duplicated in the inner map"
        );
    }

    #[test]
    fn reasoning_clash_is_an_error_for_dynamic_signatures() {
        let err = ChainOfThought::parse("question -> reasoning, answer").expect_err("clash");
        assert!(
            err.to_string()
                .contains("`reasoning` appears more than once"),
            "{err}"
        );
    }
}
