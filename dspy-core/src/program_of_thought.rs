//! `ProgramOfThought`: the model writes Python, a sandbox runs it, and the model answers
//! from the code's output.

use crate::chain_of_thought::{ChainOfThought, WithReasoning};
use crate::error::{Error, Result};
use crate::lm::LM;
use crate::module::{Module, Program, Visitor, VisitorMut};
use crate::react::Extract;
use crate::sandbox::PythonSandbox;
use crate::settings::current_lm;
use crate::signature::{Dynamic, FieldRole, FieldSpec, Fields, Signature, SignatureSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An answer with the code that computed it and what the code printed. Derefs to the
/// outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithCode<O> {
    /// The code that ran last (successfully).
    pub code: String,
    /// What it printed (or its last value).
    pub code_output: String,
    /// The answering step's reasoning.
    pub reasoning: String,
    /// The signature's outputs.
    pub output: O,
}

output_wrapper!(WithCode);

/// DSPy's `ProgramOfThought(signature, max_iters=3)`: a `ChainOfThought` writes Python
/// code for the inputs (`code_generate`); the code runs in a [`PythonSandbox`]; when it
/// fails, another writes a corrected version from the code and the error
/// (`code_regenerate`), up to `max_iters` tries in all; a third answers from the code and
/// its output (`generate_output`), typed as `S::Output`.
///
/// The code may end with an expression (its value is the output, as in a REPL), print,
/// or call `final_answer(value)` (DSPy's convention; it prints the value).
pub struct ProgramOfThought<S: Signature> {
    code_generate: ChainOfThought<Dynamic>,
    code_regenerate: ChainOfThought<Dynamic>,
    generate_output: ChainOfThought<Extract<S>>,
    sandbox: PythonSandbox,
    max_iters: usize,
    signature: SignatureSpec,
}

impl<S: Signature> Clone for ProgramOfThought<S> {
    fn clone(&self) -> Self {
        ProgramOfThought {
            code_generate: self.code_generate.clone(),
            code_regenerate: self.code_regenerate.clone(),
            generate_output: self.generate_output.clone(),
            sandbox: self.sandbox.clone(),
            max_iters: self.max_iters,
            signature: self.signature.clone(),
        }
    }
}

impl<S: Signature> std::fmt::Debug for ProgramOfThought<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgramOfThought")
            .field("signature", &self.signature.short())
            .field("sandbox", &self.sandbox)
            .field("max_iters", &self.max_iters)
            .finish()
    }
}

impl<S: crate::signature::TypedSignature> ProgramOfThought<S> {
    /// A program of thought for a derived signature (3 tries, the default sandbox).
    pub fn new() -> Self {
        Self::build(S::spec())
    }
}

impl<S: crate::signature::TypedSignature> Default for ProgramOfThought<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgramOfThought<Dynamic> {
    /// A program of thought for a string signature.
    pub fn parse(signature: &str) -> Result<Self> {
        Ok(Self::build(SignatureSpec::parse(signature)?))
    }
}

fn field(name: &str, role: FieldRole, prefix: &str, desc: &str) -> FieldSpec {
    let mut field = FieldSpec::string(name, role).with_desc(desc);
    field.prefix = prefix.to_string();
    field
}

fn quoted(fields: &[FieldSpec]) -> String {
    fields
        .iter()
        .map(|f| format!("`{}`", f.name))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<S: Signature> ProgramOfThought<S> {
    fn build(signature: SignatureSpec) -> Self {
        let code = || {
            field(
                "generated_code",
                FieldRole::Output,
                "Code:",
                "python code that answers the question",
            )
        };
        let final_outputs = quoted(&signature.outputs);

        let mut generate = signature.clone();
        generate.name = format!("{}GenerateCode", signature.name);
        generate.outputs = vec![code()];
        generate.instructions = [
            format!("You will be given {} and you will respond with `generated_code`.", quoted(&generate.inputs)),
            "Generating executable Python code that programmatically computes the correct `generated_code`.".to_string(),
            "After you're done with the computation and think you have the answer, make sure to provide your answer by calling the preloaded function `final_answer()`.".to_string(),
            format!("You should structure your answer in a dict object, like {{\"field_a\": answer_a, ...}}, evaluated to the correct value mapping for {final_outputs}."),
        ]
        .join("\n");

        let mut regenerate = signature.clone();
        regenerate.name = format!("{}RegenerateCode", signature.name);
        regenerate.inputs.push(field(
            "previous_code",
            FieldRole::Input,
            "Previous Code:",
            "previously-generated python code that errored",
        ));
        regenerate.inputs.push(field(
            "error",
            FieldRole::Input,
            "Error:",
            "error message from previously-generated python code",
        ));
        regenerate.outputs = vec![code()];
        regenerate.instructions = [
            format!(
                "You are given {} due to an error in previous code.",
                quoted(&regenerate.inputs)
            ),
            "Your task is to correct the error and provide the new `generated_code`.".to_string(),
        ]
        .join("\n");

        let mut answer = signature.clone();
        answer.name = format!("{}Answer", signature.name);
        answer.inputs.push(field(
            "final_generated_code",
            FieldRole::Input,
            "Code:",
            "python code that answers the question",
        ));
        answer.inputs.push(field(
            "code_output",
            FieldRole::Input,
            "Code Output:",
            "output of previously-generated python code",
        ));
        answer.instructions = format!(
            "Given the final code {}, provide the final {final_outputs}.",
            quoted(&answer.inputs)
        );

        ProgramOfThought {
            code_generate: ChainOfThought::from_parts(generate),
            code_regenerate: ChainOfThought::from_parts(regenerate),
            generate_output: ChainOfThought::from_parts(answer),
            sandbox: PythonSandbox::new(),
            max_iters: 3,
            signature,
        }
    }

    /// With another sandbox (limits, interpreter).
    pub fn with_sandbox(mut self, sandbox: PythonSandbox) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// With at most `n` code attempts (default 3).
    pub fn with_max_iters(mut self, n: usize) -> Self {
        self.max_iters = n.max(1);
        self
    }

    /// Runs it on the LM in effect.
    pub async fn call(&self, input: S::Input) -> Result<WithCode<S::Output>> {
        let lm = current_lm().ok_or(Error::NoLm)?;
        self.call_with(&*lm, input).await
    }

    /// Runs it on `lm`.
    pub async fn call_with(&self, lm: &dyn LM, input: S::Input) -> Result<WithCode<S::Output>> {
        let mut fields = match serde_json::to_value(&input) {
            Ok(Value::Object(map)) => map,
            other => {
                return Err(Error::InvalidInput {
                    signature: self.signature.name.clone(),
                    message: format!("expected an object, got {other:?}"),
                });
            }
        };
        let generated = self.code_generate.call_with(lm, fields.clone()).await?;
        let mut code = code_of(&generated);
        let mut outcome = self.execute(&code).await;
        let mut tries = 1;
        while let Err(error) = &outcome {
            if tries >= self.max_iters {
                return Err(Error::Module {
                    module: "ProgramOfThought".into(),
                    message: format!("the code still failed after {tries} tries: {error}"),
                });
            }
            let mut retry = fields.clone();
            retry.insert("previous_code".into(), code.clone().into());
            retry.insert("error".into(), error.clone().into());
            let regenerated = self.code_regenerate.call_with(lm, retry).await?;
            code = code_of(&regenerated);
            outcome = self.execute(&code).await;
            tries += 1;
        }
        let code_output = outcome.unwrap_or_default();
        fields.insert("final_generated_code".into(), code.clone().into());
        fields.insert("code_output".into(), code_output.clone().into());
        let WithReasoning { reasoning, output } =
            self.generate_output.call_with(lm, fields).await?;
        Ok(WithCode {
            code,
            code_output,
            reasoning,
            output,
        })
    }

    /// Runs code in the sandbox, with `final_answer` defined; the output text or the
    /// error message.
    async fn execute(&self, code: &str) -> std::result::Result<String, String> {
        if code.trim().is_empty() {
            return Err("no code was given".into());
        }
        let program = format!("def final_answer(value):\n    print(repr(value))\n{code}");
        match self.sandbox.run(&program).await {
            Ok(out) => Ok(out.text()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The code in a `generated_code` answer, without Markdown fences.
fn code_of(out: &WithReasoning<Fields>) -> String {
    let text = match out.output.get("generated_code") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    strip_fences(&text)
}

fn strip_fences(text: &str) -> String {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed.to_string();
    };
    // Drop the language tag line, then everything from the closing fence on.
    let body = rest.split_once('\n').map_or("", |(_, body)| body);
    let body = body.rsplit_once("```").map_or(body, |(code, _)| code);
    body.trim_end().to_string()
}

impl<S: Signature> Module for ProgramOfThought<S> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        visitor.enter("code_generate");
        self.code_generate.visit_predictors(visitor);
        visitor.exit();
        visitor.enter("code_regenerate");
        self.code_regenerate.visit_predictors(visitor);
        visitor.exit();
        visitor.enter("generate_output");
        self.generate_output.visit_predictors(visitor);
        visitor.exit();
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        visitor.enter("code_generate");
        self.code_generate.visit_predictors_mut(visitor);
        visitor.exit();
        visitor.enter("code_regenerate");
        self.code_regenerate.visit_predictors_mut(visitor);
        visitor.exit();
        visitor.enter("generate_output");
        self.generate_output.visit_predictors_mut(visitor);
        visitor.exit();
    }
}

impl<S: Signature> Program for ProgramOfThought<S> {
    type Input = S::Input;
    type Output = WithCode<S::Output>;
    async fn forward(&self, input: S::Input) -> Result<WithCode<S::Output>> {
        self.call(input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_are_stripped() {
        assert_eq!(strip_fences("```python\nprint(1)\n```\n"), "print(1)");
        assert_eq!(strip_fences("```\nx = 1\nx\n```"), "x = 1\nx");
        assert_eq!(strip_fences("  print(2)  "), "print(2)");
        assert_eq!(strip_fences("```python"), "");
    }
}
