//! DSPy's JSON layout: the LM answers with one JSON object holding every output field.

use super::coerce::{conform, from_text};
use super::lenient::extract_object;
use super::{
    Adapter, Layout, finish_fields, format_messages, inputs_message, placeholder, prefix_messages,
    requirements_line, sections,
};
use crate::error::ParseError;
use crate::lm::{Capabilities, Message, ResponseFormat};
use crate::signature::display_schema;
use crate::signature::{Fields, SignatureSpec, TypeShape};
use crate::value::py_json;
use serde_json::{Value, json};

/// The JSON adapter (DSPy's `JSONAdapter`). It asks for structured output when the LM
/// supports it (`response_format` with the outputs' JSON schema), JSON mode otherwise, and
/// extracts the object leniently from whatever text comes back.
///
/// ```
/// use dspy::prelude::*;
/// use dspy::adapter::Adapter;
/// let sig = SignatureSpec::parse("question -> answer: int, sure: bool").unwrap();
/// let parsed = JsonAdapter::new()
///     .parse(&sig, "Sure! ```json\n{'answer': '2', 'sure': True,}\n```")
///     .unwrap();
/// assert_eq!(parsed["answer"], 2);
/// assert_eq!(parsed["sure"], true);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonAdapter;

impl JsonAdapter {
    /// The adapter.
    pub fn new() -> Self {
        JsonAdapter
    }
}

impl Layout for JsonAdapter {
    fn field_structure(&self, signature: &SignatureSpec) -> String {
        let inputs = sections(
            signature
                .inputs
                .iter()
                .map(|f| (f.name.as_str(), placeholder(f, false))),
        );
        let outputs: Fields = signature
            .outputs
            .iter()
            .map(|f| (f.name.clone(), Value::String(placeholder(f, true))))
            .collect();
        [
            "All interactions will be structured in the following way, with the appropriate values filled in.".to_string(),
            "Inputs will have the following structure:".to_string(),
            inputs,
            "Outputs will be a JSON object with the following fields.".to_string(),
            py_json(&Value::Object(outputs), Some(2)),
        ]
        .join("\n\n")
        .trim()
        .to_string()
    }

    fn output_requirements(&self, signature: &SignatureSpec) -> String {
        requirements_line(
            signature,
            "Respond with a JSON object in the following order of fields: ",
            ("`", "`"),
            ".",
        )
    }

    fn assistant_content(
        &self,
        signature: &SignatureSpec,
        values: &Fields,
        missing: &str,
    ) -> String {
        let object: Fields = signature
            .outputs
            .iter()
            .map(|f| {
                let value = values
                    .get(&f.name)
                    .cloned()
                    .unwrap_or_else(|| Value::from(missing));
                (f.name.clone(), value)
            })
            .collect();
        py_json(&Value::Object(object), Some(2))
    }
}

impl Adapter for JsonAdapter {
    fn name(&self) -> &'static str {
        "JSONAdapter"
    }

    fn format(&self, signature: &SignatureSpec, demos: &[Fields], inputs: &Fields) -> Vec<Message> {
        format_messages(self, signature, demos, inputs)
    }

    fn format_prefix(&self, signature: &SignatureSpec, demos: &[Fields]) -> Option<Vec<Message>> {
        Some(prefix_messages(self, signature, demos))
    }

    fn format_inputs(&self, signature: &SignatureSpec, inputs: &Fields) -> Message {
        inputs_message(self, signature, inputs)
    }

    fn parse(&self, signature: &SignatureSpec, completion: &str) -> Result<Fields, ParseError> {
        if completion.trim().is_empty() {
            return Err(ParseError::whole(
                self.name(),
                "the LM returned an empty response",
                completion,
            ));
        }
        let Some(object) = extract_object(completion) else {
            return Err(ParseError::whole(
                self.name(),
                "the response holds no JSON object",
                completion,
            ));
        };
        finish_fields(
            self.name(),
            signature,
            |field| {
                let value = object.get(&field.name)?;
                let result = match (value, &field.shape) {
                    // A string where a number, list… is expected: parse the text ("0.97").
                    (Value::String(text), shape) if !matches!(shape, TypeShape::Str) => {
                        from_text(text, shape)
                    }
                    _ => conform(value.clone(), &field.shape),
                };
                Some(result.map_err(|reason| (crate::value::py_str(value), reason)))
            },
            completion,
        )
    }

    fn response_format(
        &self,
        signature: &SignatureSpec,
        capabilities: Capabilities,
    ) -> Option<ResponseFormat> {
        let open = |shape: &TypeShape| matches!(shape, TypeShape::Dict(_) | TypeShape::Any);
        if capabilities.json_schema && !signature.outputs.iter().any(|f| open(&f.shape)) {
            Some(ResponseFormat::JsonSchema {
                name: "DSPyProgramOutputs".into(),
                schema: outputs_schema(signature),
            })
        } else if capabilities.json_object || capabilities.json_schema {
            Some(ResponseFormat::JsonObject)
        } else {
            None
        }
    }

    fn output_requirements(&self, signature: &SignatureSpec) -> String {
        Layout::output_requirements(self, signature)
    }
}

/// One closed object schema holding every output field, each required.
pub(crate) fn outputs_schema(signature: &SignatureSpec) -> Value {
    let properties: serde_json::Map<String, Value> = signature
        .outputs
        .iter()
        .map(|f| (f.name.clone(), display_schema(&f.schema)))
        .collect();
    let required: Vec<&str> = signature.outputs.iter().map(|f| f.name.as_str()).collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(text: &str) -> SignatureSpec {
        SignatureSpec::parse(text).expect("valid signature")
    }

    #[test]
    fn extracts_objects_from_chatty_text() {
        let s = sig("q -> answer, n: int, tags: list[str]");
        let out = JsonAdapter
            .parse(&s, "Here you go:\n{\"answer\": \"x\", \"n\": 3.0, \"tags\": [\"a\"], \"extra\": 1}\nThanks")
            .expect("parses");
        assert_eq!(
            out,
            json!({"answer": "x", "n": 3, "tags": ["a"]})
                .as_object()
                .cloned()
                .expect("object")
        );
    }

    #[test]
    fn reports_missing_and_mistyped_fields() {
        let err = JsonAdapter
            .parse(&sig("q -> a, b: bool"), r#"{"b": "maybe"}"#)
            .expect_err("must fail");
        let names: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let err = JsonAdapter
            .parse(&sig("q -> a"), "no json here")
            .expect_err("no object");
        assert!(err.summary().contains("no JSON object"));
    }

    #[test]
    fn response_format_follows_capabilities() {
        let s = sig("q -> a: int");
        assert_eq!(JsonAdapter.response_format(&s, Capabilities::none()), None);
        let Some(ResponseFormat::JsonSchema { schema, .. }) =
            JsonAdapter.response_format(&s, Capabilities::structured())
        else {
            panic!("expected a JSON schema format");
        };
        assert_eq!(schema["properties"]["a"], json!({"type": "integer"}));
        assert_eq!(schema["required"], json!(["a"]));
        // Open maps cannot be strict: JSON mode instead.
        let open = sig("q -> a: dict[str, int]");
        assert_eq!(
            JsonAdapter.response_format(&open, Capabilities::structured()),
            Some(ResponseFormat::JsonObject)
        );
    }
}
