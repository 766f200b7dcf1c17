//! DSPy's default layout: every field in its own `[[ ## name ## ]]` section.

use super::coerce::from_text;
use super::{
    Adapter, Layout, finish_fields, format_messages, inputs_message, placeholder, prefix_messages,
    requirements_line, sections,
};
use crate::error::ParseError;
use crate::lm::Message;
use crate::signature::{Fields, SignatureSpec};

/// The `[[ ## field ## ]]` adapter, DSPy's default.
///
/// ```
/// use dspy::prelude::*;
/// use dspy::adapter::Adapter;
/// let sig = SignatureSpec::parse("question -> answer: int").unwrap();
/// let parsed = ChatAdapter::new()
///     .parse(&sig, "[[ ## answer ## ]]\n2\n\n[[ ## completed ## ]]")
///     .unwrap();
/// assert_eq!(parsed["answer"], 2);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatAdapter;

impl ChatAdapter {
    /// The adapter.
    pub fn new() -> Self {
        ChatAdapter
    }
}

impl Layout for ChatAdapter {
    fn field_structure(&self, signature: &SignatureSpec) -> String {
        let inputs = sections(
            signature
                .inputs
                .iter()
                .map(|f| (f.name.as_str(), placeholder(f, false))),
        );
        let outputs = sections(
            signature
                .outputs
                .iter()
                .map(|f| (f.name.as_str(), placeholder(f, true))),
        );
        [
            "All interactions will be structured in the following way, with the appropriate values filled in.".to_string(),
            inputs,
            outputs,
            "[[ ## completed ## ]]\n".to_string(),
        ]
        .join("\n\n")
        .trim()
        .to_string()
    }

    fn output_requirements(&self, signature: &SignatureSpec) -> String {
        requirements_line(
            signature,
            "Respond with the corresponding output fields, starting with the field ",
            ("`[[ ## ", " ## ]]`"),
            ", and then ending with the marker for `[[ ## completed ## ]]`.",
        )
    }

    fn assistant_content(
        &self,
        signature: &SignatureSpec,
        values: &Fields,
        missing: &str,
    ) -> String {
        let body = sections(signature.outputs.iter().map(|f| {
            let value = match values.get(&f.name) {
                Some(v) => super::format_field_value(f, v),
                None => missing.to_string(),
            };
            (f.name.as_str(), value)
        }));
        format!("{body}\n\n[[ ## completed ## ]]\n")
    }
}

impl Adapter for ChatAdapter {
    fn name(&self) -> &'static str {
        "ChatAdapter"
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
        let mut found = split_sections(completion, true);
        if signature
            .outputs
            .iter()
            .any(|f| !found.iter().any(|(n, _)| *n == f.name))
        {
            // Some fields have no marker at a line start: accept markers glued to text too.
            found = split_sections(completion, false);
        }
        finish_fields(
            self.name(),
            signature,
            |field| {
                found
                    .iter()
                    .find(|(name, _)| *name == field.name)
                    .map(|(_, text)| {
                        from_text(text, &field.shape).map_err(|reason| (text.to_string(), reason))
                    })
            },
            completion,
        )
    }

    fn output_requirements(&self, signature: &SignatureSpec) -> String {
        Layout::output_requirements(self, signature)
    }

    fn end_marker(&self) -> Option<&'static str> {
        Some("[[ ## completed ## ]]")
    }

    fn fallback(&self) -> Option<std::sync::Arc<dyn Adapter>> {
        Some(std::sync::Arc::new(super::JsonAdapter))
    }
}

/// A `[[ ## name ## ]]` marker at `pos`: returns the name and where the marker ends.
fn marker_at(text: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = text[pos..].strip_prefix("[[")?;
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix("##")?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let name_len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let name = &rest[..name_len];
    let rest = rest[name_len..]
        .trim_start_matches([' ', '\t'])
        .strip_prefix("##")?;
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix("]]")?;
    Some((name, text.len() - rest.len()))
}

/// Splits a completion into `(field, text)` sections, first occurrence first. With
/// `line_start`, a marker counts only at the start of a line (DSPy's rule); without, it
/// counts anywhere. Text before the first marker is dropped.
fn split_sections(completion: &str, line_start: bool) -> Vec<(&str, &str)> {
    let mut markers: Vec<(usize, &str, usize)> = Vec::new();
    // From one `[` to the next; a line start is a `[` with only whitespace before it on
    // its line. Markers do not overlap, so the search goes on after each one found.
    let mut from = 0;
    while let Some(offset) = completion[from..].find('[') {
        let i = from + offset;
        let line = completion[..i].rfind('\n').map_or(0, |n| n + 1);
        let at_line_start = completion[line..i].chars().all(char::is_whitespace);
        match marker_at(completion, i) {
            Some((name, end)) if at_line_start || !line_start => {
                markers.push((i, name, end));
                from = end;
            }
            _ => from = i + 1,
        }
    }
    let mut out: Vec<(&str, &str)> = Vec::new();
    for (k, &(_, name, end)) in markers.iter().enumerate() {
        let stop = markers.get(k + 1).map_or(completion.len(), |m| m.0);
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, completion[end..stop].trim()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(text: &str) -> SignatureSpec {
        SignatureSpec::parse(text).expect("valid signature")
    }

    #[test]
    fn parses_sections_and_keeps_first_occurrence() {
        let s = sig("q -> a, b: int");
        let out = ChatAdapter
            .parse(&s, "preamble\n[[ ## a ## ]]\nline one\nline two\n\n[[ ## b ## ]] 7\n[[ ## a ## ]]\nlater\n[[ ## completed ## ]]")
            .expect("parses");
        assert_eq!(out["a"], "line one\nline two");
        assert_eq!(out["b"], 7);
    }

    #[test]
    fn glued_markers_are_found_when_line_markers_are_missing() {
        let s = sig("q -> reasoning, answer");
        let out = ChatAdapter
            .parse(&s, "[[ ## reasoning ## ]]\nthink.[[ ## answer ## ]]\n42")
            .expect("parses");
        assert_eq!(out["reasoning"], "think.");
        assert_eq!(out["answer"], "42");
    }

    #[test]
    fn every_bad_field_is_reported_with_the_good_ones_kept() {
        let s = sig("q -> label: Literal['x', 'y'], score: float, note");
        let err = ChatAdapter
            .parse(&s, "[[ ## label ## ]]\nz\n\n[[ ## score ## ]]\nhigh")
            .expect_err("must fail");
        assert_eq!(err.fields.len(), 3);
        assert_eq!(err.fields[0].field, "label");
        assert_eq!(err.fields[0].raw.as_deref(), Some("z"));
        assert_eq!(err.fields[1].expected, "float");
        assert_eq!(err.fields[2].raw, None);
        assert!(err.parsed.is_empty());
        let shown = err.to_string();
        assert!(
            shown.contains("`score` expected float, got \"high\""),
            "{shown}"
        );
    }

    #[test]
    fn empty_text_is_an_error_not_a_panic() {
        let err = ChatAdapter
            .parse(&sig("q -> a"), "  \n")
            .expect_err("empty");
        assert!(err.summary().contains("empty"));
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let out = ChatAdapter
            .parse(&sig("q -> a, b: Optional[int]"), "[[ ## a ## ]]\nx")
            .expect("b is optional");
        assert_eq!(out["b"], serde_json::Value::Null);
    }
}
