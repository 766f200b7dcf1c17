//! `BestOfN` and `Refine`: run a program several times with distinct rollouts and keep the
//! answer a reward function likes best; `Refine` also asks the LM for advice after each
//! attempt that falls short and gives it to the next one.

use crate::error::{Error, Result};
use crate::lm::{Configured, LmConfig};
use crate::module::{Module, Program, Visitor, VisitorMut};
use crate::predict::Predict;
use crate::settings::{current_lm, with_lm};
use crate::signature::{Dynamic, FieldRole, FieldSpec, Fields, SignatureSpec};
use crate::trace::{Trace, traced};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// Runs `module` up to `n` times, each at temperature 1.0 under its own `rollout_id` (so a
/// cached LM answers afresh), and returns the output with the highest reward, stopping
/// early once one reaches `threshold` (DSPy's `BestOfN`). Failed runs are tolerated up to
/// `fail_count` (default `n`); past it the last error is returned. The winning run's
/// trace is recorded in the enclosing traced scope, as if only it had run.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::BestOfN;
/// use std::sync::Arc;
///
/// // Answers "1", "2", "3"… on successive calls; the reward wants an even number.
/// let calls = std::sync::atomic::AtomicUsize::new(0);
/// let lm = ScriptedLm::from_fn(move |_| {
///     let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
///     Ok(format!("[[ ## answer ## ]]\n{n}\n\n[[ ## completed ## ]]"))
/// });
/// let qa = Predict::<Dynamic>::parse("question -> answer: int")?;
/// let best = BestOfN::new(qa, 5, |_: &dspy::Fields, out: &dspy::Fields| {
///     if out["answer"].as_i64().is_some_and(|n| n % 2 == 0) { 1.0 } else { 0.0 }
/// }, 1.0);
/// let mut input = dspy::Fields::new();
/// input.insert("question".into(), "an even number?".into());
/// let out = dspy::with_lm(Arc::new(lm), best.forward(input)).await?;
/// assert_eq!(out["answer"], 2);
/// # Ok::<(), dspy::Error>(()) }).unwrap();
/// ```
pub struct BestOfN<P, R> {
    module: P,
    n: usize,
    reward: R,
    threshold: f64,
    fail_count: Option<usize>,
    first_rollout: u64,
}

impl<P, R> BestOfN<P, R>
where
    P: Program,
    P::Input: Clone,
    P::Output: Sync,
    R: Fn(&P::Input, &P::Output) -> f64 + Send + Sync,
{
    /// `module` tried up to `n` times, judged by `reward`, stopping at `threshold`.
    pub fn new(module: P, n: usize, reward: R, threshold: f64) -> Self {
        BestOfN {
            module,
            n: n.max(1),
            reward,
            threshold,
            fail_count: None,
            first_rollout: 0,
        }
    }

    /// With at most `k` failed runs tolerated (default: all of them).
    pub fn with_fail_count(mut self, k: usize) -> Self {
        self.fail_count = Some(k);
        self
    }

    /// With rollouts numbered from `first` (default 0), to draw other samples.
    pub fn with_first_rollout(mut self, first: u64) -> Self {
        self.first_rollout = first;
        self
    }

    /// The module tried.
    pub fn module(&self) -> &P {
        &self.module
    }
}

/// What one attempt gave.
struct Attempt<O> {
    output: O,
    reward: f64,
    trace: Trace,
}

/// How a strategy runs its attempts: what attempt `i` runs, and what it does after an
/// attempt below the threshold.
trait Strategy<I, O>: Sync {
    /// Runs attempt `i`.
    fn run(&self, i: usize, input: &I) -> impl Future<Output = Result<O>> + Send;
    /// Learns from an attempt that fell short, before the next one.
    fn after_miss(
        &self,
        input: &I,
        output: &O,
        reward: f64,
        trace: &Trace,
    ) -> impl Future<Output = ()> + Send;
}

/// Runs the strategy's attempts, each under rollout `first + i` at temperature 1.0,
/// keeping the best by `reward`. Shared by `BestOfN` and `Refine`.
#[allow(clippy::too_many_arguments)]
async fn attempts<I, O, S, Rew>(
    n: usize,
    first: u64,
    threshold: f64,
    fail_count: usize,
    input: &I,
    strategy: &S,
    reward: Rew,
) -> Result<O>
where
    S: Strategy<I, O>,
    Rew: Fn(&I, &O) -> f64,
{
    let base = current_lm();
    let mut best: Option<Attempt<O>> = None;
    let mut failures = 0;
    let mut last_error = None;
    for i in 0..n {
        let attempt = strategy.run(i, input);
        let (result, trace) = match &base {
            Some(lm) => {
                let hot = LmConfig::default()
                    .with_temperature(1.0)
                    .with_rollout_id(first + i as u64);
                let lm = Arc::new(Configured::new(Arc::clone(lm), hot));
                with_lm(lm, traced(attempt)).await
            }
            None => traced(attempt).await,
        };
        match result {
            Ok(output) => {
                let score = reward(input, &output);
                let reached = score >= threshold;
                if !reached && i + 1 < n {
                    strategy.after_miss(input, &output, score, &trace).await;
                }
                if best.as_ref().is_none_or(|b| score > b.reward) {
                    best = Some(Attempt {
                        output,
                        reward: score,
                        trace,
                    });
                }
                if reached {
                    break;
                }
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(attempt = i, %error, "attempt failed");
                if failures > fail_count {
                    return Err(error);
                }
                last_error = Some(error);
            }
        }
    }
    match best {
        Some(Attempt { output, trace, .. }) => {
            for entry in trace.entries() {
                crate::trace::record(
                    entry.predictor,
                    &entry.signature,
                    &entry.inputs,
                    &entry.outputs,
                );
            }
            Ok(output)
        }
        None => Err(last_error.unwrap_or(Error::NoLm)),
    }
}

impl<P: Module, R: Send + Sync> Module for BestOfN<P, R> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        visitor.enter("module");
        self.module.visit_predictors(visitor);
        visitor.exit();
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        visitor.enter("module");
        self.module.visit_predictors_mut(visitor);
        visitor.exit();
    }
}

impl<P, R> Program for BestOfN<P, R>
where
    P: Program,
    P::Input: Clone,
    P::Output: Sync,
    R: Fn(&P::Input, &P::Output) -> f64 + Send + Sync,
{
    type Input = P::Input;
    type Output = P::Output;
    async fn forward(&self, input: P::Input) -> Result<P::Output> {
        let fail_count = self.fail_count.unwrap_or(self.n);
        attempts(
            self.n,
            self.first_rollout,
            self.threshold,
            fail_count,
            &input,
            self,
            &self.reward,
        )
        .await
    }
}

impl<P, R> Strategy<P::Input, P::Output> for BestOfN<P, R>
where
    P: Program,
    P::Input: Clone,
    P::Output: Sync,
    R: Fn(&P::Input, &P::Output) -> f64 + Send + Sync,
{
    fn run(&self, _: usize, input: &P::Input) -> impl Future<Output = Result<P::Output>> + Send {
        self.module.forward(input.clone())
    }
    async fn after_miss(&self, _: &P::Input, _: &P::Output, _: f64, _: &Trace) {}
}

/// `BestOfN` that learns between attempts (DSPy's `Refine`): after an attempt below the
/// threshold, a feedback predictor reads the program's predictors, the attempt's trace,
/// its outputs and reward, and writes advice for each predictor; the next attempt runs a
/// copy of the program whose predictors carry that advice in their instructions.
///
/// The feedback predictor is `feedback` (path `feedback`): optimizers may tune it too.
pub struct Refine<P, R> {
    best: BestOfN<P, R>,
    feedback: Predict<Dynamic>,
}

impl<P, R> Refine<P, R>
where
    P: Program + Clone,
    P::Input: Clone + serde::Serialize,
    P::Output: serde::Serialize + Sync,
    R: Fn(&P::Input, &P::Output) -> f64 + Send + Sync,
{
    /// `module` tried up to `n` times, judged by `reward`, stopping at `threshold`, with
    /// advice between attempts.
    pub fn new(module: P, n: usize, reward: R, threshold: f64) -> Self {
        Refine {
            best: BestOfN::new(module, n, reward, threshold),
            feedback: Predict::from_spec(offer_feedback()),
        }
    }

    /// With at most `k` failed runs tolerated (default: all of them).
    pub fn with_fail_count(mut self, k: usize) -> Self {
        self.best = self.best.with_fail_count(k);
        self
    }

    /// The feedback predictor.
    pub fn feedback(&self) -> &Predict<Dynamic> {
        &self.feedback
    }

    /// Advice for each predictor of `program` after an attempt that scored `reward`.
    async fn advise(
        &self,
        program: &P,
        input: &P::Input,
        output: &P::Output,
        reward: f64,
        trace: &Trace,
    ) -> Result<BTreeMap<String, String>> {
        let predictors: Vec<(String, &dyn crate::predictor::Predictor)> = program
            .named_predictors()
            .into_iter()
            .map(|(path, p)| (module_name(path), p))
            .collect();
        let modules_defn = predictors
            .iter()
            .map(|(path, p)| {
                format!(
                    "{path}: {}\n  instructions: {}",
                    p.signature().short(),
                    p.signature().instructions
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let steps = trace
            .entries()
            .iter()
            .map(|e| {
                let path = trace
                    .path_of(program, e)
                    .unwrap_or_else(|| e.signature.clone());
                format!(
                    "{path}\n  inputs: {}\n  outputs: {}",
                    Value::Object(e.inputs.clone()),
                    Value::Object(e.outputs.clone())
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        let mut fields = Fields::new();
        fields.insert(
            "program_code".into(),
            format!(
                "A Rust program of type `{}` built from the modules below.",
                std::any::type_name::<P>()
            )
            .into(),
        );
        fields.insert("modules_defn".into(), modules_defn.into());
        fields.insert("program_inputs".into(), json(input).into());
        fields.insert("program_trajectory".into(), steps.into());
        fields.insert("program_outputs".into(), json(output).into());
        fields.insert(
            "reward_code".into(),
            "A Rust closure scoring the outputs (its code is not available).".into(),
        );
        fields.insert("target_threshold".into(), self.best.threshold.into());
        fields.insert("reward_value".into(), reward.into());
        fields.insert(
            "module_names".into(),
            Value::from(
                predictors
                    .iter()
                    .map(|(p, _)| p.clone())
                    .collect::<Vec<_>>(),
            ),
        );
        let lm = current_lm().ok_or(Error::NoLm)?;
        let out = self.feedback.forward_fields(&*lm, fields).await?;
        Ok(match out.get("advice") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
            _ => BTreeMap::new(),
        })
    }
}

/// A value as JSON text (empty if it cannot be serialized).
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A predictor's name for the feedback LM: its path, or `self` for a program that is one
/// predictor (as DSPy names it).
fn module_name(path: String) -> String {
    if path.is_empty() { "self".into() } else { path }
}

/// A copy of `program` whose predictors named in `advice` carry it in their instructions.
fn advised<P: Module + Clone>(program: &P, advice: &BTreeMap<String, String>) -> P {
    let mut copy = program.clone();
    for (path, predictor) in copy.named_predictors_mut() {
        if let Some(advice) = advice.get(&module_name(path)).filter(|a| {
            let a = a.trim();
            !a.is_empty() && !a.eq_ignore_ascii_case("n/a")
        }) {
            let instructions = format!(
                "{}\n\nAdvice from a previous attempt: {advice}",
                predictor.signature().instructions
            );
            predictor.set_instructions(instructions);
        }
    }
    copy
}

impl<P: Module, R: Send + Sync> Module for Refine<P, R> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        self.best.visit_predictors(visitor);
        visitor.enter("feedback");
        self.feedback.visit_predictors(visitor);
        visitor.exit();
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        self.best.visit_predictors_mut(visitor);
        visitor.enter("feedback");
        self.feedback.visit_predictors_mut(visitor);
        visitor.exit();
    }
}

impl<P, R> Program for Refine<P, R>
where
    P: Program + Clone,
    P::Input: Clone + serde::Serialize,
    P::Output: serde::Serialize + Sync,
    R: Fn(&P::Input, &P::Output) -> f64 + Send + Sync,
{
    type Input = P::Input;
    type Output = P::Output;
    async fn forward(&self, input: P::Input) -> Result<P::Output> {
        let fail_count = self.best.fail_count.unwrap_or(self.best.n);
        let attempt = RefineAttempts {
            refine: self,
            current: std::sync::Mutex::new(self.best.module.clone()),
        };
        attempts(
            self.best.n,
            self.best.first_rollout,
            self.best.threshold,
            fail_count,
            &input,
            &attempt,
            &self.best.reward,
        )
        .await
    }
}

/// `Refine`'s attempts: each runs the program as last advised.
struct RefineAttempts<'r, P, R> {
    refine: &'r Refine<P, R>,
    current: std::sync::Mutex<P>,
}

impl<P: Clone, R> RefineAttempts<'_, P, R> {
    fn current(&self) -> P {
        match self.current.lock() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl<P, R> Strategy<P::Input, P::Output> for RefineAttempts<'_, P, R>
where
    P: Program + Clone,
    P::Input: Clone + serde::Serialize,
    P::Output: serde::Serialize + Sync,
    R: Fn(&P::Input, &P::Output) -> f64 + Send + Sync,
{
    fn run(&self, _: usize, input: &P::Input) -> impl Future<Output = Result<P::Output>> + Send {
        let program = self.current();
        let input = input.clone();
        async move { program.forward(input).await }
    }

    async fn after_miss(&self, input: &P::Input, output: &P::Output, reward: f64, trace: &Trace) {
        let now = self.current();
        match self.refine.advise(&now, input, output, reward, trace).await {
            Ok(advice) => {
                let next = advised(&self.refine.best.module, &advice);
                match self.current.lock() {
                    Ok(mut slot) => *slot = next,
                    Err(poisoned) => *poisoned.into_inner() = next,
                }
            }
            Err(error) => tracing::warn!(%error, "no advice for the next attempt"),
        }
    }
}

/// DSPy's `OfferFeedback` signature.
fn offer_feedback() -> SignatureSpec {
    let input = |name: &str, desc: &str| FieldSpec::string(name, FieldRole::Input).with_desc(desc);
    SignatureSpec {
        name: "OfferFeedback".into(),
        instructions: "In the discussion, assign blame to each module that contributed to the final reward being below the threshold, if any. Then, prescribe concrete advice of how the module should act on its future input when we retry the process, if it were to receive the same or similar inputs. If a module is not to blame, the advice should be N/A.\nThe module will not see its own history, so it needs to rely on entirely concrete and actionable advice from you to avoid the same mistake on the same or similar inputs.".into(),
        inputs: vec![
            input("program_code", "The code of the program that we are analyzing"),
            input("modules_defn", "The definition of each module in the program, including its I/O"),
            input("program_inputs", "The inputs to the program that we are analyzing"),
            input("program_trajectory", "The trajectory of the program's execution, showing each module's I/O"),
            input("program_outputs", "The outputs of the program that we are analyzing"),
            input("reward_code", "The code of the reward function that we are analyzing"),
            FieldSpec::typed::<f64>("target_threshold", FieldRole::Input, "float")
                .with_desc("The target threshold for the reward function"),
            FieldSpec::typed::<f64>("reward_value", FieldRole::Input, "float")
                .with_desc("The reward value assigned to the program's outputs"),
            FieldSpec::typed::<Vec<String>>("module_names", FieldRole::Input, "list[str]")
                .with_desc("The names of the modules in the program, for which we seek advice"),
        ],
        outputs: vec![
            FieldSpec::string("discussion", FieldRole::Output)
                .with_desc("Discussing blame of where each module went wrong, if it did"),
            FieldSpec::typed::<BTreeMap<String, String>>("advice", FieldRole::Output, "dict[str, str]")
                .with_desc("For each module, describe very concretely, in this order: the specific scenarios in which it has made mistakes in the past and what each mistake was, followed by what it should do differently in that kind of scenario in the future. If the module is not to blame, write N/A."),
        ],
    }
}
