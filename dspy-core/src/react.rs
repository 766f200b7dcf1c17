//! `ReAct`: an agent that thinks, calls tools, reads what they return, and finally
//! answers with the signature's typed outputs.

use crate::chain_of_thought::{ChainOfThought, WithReasoning};
use crate::error::{Error, Result};
use crate::lm::{LM, LmError};
use crate::module::{Module, Program, Visitor, VisitorMut};
use crate::predict::Predict;
use crate::settings::current_lm;
use crate::signature::{Dynamic, FieldRole, FieldSpec, Fields, Signature, SignatureSpec};
use crate::tool::Tool;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::Arc;

/// One turn of an agent: what it thought, which tool it called with what, and what came
/// back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Step {
    /// The model's reasoning before the call.
    pub thought: String,
    /// The tool called (`finish` to stop).
    pub tool_name: String,
    /// Its arguments, as the model wrote them.
    pub tool_args: Value,
    /// What the tool returned, or what went wrong.
    pub observation: String,
}

/// An agent's answer: the typed outputs, the extractor's reasoning, and the trajectory
/// that led there. Derefs to the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithTrajectory<O> {
    /// The steps taken, in order.
    pub trajectory: Vec<Step>,
    /// The final extraction's reasoning.
    pub reasoning: String,
    /// The signature's outputs.
    pub output: O,
}

output_wrapper!(WithTrajectory);

/// The extraction step's signature: `S`'s inputs and the trajectory in, `S`'s outputs out.
pub struct Extract<S>(PhantomData<fn() -> S>);

impl<S: Signature> Signature for Extract<S> {
    type Input = Fields;
    type Output = S::Output;
}

/// The agent loop of DSPy's `ReAct`: at each step a predictor sees the inputs and the
/// trajectory so far and picks `next_thought`, `next_tool_name` (one of the tools or
/// `finish`) and `next_tool_args`; the tool's answer is added to the trajectory. After
/// `finish`, `max_iters` steps, or an answer that names no tool, a `ChainOfThought` reads
/// the trajectory and produces `S`'s outputs, typed.
///
/// Both predictors (`react` and `extract.predict`) are found by the module visitor, so
/// optimizers compile and save an agent like any program. When the prompt outgrows the
/// model's context window, the oldest steps are dropped (up to three times per step).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::{ReAct, Tool};
/// use serde::Deserialize;
///
/// /// Answer questions about capitals.
/// #[derive(Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[output]
///     answer: String,
/// }
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Country {
///     country: String,
/// }
/// let capital = Tool::from_fn("capital", "The capital of a country.", |c: Country| async move {
///     Ok::<_, String>(if c.country == "France" { "Paris" } else { "unknown" })
/// });
/// let lm = ScriptedLm::new([
///     "[[ ## next_thought ## ]]\nLook it up.\n\n[[ ## next_tool_name ## ]]\ncapital\n\n[[ ## next_tool_args ## ]]\n{\"country\": \"France\"}\n\n[[ ## completed ## ]]",
///     "[[ ## next_thought ## ]]\nI know it.\n\n[[ ## next_tool_name ## ]]\nfinish\n\n[[ ## next_tool_args ## ]]\n{}\n\n[[ ## completed ## ]]",
///     "[[ ## reasoning ## ]]\nThe tool said Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]",
/// ]);
/// let agent = ReAct::<Qa>::new(vec![capital]);
/// let out = agent.call_with(&lm, QaInput { question: "Capital of France?".into() }).await?;
/// assert_eq!(out.answer, "Paris");
/// assert_eq!(out.trajectory[0].observation, "Paris");
/// # Ok::<(), dspy::Error>(()) }).unwrap();
/// ```
pub struct ReAct<S: Signature> {
    react: Predict<Dynamic>,
    extract: ChainOfThought<Extract<S>>,
    tools: Arc<Vec<Tool>>,
    max_iters: usize,
    signature: SignatureSpec,
}

impl<S: Signature> Clone for ReAct<S> {
    fn clone(&self) -> Self {
        ReAct {
            react: self.react.clone(),
            extract: self.extract.clone(),
            tools: Arc::clone(&self.tools),
            max_iters: self.max_iters,
            signature: self.signature.clone(),
        }
    }
}

impl<S: Signature> std::fmt::Debug for ReAct<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReAct")
            .field("signature", &self.signature.short())
            .field(
                "tools",
                &self.tools.iter().map(Tool::name).collect::<Vec<_>>(),
            )
            .field("max_iters", &self.max_iters)
            .finish()
    }
}

const FINISH: &str = "finish";
/// How many times a step drops old turns when the prompt does not fit.
const TRUNCATIONS: usize = 3;

impl<S: crate::signature::TypedSignature> ReAct<S> {
    /// An agent for a derived signature with these tools (and `finish`), 20 steps at most.
    pub fn new(tools: Vec<Tool>) -> Self {
        Self::build(S::spec(), tools)
    }
}

impl ReAct<Dynamic> {
    /// An agent for a string signature (`"question -> answer"`).
    pub fn parse(signature: &str, tools: Vec<Tool>) -> Result<Self> {
        Ok(Self::build(SignatureSpec::parse(signature)?, tools))
    }
}

impl<S: Signature> ReAct<S> {
    fn build(signature: SignatureSpec, tools: Vec<Tool>) -> Self {
        let outputs = signature
            .outputs
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect::<Vec<_>>()
            .join(", ");
        let finish = Tool::without_args(
            FINISH,
            format!(
                "Marks the task as complete. That is, signals that all information for producing the outputs, i.e. {outputs}, are now available to be extracted."
            ),
            || async { Ok::<_, String>("Completed.") },
        );
        let mut all_tools = tools.clone();
        all_tools.push(finish);
        let react_spec = react_signature(&signature, &all_tools);
        let mut extract_spec = signature.clone();
        extract_spec.name = format!("{}Extract", signature.name);
        extract_spec
            .inputs
            .push(FieldSpec::string("trajectory", FieldRole::Input));
        ReAct {
            react: Predict::from_spec(react_spec),
            extract: ChainOfThought::from_parts(extract_spec),
            tools: Arc::new(all_tools),
            max_iters: 20,
            signature,
        }
    }

    /// With at most `n` tool calls before the answer is extracted (default 20).
    pub fn with_max_iters(mut self, n: usize) -> Self {
        self.max_iters = n;
        self
    }

    /// With `adapter` for both predictors (e.g. [`JsonAdapter`](crate::JsonAdapter), whose
    /// structured output constrains a small model to valid tool names and JSON
    /// arguments).
    pub fn with_adapter(self, adapter: impl crate::adapter::Adapter + Clone + 'static) -> Self {
        ReAct {
            react: self.react.with_adapter(adapter.clone()),
            extract: self.extract.with_adapter(adapter),
            ..self
        }
    }

    /// The step predictor (path `react`).
    pub fn react(&self) -> &Predict<Dynamic> {
        &self.react
    }

    /// The step predictor, to change.
    pub fn react_mut(&mut self) -> &mut Predict<Dynamic> {
        &mut self.react
    }

    /// The extraction (path `extract.predict`).
    pub fn extract(&self) -> &ChainOfThought<Extract<S>> {
        &self.extract
    }

    /// The extraction, to change.
    pub fn extract_mut(&mut self) -> &mut ChainOfThought<Extract<S>> {
        &mut self.extract
    }

    /// The tools, `finish` last.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Runs the agent on the LM in effect (see [`Predict::call`]).
    pub async fn call(&self, input: S::Input) -> Result<WithTrajectory<S::Output>> {
        let lm = current_lm().ok_or(Error::NoLm)?;
        self.call_with(&*lm, input).await
    }

    /// Runs the agent on `lm` (predictors with an LM of their own keep it).
    pub async fn call_with(
        &self,
        lm: &dyn LM,
        input: S::Input,
    ) -> Result<WithTrajectory<S::Output>> {
        let inputs = match serde_json::to_value(&input) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(Error::InvalidInput {
                    signature: self.signature.name.clone(),
                    message: format!("expected an object, got {other}"),
                });
            }
            Err(e) => {
                return Err(Error::InvalidInput {
                    signature: self.signature.name.clone(),
                    message: e.to_string(),
                });
            }
        };
        let mut trajectory: Vec<Step> = Vec::new();
        for _ in 0..self.max_iters {
            let Some(choice) = self.next_step(lm, &inputs, &mut trajectory).await? else {
                break;
            };
            let (thought, tool_name, tool_args) = choice;
            let observation = match self.tools.iter().find(|t| t.name() == tool_name) {
                Some(tool) => tool.call(&tool_args).await,
                None => format!(
                    "Execution error in {tool_name}: there is no such tool; the tools are {}",
                    self.tools
                        .iter()
                        .map(Tool::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let done = tool_name == FINISH;
            trajectory.push(Step {
                thought,
                tool_name,
                tool_args,
                observation,
            });
            if done {
                break;
            }
        }
        let mut truncations = 0;
        let WithReasoning { reasoning, output } = loop {
            let mut extract_inputs = inputs.clone();
            extract_inputs.insert("trajectory".into(), format_trajectory(&trajectory).into());
            match self.extract.call_with(lm, extract_inputs).await {
                Err(Error::Lm(LmError::ContextWindowExceeded { .. }))
                    if truncations < TRUNCATIONS && !trajectory.is_empty() =>
                {
                    tracing::warn!(
                        "the trajectory does not fit the context window; dropping its oldest step"
                    );
                    trajectory.remove(0);
                    truncations += 1;
                }
                other => break other?,
            }
        };
        Ok(WithTrajectory {
            trajectory,
            reasoning,
            output,
        })
    }

    /// Asks for the next step; `None` when the answer names no usable step (the loop
    /// ends and the answer is extracted from what there is). Drops the oldest steps when
    /// the prompt outgrows the context window.
    async fn next_step(
        &self,
        lm: &dyn LM,
        inputs: &Fields,
        trajectory: &mut Vec<Step>,
    ) -> Result<Option<(String, String, Value)>> {
        for _ in 0..=TRUNCATIONS {
            let mut fields = inputs.clone();
            fields.insert("trajectory".into(), format_trajectory(trajectory).into());
            match self.react.forward_fields(lm, fields).await {
                Ok(out) => {
                    let text = |key: &str| match out.get(key) {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    let args = match out.get("next_tool_args") {
                        Some(Value::Object(map)) => Value::Object(map.clone()),
                        _ => Value::Object(Fields::new()),
                    };
                    return Ok(Some((text("next_thought"), text("next_tool_name"), args)));
                }
                Err(Error::Lm(LmError::ContextWindowExceeded { .. })) if !trajectory.is_empty() => {
                    tracing::warn!(
                        "the trajectory does not fit the context window; dropping its oldest step"
                    );
                    trajectory.remove(0);
                }
                Err(Error::Parse(error)) => {
                    tracing::warn!(error = %error.summary(), "ending the trajectory: the agent named no valid step");
                    return Ok(None);
                }
                Err(other) => return Err(other),
            }
        }
        tracing::warn!("ending the trajectory: it does not fit the context window");
        Ok(None)
    }
}

/// The step predictor's signature: the inputs and the trajectory in; the next thought,
/// tool name (one of the tools) and arguments out; DSPy's agent instructions.
fn react_signature(signature: &SignatureSpec, tools: &[Tool]) -> SignatureSpec {
    let quoted = |fields: &[FieldSpec]| {
        fields
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let inputs = quoted(&signature.inputs);
    let outputs = quoted(&signature.outputs);
    let mut instructions = Vec::new();
    if !signature.instructions.trim().is_empty() {
        instructions.push(format!("{}\n", signature.instructions));
    }
    instructions.extend([
        format!("You are an Agent. In each episode, you will be given the fields {inputs} as input. And you can see your past trajectory so far."),
        format!("Your goal is to use one or more of the supplied tools to collect any necessary information for producing {outputs}.\n"),
        "To do this, you will interleave next_thought, next_tool_name, and next_tool_args in each turn, and also when finishing the task.".to_string(),
        "After each tool call, you receive a resulting observation, which gets appended to your trajectory.\n".to_string(),
        "When writing next_thought, you may reason about the current situation and plan for future steps.".to_string(),
        "When selecting the next_tool_name and its next_tool_args, the tool must be one of:\n".to_string(),
    ]);
    for (i, tool) in tools.iter().enumerate() {
        instructions.push(format!("({}) {}", i + 1, tool.describe()));
    }
    instructions.push(
        "When providing `next_tool_args`, the value inside the field must be in JSON format"
            .to_string(),
    );
    let literal = tools
        .iter()
        .map(|t| crate::value::py_repr(&Value::String(t.name().to_string())))
        .collect::<Vec<_>>()
        .join(", ");
    let mut inputs = signature.inputs.clone();
    inputs.push(FieldSpec::string("trajectory", FieldRole::Input));
    let outputs = SignatureSpec::parse(&format!(
        "x -> next_thought, next_tool_name: Literal[{literal}], next_tool_args: dict[str, Any]"
    ))
    .map(|s| s.outputs)
    .unwrap_or_else(|_| {
        vec![
            FieldSpec::string("next_thought", FieldRole::Output),
            FieldSpec::string("next_tool_name", FieldRole::Output),
            FieldSpec::string("next_tool_args", FieldRole::Output),
        ]
    });
    SignatureSpec {
        name: format!("{}ReAct", signature.name),
        instructions: instructions.join("\n"),
        inputs,
        outputs,
    }
}

/// The trajectory as DSPy renders it into the prompt: `[[ ## thought_0 ## ]]`,
/// `[[ ## tool_name_0 ## ]]`, `[[ ## tool_args_0 ## ]]` (as Python's `json.dumps` writes
/// the arguments), `[[ ## observation_0 ## ]]`…
pub fn format_trajectory(trajectory: &[Step]) -> String {
    let mut sections = Vec::new();
    for (i, step) in trajectory.iter().enumerate() {
        sections.push(format!("[[ ## thought_{i} ## ]]\n{}", step.thought));
        sections.push(format!("[[ ## tool_name_{i} ## ]]\n{}", step.tool_name));
        sections.push(format!(
            "[[ ## tool_args_{i} ## ]]\n{}",
            crate::value::py_json(&step.tool_args, None)
        ));
        sections.push(format!("[[ ## observation_{i} ## ]]\n{}", step.observation));
    }
    sections.join("\n\n")
}

impl<S: Signature> Module for ReAct<S> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        visitor.enter("react");
        self.react.visit_predictors(visitor);
        visitor.exit();
        visitor.enter("extract");
        self.extract.visit_predictors(visitor);
        visitor.exit();
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        visitor.enter("react");
        self.react.visit_predictors_mut(visitor);
        visitor.exit();
        visitor.enter("extract");
        self.extract.visit_predictors_mut(visitor);
        visitor.exit();
    }
}

impl<S: Signature> Program for ReAct<S> {
    type Input = S::Input;
    type Output = WithTrajectory<S::Output>;
    async fn forward(&self, input: S::Input) -> Result<WithTrajectory<S::Output>> {
        self.call(input).await
    }
}
