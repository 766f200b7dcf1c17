//! SIMBA's `append_a_rule` input: DSPy's `OfferFeedback` signature and the better and
//! worse trajectories of a bucket, as the feedback LM reads them.

use super::sampling::Bucket;
use crate::runs::{Run, outline};
use dspy_core::signature::{FieldRole, FieldSpec, Fields, SignatureSpec};
use dspy_core::value::py_json;
use dspy_core::{Example, Module, SignatureError};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The inputs of DSPy's `OfferFeedback` for a bucket: its best and worst runs, or `None`
/// (the rule is declined) when the best run is at or below the batch's 10th percentile or
/// the worst at or above its 90th.
pub(super) fn rule_inputs<P, I, L, O>(
    candidate: &P,
    example: &Example<I, L>,
    runs: &[Run<O>],
    bucket: &Bucket,
    p10: f64,
    p90: f64,
) -> Option<Fields>
where
    P: Module,
    I: Serialize,
    L: Serialize,
{
    let good = &runs[*bucket.runs.first()?];
    let bad = &runs[*bucket.runs.last()?];
    if good.score <= p10 || bad.score >= p90 {
        tracing::debug!(
            good = good.score,
            bad = bad.score,
            "no rule: the runs are not far enough apart"
        );
        return None;
    }
    let mut better = Trajectory::of(good);
    let mut worse = Trajectory::of(bad);
    if good.score <= bad.score {
        if good.score > p90 {
            worse = Trajectory::blank();
        } else {
            better = Trajectory::blank();
        }
    }
    let module_names: Vec<String> = candidate
        .named_predictors()
        .into_iter()
        .map(|(path, _)| module_name(&path))
        .collect();
    let mut fields = Fields::new();
    let mut put = |name: &str, value: Value| {
        fields.insert(name.into(), value);
    };
    put("program_code", outline(candidate).into());
    put("modules_defn", inspect_modules(candidate).into());
    put("program_inputs", json_text(&example.input).into());
    put("oracle_metadata", json_text(&example.label).into());
    put("worse_program_trajectory", worse.trajectory.into());
    put("worse_program_outputs", worse.outputs.into());
    put("worse_reward_value", worse.score);
    put("worse_reward_info", "{}".into());
    put("better_program_trajectory", better.trajectory.into());
    put("better_program_outputs", better.outputs.into());
    put("better_reward_value", better.score);
    put("better_reward_info", "{}".into());
    put("module_names", Value::from(module_names));
    Some(fields)
}

/// A run as the feedback LM sees it.
pub(super) struct Trajectory {
    pub(super) trajectory: String,
    pub(super) outputs: String,
    pub(super) score: Value,
}

impl Trajectory {
    pub(super) fn of<O>(run: &Run<O>) -> Self {
        let steps: Vec<Value> = run
            .steps
            .iter()
            .map(|s| {
                json!({
                    "module_name": module_name(&s.path),
                    "inputs": Value::Object(s.inputs.clone()),
                    "outputs": Value::Object(s.outputs.clone()),
                })
            })
            .collect();
        Trajectory {
            trajectory: json_text(&steps),
            outputs: json_text(&Value::Object(run.output_fields())),
            score: Value::from(run.score),
        }
    }

    /// What DSPy shows for a run it hides (when the better run is no better).
    pub(super) fn blank() -> Self {
        Trajectory {
            trajectory: "[]".into(),
            outputs: json_text(&json!({"N/A": "Prediction not available"})),
            score: "N/A".into(),
        }
    }
}

/// A predictor's name for the feedback LM: its path, or `self` for a bare predictor.
pub(super) fn module_name(path: &str) -> String {
    if path.is_empty() {
        "self".into()
    } else {
        path.to_string()
    }
}

/// A value as JSON indented by two spaces (DSPy's `orjson.dumps(..., OPT_INDENT_2)`).
pub(super) fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_value(value)
        .map(|v| py_json(&v, Some(2)))
        .unwrap_or_default()
}

/// DSPy's `inspect_modules`: each predictor's fields and instructions, between rules.
pub(super) fn inspect_modules<P: Module>(program: &P) -> String {
    let separator = "-".repeat(80);
    let mut out = vec![separator.clone()];
    let fields = |fields: &[FieldSpec]| -> String {
        fields
            .iter()
            .map(|f| {
                let mut line = format!("\t\t{} ({})", f.name, f.type_label());
                if let Some(desc) = f.description() {
                    line.push_str(&format!(": {desc}"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (path, predictor) in program.named_predictors() {
        let signature = predictor.signature();
        out.push(format!("Module {}", module_name(&path)));
        out.push("\tInput Fields:".into());
        out.push(fields(&signature.inputs));
        out.push("\tOutput Fields:".into());
        out.push(fields(&signature.outputs));
        out.push(format!(
            "\tOriginal Instructions:\n\t\t{}",
            signature
                .instructions
                .lines()
                .collect::<Vec<_>>()
                .join("\n\t\t")
        ));
        out.push(separator.clone());
    }
    out.join("\n")
}

/// DSPy's `OfferFeedback` signature, as SIMBA uses it.
pub(super) fn offer_feedback() -> std::result::Result<SignatureSpec, SignatureError> {
    let text = |name: &str, desc: &str| FieldSpec::string(name, FieldRole::Input).with_desc(desc);
    let reward = |name: &str| {
        FieldSpec::typed::<f64>(name, FieldRole::Input, "float")
            .with_desc("The reward value assigned to the program's outputs")
    };
    let trajectory = "The trajectory of the program's execution, showing each module's I/O";
    let outputs = "The outputs of the program that we are analyzing";
    let info =
        "Additional information that might be helpful to understanding the assigned reward value.";
    SignatureSpec::new(
        "OfferFeedback",
        Some(OFFER_FEEDBACK.into()),
        vec![
            text("program_code", "The code of the program that we are analyzing"),
            text("modules_defn", "The definition of each module in the program, including its I/O"),
            text("program_inputs", "The inputs to the program that we are analyzing"),
            text("oracle_metadata", "Any (hidden) metadata about the training set instance we're analyzing"),
            text("worse_program_trajectory", trajectory),
            text("worse_program_outputs", outputs),
            reward("worse_reward_value"),
            text("worse_reward_info", info),
            text("better_program_trajectory", trajectory),
            text("better_program_outputs", outputs),
            reward("better_reward_value"),
            text("better_reward_info", info),
            FieldSpec::typed::<Vec<String>>("module_names", FieldRole::Input, "list[str]")
                .with_desc("The names of the modules in the program, for which we seek advice"),
        ],
        vec![
            FieldSpec::string("discussion", FieldRole::Output)
                .with_desc("Discussing blame of where each module went wrong, if it did"),
            FieldSpec::typed::<BTreeMap<String, String>>("module_advice", FieldRole::Output, "dict[str, str]")
                .with_desc("For each module, describe very concretely: If the module receives ${description of input or patterns therein}, then it should ${description of content, behavior, or strategies to adopt and/or others to avoid}. Basically, your advice be such that if the module has access to your tip, it would be much more likely to act like the successful trajectory rather than the lower-scoring trajectory."),
        ],
    )
}

/// The instructions of DSPy's `OfferFeedback` (SIMBA's).
pub(super) const OFFER_FEEDBACK: &str = "You will be given two trajectories of an LLM-driven program's execution. Your goal is to help the program's modules
build up experience on how to maximize the reward value assigned to the program's outputs if it were to receive
similar inputs in the future.

The module won't see its own history. It will rely on your advice balancing being concrete and being generalizable.

In your advice:
- Avoid boilerplate. Offer advice that would change the module's behavior for the better in the future.
- Ensure that advice offered to a module M is specific to that M's specific sub-task, not the overall program.
- Rely on contrasting the behavior of the worse trajectory against the better trajectory in making recommendations.
- Ensure each unique module name appears exactly once as a key in the advice dictionary.";
