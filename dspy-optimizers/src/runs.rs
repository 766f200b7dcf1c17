//! Runs of a program on single examples, each kept whole (score, output, the predictor
//! calls by path, the error): what instruction optimizers look at when they compare
//! examples one by one (minibatches, Pareto fronts, high-variance buckets, feedback).

use dspy_core::{Error, Example, Fields, LM, Metric, Module, Program, Trace, traced};
use serde_json::Value;
use std::sync::Arc;

/// One predictor call of a run, with the predictor's path in the program that ran.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) path: String,
    pub(crate) inputs: Fields,
    pub(crate) outputs: Fields,
}

/// One run of a program on one example.
pub(crate) struct Run<O> {
    /// The metric's score, or the failure score when the call failed.
    pub(crate) score: f64,
    /// The output, when the call succeeded.
    pub(crate) output: Option<O>,
    /// The predictor calls, in order.
    pub(crate) steps: Vec<Step>,
    /// The error, when the call failed.
    pub(crate) error: Option<Error>,
    /// The whole trace, for metrics that read it.
    pub(crate) trace: Trace,
}

impl<O> Run<O> {
    /// Whether the run was refused because the LM call budget is spent.
    pub(crate) fn out_of_budget(&self) -> bool {
        matches!(self.error, Some(Error::BudgetExhausted { .. }))
    }

    /// The program's outputs as fields: the last predictor call's outputs.
    pub(crate) fn output_fields(&self) -> Fields {
        self.steps
            .last()
            .map(|s| s.outputs.clone())
            .unwrap_or_default()
    }
}

/// Runs `program` on `example` (under `lm` when given), traced, and scores it.
pub(crate) async fn run_one<P, I, L, M>(
    program: &P,
    example: &Example<I, L>,
    metric: &M,
    lm: Option<Arc<dyn LM>>,
) -> Run<P::Output>
where
    P: Program<Input = I>,
    I: Clone + Send + Sync + 'static,
    M: Metric<I, L, P::Output>,
{
    let fut = traced(program.forward(example.input.clone()));
    let (result, trace) = match lm {
        Some(lm) => dspy_core::with_lm(lm, fut).await,
        None => fut.await,
    };
    let steps = trace
        .with_paths(program)
        .into_iter()
        .filter_map(|(path, entry)| {
            Some(Step {
                path: path?,
                inputs: entry.inputs.clone(),
                outputs: entry.outputs.clone(),
            })
        })
        .collect();
    match result {
        Ok(output) => Run {
            score: metric.score(example, &output, None),
            output: Some(output),
            steps,
            error: None,
            trace,
        },
        Err(error) => Run {
            score: 0.0,
            output: None,
            steps,
            error: Some(error),
            trace,
        },
    }
}

/// Runs `program` on each example, `concurrency` at a time; the runs in example order.
pub(crate) async fn run_many<P, I, L, M>(
    program: &P,
    examples: &[&Example<I, L>],
    metric: &M,
    concurrency: usize,
) -> Vec<Run<P::Output>>
where
    P: Program<Input = I>,
    I: Clone + Send + Sync + 'static,
    L: Send + Sync,
    M: Metric<I, L, P::Output>,
{
    use futures::StreamExt;
    // Built up front: a closure mapping examples to futures inside the stream would not be
    // `Send` in generic callers.
    let calls: Vec<_> = examples
        .iter()
        .map(|example| run_one(program, example, metric, None))
        .collect();
    futures::stream::iter(calls)
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The mean score of some runs (0 for none).
pub(crate) fn mean_score<O>(runs: &[Run<O>]) -> f64 {
    if runs.is_empty() {
        return 0.0;
    }
    runs.iter().map(|r| r.score).sum::<f64>() / runs.len() as f64
}

/// Each predictor's instructions, by path.
pub(crate) fn instructions_of<P: Module>(program: &P) -> Vec<(String, String)> {
    program
        .named_predictors()
        .iter()
        .map(|(path, p)| (path.clone(), p.signature().instructions.clone()))
        .collect()
}

/// Each predictor's number of demos, by path.
pub(crate) fn demo_counts<P: Module>(program: &P) -> Vec<(String, usize)> {
    program
        .named_predictors()
        .iter()
        .map(|(path, p)| (path.clone(), p.demos().len()))
        .collect()
}

/// A pseudo-code outline of the program, for proposers that are shown "the program"
/// (DSPy shows the Python source; a compiled Rust program has none): each predictor with
/// its path, signature and instructions.
pub(crate) fn outline<P: Module>(program: &P) -> String {
    let mut text = String::new();
    for (path, predictor) in program.named_predictors() {
        let signature = predictor.signature();
        let names = |fields: &[dspy_core::FieldSpec]| -> String {
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name, f.type_label()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let path = if path.is_empty() { "self" } else { &path };
        text.push_str(&format!(
            "{path} = Predict({}({}) -> {})\n    # instructions: {}\n",
            signature.name,
            names(&signature.inputs),
            names(&signature.outputs),
            signature.instructions.replace('\n', " ")
        ));
    }
    text.push_str("\nforward(inputs): calls the predictors above in order; the last one's outputs are the program's.\n");
    text
}

/// A field map as indented JSON text.
pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The report entry of `program` scored by `runs`: mean, interval, failures, demos and
/// instructions (the caller adds what else it knows).
pub(crate) fn scored_candidate<P: Module, O>(
    label: impl Into<String>,
    program: &P,
    runs: &[Run<O>],
) -> crate::Candidate {
    let scores: Vec<f64> = runs.iter().map(|r| r.score).collect();
    crate::Candidate {
        label: label.into(),
        score: mean_score(runs),
        ci95: dspy_core::evaluate::ci95(&scores),
        failures: runs.iter().filter(|r| r.error.is_some()).count(),
        demos: demo_counts(program),
        instructions: instructions_of(program),
        ..crate::Candidate::default()
    }
}
