//! The runtime description of a signature and of its fields.

use super::shape::TypeShape;
use crate::error::SignatureError;
use schemars::JsonSchema;
use serde_json::Value;

/// Field values keyed by field name, in insertion order: the common currency between
/// adapters, demos and typed inputs and outputs.
pub type Fields = serde_json::Map<String, Value>;

/// Whether a field is given to the LM or produced by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldRole {
    /// Given to the LM.
    Input,
    /// Produced by the LM.
    Output,
}

/// One field of a signature: its name, description, type and JSON schema.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FieldSpec {
    /// The field's name, as it appears in prompts (`[[ ## name ## ]]`) and in JSON.
    pub name: String,
    /// Input or output.
    pub role: FieldRole,
    /// The description; DSPy's placeholder `${name}` when none was given.
    pub desc: String,
    /// DSPy's prefix (`"Question:"`), kept for saved state; prompts use the name.
    pub prefix: String,
    /// The type as written by the user (`Vec<i64>`, `list[int]`).
    pub type_name: String,
    /// A self-contained JSON schema of the type (definitions under `$defs`).
    pub schema: Value,
    /// The shape read from the schema, which drives prompts and parsing.
    pub shape: TypeShape,
}

impl FieldSpec {
    /// A field whose type is `T`, described by `T`'s JSON schema.
    ///
    /// ```
    /// use dspy_core::{FieldRole, FieldSpec};
    /// let f = FieldSpec::typed::<Vec<i64>>("citations", FieldRole::Output, "Vec<i64>");
    /// assert_eq!(f.type_label(), "list[int]");
    /// assert_eq!(f.prefix, "Citations:");
    /// ```
    pub fn typed<T: JsonSchema>(name: &str, role: FieldRole, type_name: &str) -> Self {
        let schema = schemars::SchemaGenerator::default()
            .into_root_schema_for::<T>()
            .to_value();
        Self::from_schema(name, role, type_name, schema)
    }

    /// A field described by a JSON schema.
    pub fn from_schema(name: &str, role: FieldRole, type_name: &str, schema: Value) -> Self {
        let shape = TypeShape::from_schema(&schema);
        FieldSpec {
            name: name.to_string(),
            role,
            desc: format!("${{{name}}}"),
            prefix: infer_prefix(name),
            type_name: type_name.to_string(),
            schema,
            shape,
        }
    }

    /// A field of type `str`.
    pub fn string(name: &str, role: FieldRole) -> Self {
        Self::typed::<String>(name, role, "String")
    }

    /// The same field with a description.
    pub fn with_desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = desc.into();
        self
    }

    /// The description, or `None` when the field has only DSPy's `${name}` placeholder.
    pub fn description(&self) -> Option<&str> {
        let placeholder = self.desc.len() == self.name.len() + 3
            && self.desc.starts_with("${")
            && self.desc.ends_with('}')
            && self.desc[2..self.desc.len() - 1] == self.name;
        (!placeholder).then_some(self.desc.as_str())
    }

    /// The type as DSPy names it in prompts: `str`, `list[int]`, `Literal['a', 'b']`.
    pub fn type_label(&self) -> String {
        self.shape.label()
    }
}

/// The runtime description of a signature: name, instructions and ordered fields.
///
/// Built by `#[derive(Signature)]` (see [`TypedSignature::spec`](super::TypedSignature::spec))
/// or parsed from a string:
///
/// ```
/// use dspy_core::SignatureSpec;
/// let spec: SignatureSpec = "context: list[str], question -> answer".parse().unwrap();
/// assert_eq!(spec.inputs[0].type_label(), "list[str]");
/// assert_eq!(spec.instructions, "Given the fields `context`, `question`, produce the fields `answer`.");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SignatureSpec {
    /// The signature's name (the struct's, or `StringSignature`).
    pub name: String,
    /// The task description given to the LM; optimizers rewrite it.
    pub instructions: String,
    /// Input fields, in order.
    pub inputs: Vec<FieldSpec>,
    /// Output fields, in order.
    pub outputs: Vec<FieldSpec>,
}

impl SignatureSpec {
    /// A signature from its parts; `None` instructions become DSPy's default
    /// (``Given the fields `a`, produce the fields `b`.``).
    ///
    /// Fails when there is no input or no output field, when a name repeats, or when a
    /// name is not an identifier.
    pub fn new(
        name: impl Into<String>,
        instructions: Option<String>,
        inputs: Vec<FieldSpec>,
        outputs: Vec<FieldSpec>,
    ) -> Result<Self, SignatureError> {
        let spec = Self::from_checked_parts(&name.into(), instructions, inputs, outputs);
        spec.validate()?;
        Ok(spec)
    }

    /// [`SignatureSpec::new`] for parts already checked (by `#[derive(Signature)]`).
    pub(crate) fn from_checked_parts(
        name: &str,
        instructions: Option<String>,
        inputs: Vec<FieldSpec>,
        outputs: Vec<FieldSpec>,
    ) -> Self {
        let mut spec = SignatureSpec {
            name: name.to_string(),
            instructions: String::new(),
            inputs,
            outputs,
        };
        spec.instructions = match instructions {
            Some(text) if !text.trim().is_empty() => text,
            _ => spec.default_instructions(),
        };
        spec
    }

    /// Parses a string signature, e.g. `"question -> answer"`,
    /// `"sentence -> sentiment: bool"` or `"context: list[str], question: str -> answer: str"`.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        super::parse::parse_signature(text)
    }

    /// The same signature with other instructions.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Every field, inputs first.
    pub fn fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.inputs.iter().chain(self.outputs.iter())
    }

    /// The field with this name, input or output.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields().find(|f| f.name == name)
    }

    /// The same signature with `field` as its first output (how `ChainOfThought` adds
    /// `reasoning`). Fails if the name is taken.
    pub fn prepend_output(mut self, field: FieldSpec) -> Result<Self, SignatureError> {
        if self.field(&field.name).is_some() {
            return Err(SignatureError::DuplicateField { name: field.name });
        }
        self.outputs.insert(0, field);
        Ok(self)
    }

    /// The short form `a, b -> c`.
    pub fn short(&self) -> String {
        let names = |fields: &[FieldSpec]| {
            fields
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("{} -> {}", names(&self.inputs), names(&self.outputs))
    }

    fn default_instructions(&self) -> String {
        let names = |fields: &[FieldSpec]| {
            fields
                .iter()
                .map(|f| format!("`{}`", f.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "Given the fields {}, produce the fields {}.",
            names(&self.inputs),
            names(&self.outputs)
        )
    }

    fn validate(&self) -> Result<(), SignatureError> {
        if self.inputs.is_empty() {
            return Err(SignatureError::NoInputs);
        }
        if self.outputs.is_empty() {
            return Err(SignatureError::NoOutputs);
        }
        let mut seen = std::collections::HashSet::new();
        for field in self.fields() {
            if !is_identifier(&field.name) {
                return Err(SignatureError::InvalidName {
                    name: field.name.clone(),
                });
            }
            if !seen.insert(field.name.as_str()) {
                return Err(SignatureError::DuplicateField {
                    name: field.name.clone(),
                });
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for SignatureSpec {
    type Err = SignatureError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// DSPy's `infer_prefix`: `question` → `Question:`, `user_id2` → `User Id 2:`,
/// `someHTTPName` → `Some HTTP Name:`.
pub(crate) fn infer_prefix(name: &str) -> String {
    // Insert word breaks at camelCase and letter/digit boundaries, then split on `_`.
    let chars: Vec<char> = name.chars().collect();
    let mut spaced = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 {
            let prev = chars[i - 1];
            let next = chars.get(i + 1).copied();
            let camel = c.is_uppercase()
                && (prev.is_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_uppercase() && next.is_some_and(|n| n.is_lowercase())));
            let digit = (c.is_ascii_digit() && prev.is_alphabetic())
                || (c.is_alphabetic() && prev.is_ascii_digit());
            if camel || digit {
                spaced.push('_');
            }
        }
        spaced.push(c);
    }
    let words: Vec<String> = spaced
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.chars().all(|c| !c.is_lowercase()) {
                w.to_string()
            } else {
                let mut cs = w.chars();
                match cs.next() {
                    Some(first) => first
                        .to_uppercase()
                        .chain(cs.flat_map(char::to_lowercase))
                        .collect(),
                    None => String::new(),
                }
            }
        })
        .collect();
    format!("{}:", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_dspy() {
        assert_eq!(infer_prefix("question"), "Question:");
        assert_eq!(infer_prefix("next_tool_name"), "Next Tool Name:");
        assert_eq!(infer_prefix("someHTTPName"), "Some HTTP Name:");
        assert_eq!(infer_prefix("reasoning_attempt_1"), "Reasoning Attempt 1:");
        assert_eq!(infer_prefix("hop2query"), "Hop 2 Query:");
    }

    #[test]
    fn placeholder_description_is_none() {
        let f = FieldSpec::string("answer", FieldRole::Output);
        assert_eq!(f.desc, "${answer}");
        assert_eq!(f.description(), None);
        assert_eq!(f.with_desc("short").description(), Some("short"));
    }

    #[test]
    fn new_rejects_bad_shapes() {
        let q = || FieldSpec::string("q", FieldRole::Input);
        let a = || FieldSpec::string("a", FieldRole::Output);
        assert!(matches!(
            SignatureSpec::new("S", None, vec![], vec![a()]),
            Err(SignatureError::NoInputs)
        ));
        assert!(matches!(
            SignatureSpec::new("S", None, vec![q()], vec![]),
            Err(SignatureError::NoOutputs)
        ));
        assert!(matches!(
            SignatureSpec::new("S", None, vec![q()], vec![FieldSpec::string("q", FieldRole::Output)]),
            Err(SignatureError::DuplicateField { name }) if name == "q"
        ));
    }
}
