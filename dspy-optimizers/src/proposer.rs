//! MIPROv2's grounded instruction proposer: an LM writes candidate instructions for each
//! predictor after seeing a summary of the training data, an outline of the program, a
//! description of the predictor's role, demos of the predictor at work, and a prompting
//! tip drawn at random (DSPy's `GroundedProposer`, with its signatures).

use crate::runs::outline;
use dspy_core::lm::Configured;
use dspy_core::rng::Rng;
use dspy_core::signature::{FieldRole, FieldSpec, Fields, SignatureSpec};
use dspy_core::{Dynamic, Error, LM, LmConfig, Module, Predict, Result};
use serde_json::Value;
use std::sync::Arc;

/// DSPy's prompting tips, one drawn per proposal (the empty one means no tip).
pub(crate) const TIPS: [&str; 6] = [
    "",
    "Don't be afraid to be creative when creating the new instruction!",
    "Keep the instruction clear and concise.",
    "Make sure your instruction is very informative and descriptive.",
    "The instruction should include a high stakes scenario in which the LM must solve the task!",
    "Include a persona that is relevant to the task in the instruction (ie. \"You are a ...\")",
];

/// Demos shown to the proposer per proposal (DSPy's `BOOTSTRAPPED_FEWSHOT_EXAMPLES_IN_CONTEXT`).
const DEMOS_IN_CONTEXT: usize = 3;

/// A signature of string fields: `(name, description)` for each input and output.
fn text_signature(
    name: &str,
    instructions: &str,
    inputs: &[(&str, &str)],
    outputs: &[(&str, &str)],
) -> Result<Predict<Dynamic>> {
    let field = |role: FieldRole| {
        move |(name, desc): &(&str, &str)| FieldSpec::string(name, role).with_desc(*desc)
    };
    let spec = SignatureSpec::new(
        name,
        Some(instructions.to_string()),
        inputs.iter().map(field(FieldRole::Input)).collect(),
        outputs.iter().map(field(FieldRole::Output)).collect(),
    )?;
    Ok(Predict::from_spec(spec))
}

/// What the proposer is told to use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grounding {
    pub(crate) data_aware: bool,
    pub(crate) program_aware: bool,
    pub(crate) tip_aware: bool,
    pub(crate) fewshot_aware: bool,
    pub(crate) view_data_batch_size: usize,
}

/// The proposer of one compile: the LM, its sampling, and what it has learned of the data.
pub(crate) struct Proposer {
    lm: Arc<dyn LM>,
    temperature: f32,
    max_tokens: Option<u32>,
    grounding: Grounding,
    rng: Rng,
    /// The dataset summary, once made.
    pub(crate) data_summary: Option<String>,
    /// Errors met along the way (the proposer carries on without the failed part).
    pub(crate) errors: Vec<String>,
}

impl Proposer {
    pub(crate) fn new(
        lm: Arc<dyn LM>,
        temperature: f32,
        max_tokens: Option<u32>,
        grounding: Grounding,
        seed: u64,
    ) -> Self {
        Proposer {
            lm,
            temperature,
            max_tokens,
            grounding,
            rng: Rng::new(seed),
            data_summary: None,
            errors: Vec::new(),
        }
    }

    /// The LM under a fresh rollout at the proposal temperature, so that no two proposals
    /// come from one cache entry.
    fn hot(&mut self) -> Configured {
        let mut config = LmConfig::default()
            .with_temperature(self.temperature)
            .with_rollout_id(self.rng.next_u64() % 1_000_000_000);
        if let Some(n) = self.max_tokens {
            config = config.with_max_tokens(n);
        }
        Configured::new(Arc::clone(&self.lm), config)
    }

    /// One call of `predict` with `inputs`; the text of `output`, its prefix stripped.
    async fn ask(
        &mut self,
        predict: &Predict<Dynamic>,
        inputs: Fields,
        output: &str,
    ) -> Result<String> {
        let lm = self.hot();
        let out = predict.forward_fields(&lm, inputs).await?;
        let text = out.get(output).and_then(Value::as_str).unwrap_or_default();
        Ok(strip_prefix(text))
    }

    /// DSPy's dataset summary: observations on the first batch of records, more from each
    /// later batch until the LM says `COMPLETE` five times, then a short summary.
    pub(crate) async fn summarize_data(&mut self, records: &[Fields]) -> Result<String> {
        let batch = self.grounding.view_data_batch_size.max(1);
        let describe = text_signature(
            "DatasetDescriptor",
            "Given several examples from a dataset please write observations about trends that hold for most or all of the samples. Some areas you may consider in your observations: topics, content, syntax, conciseness, etc. It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
            &[("examples", "Sample data points from the dataset")],
            &[(
                "observations",
                "Somethings that holds true for most or all of the data you observed",
            )],
        )?;
        let describe_more = text_signature(
            "DatasetDescriptorWithPriorObservations",
            "Given several examples from a dataset please write observations about trends that hold for most or all of the samples. I will also provide you with a few observations I have already made.  Please add your own observations or if you feel the observations are comprehensive say 'COMPLETE' Some areas you may consider in your observations: topics, content, syntax, conciceness, etc. It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
            &[
                ("examples", "Sample data points from the dataset"),
                (
                    "prior_observations",
                    "Some prior observations I made about the data",
                ),
            ],
            &[(
                "observations",
                "Somethings that holds true for most or all of the data you observed or COMPLETE if you have nothing to add",
            )],
        )?;
        let summarize = text_signature(
            "ObservationSummarizer",
            "Given a series of observations I have made about my dataset, please summarize them into a brief 2-3 sentence summary which highlights only the most important details.",
            &[("observations", "Observations I have made about my dataset")],
            &[(
                "summary",
                "Two to Three sentence summary of only the most significant highlights of my observations",
            )],
        )?;
        let chunk = |from: usize| -> Value {
            let end = (from + batch).min(records.len());
            Value::from(
                records[from..end]
                    .iter()
                    .map(|r| Value::Object(r.clone()).to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        };
        let mut inputs = Fields::new();
        inputs.insert("examples".into(), chunk(0));
        let mut observations = self.ask(&describe, inputs, "observations").await?;
        let mut skips = 0;
        for from in (batch..records.len()).step_by(batch) {
            let mut inputs = Fields::new();
            inputs.insert("examples".into(), chunk(from));
            inputs.insert("prior_observations".into(), observations.clone().into());
            let more = self.ask(&describe_more, inputs, "observations").await?;
            if more.contains("COMPLETE") {
                skips += 1;
                if skips >= 5 {
                    break;
                }
                continue;
            }
            observations.push_str(&more);
        }
        let mut inputs = Fields::new();
        inputs.insert("observations".into(), observations.into());
        let summary = self.ask(&summarize, inputs, "summary").await?;
        self.data_summary = Some(summary.clone());
        Ok(summary)
    }

    /// Proposals for one predictor (at `index` in `program`): one per demo set after the
    /// first, `n` in all at most. `demo_sets` are the predictor's candidate demo sets.
    pub(crate) async fn propose_for<P: Module>(
        &mut self,
        program: &P,
        index: usize,
        demo_sets: &[Vec<Fields>],
        n: usize,
    ) -> Vec<String> {
        let mut proposals = Vec::new();
        let sets = if demo_sets.is_empty() {
            n
        } else {
            demo_sets.len()
        };
        // DSPy proposes for demo sets 0..n and then puts the original instruction in place
        // of proposal 0; that call is not made here.
        for set in 1..n.min(sets) {
            let tip = if self.grounding.tip_aware {
                TIPS[self.rng.below(TIPS.len())]
            } else {
                ""
            };
            match self.propose_one(program, index, demo_sets, set, tip).await {
                Ok(text) if !text.is_empty() => proposals.push(text),
                Ok(_) => self.errors.push("an instruction proposal was empty".into()),
                Err(e @ Error::BudgetExhausted { .. }) => {
                    self.errors.push(e.to_string());
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an instruction proposal failed");
                    self.errors.push(e.to_string());
                }
            }
        }
        proposals
    }

    async fn propose_one<P: Module>(
        &mut self,
        program: &P,
        index: usize,
        demo_sets: &[Vec<Fields>],
        set: usize,
        tip: &str,
    ) -> Result<String> {
        let predictors = program.named_predictors();
        let Some((_, predictor)) = predictors.get(index) else {
            return Err(Error::Optimizer {
                optimizer: "MIPROv2".into(),
                message: format!("no predictor at index {index}"),
            });
        };
        let signature = predictor.signature().clone();
        let task_demos = if self.grounding.fewshot_aware {
            task_demos(&signature, demo_sets, set)
        } else {
            None
        };
        let task_demos = task_demos.unwrap_or_else(|| "No task demos provided.".to_string());
        let code = outline(program);
        let mut program_description = "Not available".to_string();
        let mut module = "Not provided".to_string();
        let mut module_description = "Not provided".to_string();
        if self.grounding.program_aware {
            match self.describe(&code, &task_demos, &signature).await {
                Ok((program_desc, module_code, module_desc)) => {
                    program_description = program_desc;
                    module = module_code;
                    module_description = module_desc;
                }
                Err(e @ Error::BudgetExhausted { .. }) => return Err(e),
                Err(e) => {
                    // As DSPy: a program description that fails is dropped for the rest.
                    tracing::warn!(error = %e, "describing the program failed");
                    self.errors.push(e.to_string());
                    self.grounding.program_aware = false;
                }
            }
        }
        let mut inputs: Vec<(&str, &str)> = Vec::new();
        let mut values = Fields::new();
        if let Some(summary) = &self.data_summary {
            inputs.push((
                "dataset_description",
                "A description of the dataset that we are using.",
            ));
            values.insert("dataset_description".into(), summary.clone().into());
        }
        if self.grounding.program_aware {
            inputs.extend([
                ("program_code", "Language model program designed to solve a particular task."),
                ("program_description", "Summary of the task the program is designed to solve, and how it goes about solving it."),
                ("module", "The module to create an instruction for."),
                ("module_description", "Description of the module to create an instruction for."),
            ]);
            values.insert("program_code".into(), code.into());
            values.insert("program_description".into(), program_description.into());
            values.insert("module".into(), module.into());
            values.insert("module_description".into(), module_description.into());
        }
        inputs.push(("task_demos", "Example inputs/outputs of our module."));
        values.insert("task_demos".into(), task_demos.into());
        inputs.push(("basic_instruction", "Basic instruction."));
        values.insert(
            "basic_instruction".into(),
            signature.instructions.clone().into(),
        );
        if !tip.is_empty() {
            inputs.push((
                "tip",
                "A suggestion for how to go about generating the new instruction.",
            ));
            values.insert("tip".into(), tip.into());
        }
        let generate = text_signature(
            "GenerateSingleModuleInstruction",
            "Use the information below to learn about a task that we are trying to solve using calls to an LM, then generate a new instruction that will be used to prompt a Language Model to better solve the task.",
            &inputs,
            &[(
                "proposed_instruction",
                "Propose an instruction that will be used to prompt a Language Model to perform this task.",
            )],
        )?;
        self.ask(&generate, values, "proposed_instruction").await
    }

    /// DSPy's `DescribeProgram` and `DescribeModule`: what the program does, the module's
    /// one-line code, and what the module does in it.
    async fn describe(
        &mut self,
        code: &str,
        example: &str,
        signature: &SignatureSpec,
    ) -> Result<(String, String, String)> {
        let describe_program = text_signature(
            "DescribeProgram",
            "Below is some pseudo-code for a pipeline that solves tasks with calls to language models. Please describe what type of task this program appears to be designed to solve, and how it appears to work.",
            &[
                (
                    "program_code",
                    "Pseudocode for a language model program designed to solve a particular task.",
                ),
                ("program_example", "An example of the program in use."),
            ],
            &[(
                "program_description",
                "Describe what task the program is designed to solve, and how it goes about solving this task.",
            )],
        )?;
        let describe_module = text_signature(
            "DescribeModule",
            "Below is some pseudo-code for a pipeline that solves tasks with calls to language models. Please describe the purpose of one of the specified module in this pipeline.",
            &[
                (
                    "program_code",
                    "Pseudocode for a language model program designed to solve a particular task.",
                ),
                ("program_example", "An example of the program in use."),
                (
                    "program_description",
                    "Summary of the task the program is designed to solve, and how it goes about solving it.",
                ),
                (
                    "module",
                    "The module in the program that we want to describe.",
                ),
            ],
            &[(
                "module_description",
                "Description of the module's role in the broader program.",
            )],
        )?;
        let mut inputs = Fields::new();
        inputs.insert("program_code".into(), code.into());
        inputs.insert("program_example".into(), example.into());
        let program_description = self
            .ask(&describe_program, inputs.clone(), "program_description")
            .await?;
        let names = |fields: &[FieldSpec]| {
            fields
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let module = format!(
            "Predict({}) -> {}",
            names(&signature.inputs),
            names(&signature.outputs)
        );
        inputs.insert(
            "program_description".into(),
            program_description.clone().into(),
        );
        inputs.insert("module".into(), module.clone().into());
        let module_description = self
            .ask(&describe_module, inputs, "module_description")
            .await?;
        Ok((program_description, module, module_description))
    }
}

/// Up to three bootstrapped demos from demo set `set` and the sets after it (wrapping), as
/// DSPy's `create_example_string` writes them (`Prefix: value` per field); `None` when
/// there are none.
fn task_demos(signature: &SignatureSpec, demo_sets: &[Vec<Fields>], set: usize) -> Option<String> {
    let n = demo_sets.len();
    if n == 0 {
        return None;
    }
    let mut shown = Vec::new();
    'sets: for k in 0..n {
        for demo in &demo_sets[(set + k) % n] {
            if demo.get("augmented").and_then(Value::as_bool) != Some(true) {
                continue;
            }
            let lines: Vec<String> = signature
                .fields()
                .map(|f| {
                    let value = match demo.get(&f.name) {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => "None".into(),
                    };
                    format!("{} {value}", f.prefix)
                })
                .collect();
            shown.push(lines.join("\n"));
            if shown.len() >= DEMOS_IN_CONTEXT {
                break 'sets;
            }
        }
    }
    if shown.is_empty() {
        None
    } else {
        Some(shown.join("\n\n") + "\n\n")
    }
}

/// DSPy's `strip_prefix`: drops a leading label of up to five words and a colon
/// (`Proposed Instruction: …`), and surrounding quotes.
pub(crate) fn strip_prefix(text: &str) -> String {
    let trimmed = text.trim_start_matches(['*', ' ', '\n', '\t']);
    let stripped = match trimmed.split_once(':') {
        Some((label, rest))
            if !label.is_empty()
                && label.split_whitespace().count() <= 5
                && label.chars().all(|c| {
                    c.is_alphanumeric() || c == '_' || c == '\'' || c == '-' || c == ' '
                }) =>
        {
            rest.trim_start()
        }
        _ => trimmed,
    };
    stripped.trim().trim_matches('"').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_as_dspy_does() {
        assert_eq!(strip_prefix("Proposed Instruction: Add one."), "Add one.");
        assert_eq!(
            strip_prefix("**New instruction: \"Be brief.\""),
            "Be brief."
        );
        assert_eq!(strip_prefix("Add one: always."), "always.");
        assert_eq!(
            strip_prefix("Read the review, then say: positive or negative."),
            "Read the review, then say: positive or negative."
        );
    }

    #[test]
    fn task_demos_take_augmented_demos_from_the_set_and_the_next_ones() {
        let spec = SignatureSpec::parse("question -> answer").expect("spec");
        let demo = |q: &str, augmented: bool| {
            let mut d = Fields::new();
            if augmented {
                d.insert("augmented".into(), true.into());
            }
            d.insert("question".into(), q.into());
            d.insert("answer".into(), "x".into());
            d
        };
        let sets = vec![
            vec![demo("a", true)],
            vec![demo("b", false), demo("c", true)],
            vec![demo("d", true), demo("e", true)],
        ];
        let text = task_demos(&spec, &sets, 1).expect("demos");
        assert_eq!(
            text,
            "Question: c\nAnswer: x\n\nQuestion: d\nAnswer: x\n\nQuestion: e\nAnswer: x\n\n"
        );
        assert!(task_demos(&spec, &[vec![demo("z", false)]], 0).is_none());
    }
}
