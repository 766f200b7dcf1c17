//! What GEPA's reflection reads: feedback metrics, the reflective dataset of a minibatch,
//! the `gepa` engine's proposal prompt, and the instruction read back from its answer.

use crate::runs::{Run, pretty};
use dspy_core::{Example, Metric, Trace};
use serde::Serialize;
use serde_json::{Value, json};

/// A score with text that says what was right or wrong: what GEPA's reflection reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreWithFeedback {
    /// The score (higher is better; 1.0 is perfect by default).
    pub score: f64,
    /// What the reflection LM is told about this output.
    pub feedback: String,
}

impl ScoreWithFeedback {
    /// A score and its feedback.
    pub fn new(score: f64, feedback: impl Into<String>) -> Self {
        ScoreWithFeedback {
            score,
            feedback: feedback.into(),
        }
    }
}

/// A metric that explains its score (DSPy's `GEPAFeedbackMetric`). `predictor` is the
/// path of the predictor whose instruction is being improved, when feedback is asked for
/// it, so a metric may say something different to each predictor; `None` when only the
/// score is needed. Closures `Fn(&Example<I, L>, &O, Option<&Trace>, Option<&str>) ->
/// ScoreWithFeedback` are feedback metrics.
pub trait FeedbackMetric<I, L, O>: Send + Sync {
    /// The score and the feedback.
    fn feedback(
        &self,
        example: &Example<I, L>,
        output: &O,
        trace: Option<&Trace>,
        predictor: Option<&str>,
    ) -> ScoreWithFeedback;
}

impl<I, L, O, F> FeedbackMetric<I, L, O> for F
where
    F: Fn(&Example<I, L>, &O, Option<&Trace>, Option<&str>) -> ScoreWithFeedback + Send + Sync,
{
    fn feedback(
        &self,
        example: &Example<I, L>,
        output: &O,
        trace: Option<&Trace>,
        predictor: Option<&str>,
    ) -> ScoreWithFeedback {
        self(example, output, trace, predictor)
    }
}

/// A plain metric as a feedback metric: DSPy's default feedback names the score.
pub(super) struct Plain<'m, M>(pub(super) &'m M);

impl<I, L, O, M: Metric<I, L, O>> FeedbackMetric<I, L, O> for Plain<'_, M> {
    fn feedback(
        &self,
        example: &Example<I, L>,
        output: &O,
        trace: Option<&Trace>,
        _: Option<&str>,
    ) -> ScoreWithFeedback {
        let score = self.0.score(example, output, trace);
        ScoreWithFeedback::new(score, format!("This trajectory got a score of {score}."))
    }
}

/// A feedback metric's score as a metric.
pub(super) struct ScoreOf<'m, F>(pub(super) &'m F);

impl<I, L, O, F: FeedbackMetric<I, L, O>> Metric<I, L, O> for ScoreOf<'_, F> {
    fn score(&self, example: &Example<I, L>, output: &O, trace: Option<&Trace>) -> f64 {
        self.0.feedback(example, output, trace, None).score
    }
}

/// For each example of a minibatch, one record for the reflection: the predictor's inputs,
/// its outputs, and the metric's feedback to that predictor (DSPy's reflective dataset).
pub(super) fn reflective_records<I, L, O, F>(
    batch: &[&Example<I, L>],
    runs: &[Run<O>],
    path: &str,
    metric: &F,
) -> Vec<Value>
where
    I: Serialize,
    F: FeedbackMetric<I, L, O>,
{
    let mut records = Vec::new();
    for (example, run) in batch.iter().zip(runs) {
        let step = run.steps.iter().rfind(|s| s.path == path);
        match (&run.output, step) {
            (Some(output), Some(step)) => {
                let fb = metric.feedback(example, output, Some(&run.trace), Some(path));
                records.push(json!({
                    "Inputs": step.inputs,
                    "Generated Outputs": step.outputs,
                    "Feedback": fb.feedback,
                }));
            }
            (_, _) => {
                let Some(error) = &run.error else { continue };
                let inputs = step
                    .map(|s| Value::Object(s.inputs.clone()))
                    .unwrap_or_else(|| serde_json::to_value(&example.input).unwrap_or_default());
                records.push(json!({
                    "Inputs": inputs,
                    "Generated Outputs": format!("The program failed: {error}"),
                    "Feedback": "The output could not be used: follow the output format the instructions ask for.",
                }));
            }
        }
    }
    records
}

/// The `gepa` engine's instruction-proposal prompt, with the examples as markdown.
pub(super) fn reflection_prompt(current: &str, records: &[Value]) -> String {
    fn render(value: &Value, level: usize, out: &mut String) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    out.push_str(&format!("{} {k}\n", "#".repeat(level)));
                    render(v, (level + 1).min(6), out);
                }
                if map.is_empty() {
                    out.push('\n');
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    out.push_str(&format!("{} Item {}\n", "#".repeat(level), i + 1));
                    render(v, (level + 1).min(6), out);
                }
                if items.is_empty() {
                    out.push('\n');
                }
            }
            Value::String(s) => out.push_str(&format!("{}\n\n", s.trim())),
            other => out.push_str(&format!("{}\n\n", pretty(other).trim())),
        }
    }
    let examples: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let mut text = format!("# Example {}\n", i + 1);
            if let Value::Object(map) = record {
                for (key, value) in map {
                    text.push_str(&format!("## {key}\n"));
                    render(value, 3, &mut text);
                }
            }
            text
        })
        .collect();
    format!(
        "I provided an assistant with the following instructions to perform a task for me:\n```\n{current}\n```\n\nThe following are examples of different task inputs provided to the assistant along with the assistant's response for each of them, and some feedback on how the assistant's response could be better:\n```\n{}\n```\n\nYour task is to write a new instruction for the assistant.\n\nRead the inputs carefully and identify the input format and infer detailed task description about the task I wish to solve with the assistant.\n\nRead all the assistant responses and the corresponding feedback. Identify all niche and domain specific factual information about the task and include it in the instruction, as a lot of it may not be available to the assistant in the future. The assistant may have utilized a generalizable strategy to solve the task, if so, include that in the instruction as well.\n\nProvide the new instructions within ``` blocks.",
        examples.join("\n\n")
    )
}

/// The text between the first and the last ``` of the reflection (a language tag on the
/// opening fence dropped); an unclosed block is read to the end; no fence: all of it.
pub(super) fn extract_instruction(text: &str) -> String {
    let Some(first) = text.find("```") else {
        return text.trim().to_string();
    };
    let after = &text[first + 3..];
    let body = match after.rfind("```") {
        Some(last) => &after[..last],
        None => after,
    };
    // A language tag: a single word on the fence's line.
    let body = match body.split_once('\n') {
        Some((tag, rest)) if !tag.trim().contains(' ') && !rest.trim().is_empty() => rest,
        _ => body,
    };
    body.trim().to_string()
}
