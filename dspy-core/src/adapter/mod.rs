//! Adapters: a signature, demos and inputs in; chat messages out; the LM's text back into
//! field values.
//!
//! [`ChatAdapter`] writes DSPy's `[[ ## field ## ]]` layout and [`JsonAdapter`] asks for a
//! JSON object; both produce byte for byte the messages Python DSPy 3.4 produces for the
//! same signature, demos and inputs, so prompts and compiled programs stay comparable.

mod chat;
pub(crate) mod coerce;
mod json;
pub(crate) mod lenient;

pub use chat::ChatAdapter;
pub use json::JsonAdapter;

use crate::error::ParseError;
use crate::lm::{Capabilities, Message, ResponseFormat};
use crate::signature::{FieldSpec, Fields, SignatureSpec, TypeShape};
use crate::value::py_str;

/// Turns a signature, demos and inputs into chat messages, and the LM's answer back into
/// output fields.
///
/// Adapters are stateless and shared: a predictor holds one as `Arc<dyn Adapter>`.
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// The adapter's name, as DSPy names it (`ChatAdapter`, `JSONAdapter`).
    fn name(&self) -> &'static str;

    /// The messages for one call: system, then demos as user/assistant turns, then the
    /// inputs with the output requirements.
    fn format(&self, signature: &SignatureSpec, demos: &[Fields], inputs: &Fields) -> Vec<Message>;

    /// The messages of [`format`](Self::format) that come before the current inputs' turn
    /// (the system message and the demos). They depend only on the signature and the
    /// demos, so a predictor formats them once, keeps them, and adds
    /// [`format_inputs`](Self::format_inputs) for each call. `None` (the default): this
    /// adapter does not split its format, and `format` is called for every call.
    fn format_prefix(&self, _signature: &SignatureSpec, _demos: &[Fields]) -> Option<Vec<Message>> {
        None
    }

    /// The current inputs' turn: the last message of [`format`](Self::format). Called only
    /// when [`format_prefix`](Self::format_prefix) gives `Some`; `format` must then be
    /// that prefix followed by this message.
    fn format_inputs(&self, signature: &SignatureSpec, inputs: &Fields) -> Message {
        self.format(signature, &[], inputs)
            .pop()
            .unwrap_or_else(|| Message::user(String::new()))
    }

    /// Parses the LM's text into every output field of the signature, coerced to each
    /// field's type. On failure, every field's problem is reported at once.
    fn parse(&self, signature: &SignatureSpec, completion: &str) -> Result<Fields, ParseError>;

    /// The structured-output request to send, given what the LM supports.
    fn response_format(
        &self,
        _signature: &SignatureSpec,
        _capabilities: Capabilities,
    ) -> Option<ResponseFormat> {
        None
    }

    /// The sentence telling the LM how to lay out its answer (the last paragraph of the
    /// final user message); re-asks repeat it.
    fn output_requirements(&self, signature: &SignatureSpec) -> String;

    /// A text that ends every complete answer, sent as a stop sequence so the LM stops
    /// there instead of running on (the chat adapter's `[[ ## completed ## ]]`).
    fn end_marker(&self) -> Option<&'static str> {
        None
    }

    /// The adapter to retry with when this one's answer does not parse (DSPy retries a
    /// failed ChatAdapter call with the JSON adapter). `None`: no fallback.
    fn fallback(&self) -> Option<std::sync::Arc<dyn Adapter>> {
        None
    }
}

/// The parts in which the two DSPy layouts differ; the rest of the format is shared.
trait Layout {
    /// "All interactions will be structured…" and the field skeleton.
    fn field_structure(&self, signature: &SignatureSpec) -> String;
    /// The output requirements line of the final user message.
    fn output_requirements(&self, signature: &SignatureSpec) -> String;
    /// An assistant turn holding these output values (`missing` for absent fields).
    fn assistant_content(
        &self,
        signature: &SignatureSpec,
        values: &Fields,
        missing: &str,
    ) -> String;
}

const INCOMPLETE_DEMO_PREFIX: &str =
    "This is an example of the task, though some input or output fields are not supplied.";
const MISSING_FIELD: &str = "Not supplied for this particular example. ";

/// DSPy's `Adapter.format`: system message, demos (incomplete ones first), current inputs.
fn format_messages(
    layout: &dyn Layout,
    signature: &SignatureSpec,
    demos: &[Fields],
    inputs: &Fields,
) -> Vec<Message> {
    let mut messages = prefix_messages(layout, signature, demos);
    messages.push(inputs_message(layout, signature, inputs));
    messages
}

/// The current inputs' turn, with the output requirements.
fn inputs_message(layout: &dyn Layout, signature: &SignatureSpec, inputs: &Fields) -> Message {
    Message::user(user_content(layout, signature, inputs, None, true))
}

/// The system message and the demos (incomplete ones first): all but the last message.
fn prefix_messages(
    layout: &dyn Layout,
    signature: &SignatureSpec,
    demos: &[Fields],
) -> Vec<Message> {
    let system = [
        field_description(signature),
        layout.field_structure(signature),
        task_description(&signature.instructions),
    ]
    .join("\n");
    let mut messages = vec![Message::system(system)];

    let present =
        |demo: &Fields, fields: &[FieldSpec]| fields.iter().any(|f| demo.contains_key(&f.name));
    let complete = |demo: &Fields| {
        signature
            .fields()
            .all(|f| demo.get(&f.name).is_some_and(|v| !v.is_null()))
    };
    let (mut incomplete, mut full) = (Vec::new(), Vec::new());
    for demo in demos {
        if complete(demo) {
            full.push(demo);
        } else if present(demo, &signature.inputs) && present(demo, &signature.outputs) {
            incomplete.push(demo);
        }
    }
    for (demo, prefix) in incomplete
        .drain(..)
        .map(|d| (d, Some(INCOMPLETE_DEMO_PREFIX)))
        .chain(full.drain(..).map(|d| (d, None)))
    {
        messages.push(Message::user(user_content(
            layout, signature, demo, prefix, false,
        )));
        messages.push(Message::assistant(layout.assistant_content(
            signature,
            demo,
            MISSING_FIELD,
        )));
    }
    messages
}

/// "Your input fields are: …" / "Your output fields are: …".
fn field_description(signature: &SignatureSpec) -> String {
    let list = |fields: &[FieldSpec]| {
        fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "{}. `{}` ({}): {}",
                    i + 1,
                    f.name,
                    f.type_label(),
                    f.description().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    };
    format!(
        "Your input fields are:\n{}\nYour output fields are:\n{}",
        list(&signature.inputs),
        list(&signature.outputs)
    )
}

/// "In adhering to this structure, your objective is: " and the dedented instructions,
/// each line indented by eight spaces.
fn task_description(instructions: &str) -> String {
    let mut out = String::from("In adhering to this structure, your objective is: ");
    for line in dedent(instructions).lines() {
        out.push_str("\n        ");
        out.push_str(line);
    }
    out
}

/// Python's `textwrap.dedent`.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    text.split('\n')
        .map(|l| {
            if l.trim().is_empty() {
                ""
            } else {
                &l[indent.min(l.len())..]
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The user turn: every input present, then (for the current call) the requirements.
fn user_content(
    layout: &dyn Layout,
    signature: &SignatureSpec,
    values: &Fields,
    prefix: Option<&str>,
    main_request: bool,
) -> String {
    // DSPy joins the parts with blank lines and strips the whole; written in place, as
    // this runs for every call.
    let mut out = String::with_capacity(256);
    let part = |out: &mut String, text: &str| {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(text);
    };
    part(&mut out, prefix.unwrap_or("").trim_start());
    for field in &signature.inputs {
        if let Some(value) = values.get(&field.name) {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str("[[ ## ");
            out.push_str(&field.name);
            out.push_str(" ## ]]\n");
            out.push_str(&format_field_value(field, value));
        }
    }
    if main_request {
        part(&mut out, &layout.output_requirements(signature));
    }
    out.truncate(out.trim_end().len());
    out
}

/// `[[ ## name ## ]]\nvalue` sections joined by blank lines (DSPy's `format_field_with_value`).
fn sections<'a>(items: impl Iterator<Item = (&'a str, String)>) -> String {
    items
        .map(|(name, value)| format!("[[ ## {name} ## ]]\n{value}"))
        .collect::<Vec<_>>()
        .join("\n\n")
        .trim()
        .to_string()
}

/// DSPy's `format_field_value`: a list given to a text field becomes a numbered list;
/// everything else is Python's `str()` (JSON for lists and dicts).
pub(crate) fn format_field_value(field: &FieldSpec, value: &serde_json::Value) -> String {
    match (value, &field.shape) {
        (serde_json::Value::Array(items), TypeShape::Str) => format_text_list(items),
        _ => py_str(value),
    }
}

fn format_text_list(items: &[serde_json::Value]) -> String {
    let blob = |item: &serde_json::Value| {
        let text = py_str(item);
        if !text.contains('\n') && !text.contains('«') && !text.contains('»') {
            format!("«{text}»")
        } else {
            format!("«««\n    {}\n»»»", text.replace('\n', "\n    "))
        }
    };
    match items {
        [] => "N/A".into(),
        [one] => blob(one),
        many => many
            .iter()
            .enumerate()
            .map(|(i, item)| format!("[{}] {}", i + 1, blob(item)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The output-requirements line: `head`, each output field's name between `quotes` with
/// its type hint, joined by ", then ", and `tail`. Written in place: it is part of
/// every call's last turn.
fn requirements_line(
    signature: &SignatureSpec,
    head: &str,
    quotes: (&str, &str),
    tail: &str,
) -> String {
    let mut out = String::from(head);
    for (i, f) in signature.outputs.iter().enumerate() {
        if i > 0 {
            out.push_str(", then ");
        }
        out.push_str(quotes.0);
        out.push_str(&f.name);
        out.push_str(quotes.1);
        out.push_str(&type_hint(f));
    }
    out.push_str(tail);
    out
}

/// " (must be formatted as a valid Python {type})" for every non-text output.
fn type_hint(field: &FieldSpec) -> String {
    match field.shape {
        TypeShape::Str => String::new(),
        _ => format!(
            " (must be formatted as a valid Python {})",
            field.type_label()
        ),
    }
}

/// DSPy's `translate_field_type`: the `{name}` placeholder plus, for outputs, the note on
/// what the value must look like.
fn placeholder(field: &FieldSpec, with_note: bool) -> String {
    let note = if with_note {
        field.shape.output_note(&field.schema)
    } else {
        None
    };
    match note {
        Some(note) => format!(
            "{{{}}}        # note: the value you produce {note}",
            field.name
        ),
        None => format!("{{{}}}", field.name),
    }
}

/// Checks every output field: present ones are coerced, absent optional ones become null,
/// absent required ones are errors. Returns the fields in signature order.
fn finish_fields(
    adapter: &'static str,
    signature: &SignatureSpec,
    mut found: impl FnMut(&FieldSpec) -> Option<Result<serde_json::Value, (String, String)>>,
    raw: &str,
) -> Result<Fields, ParseError> {
    let mut parsed = Fields::new();
    let mut errors = Vec::new();
    for field in &signature.outputs {
        match found(field) {
            Some(Ok(value)) => {
                parsed.insert(field.name.clone(), value);
            }
            Some(Err((text, reason))) => errors.push(crate::error::FieldError {
                field: field.name.clone(),
                expected: field.type_label(),
                raw: Some(text),
                reason,
            }),
            None if field.shape.is_optional() => {
                parsed.insert(field.name.clone(), serde_json::Value::Null);
            }
            None => errors.push(crate::error::FieldError {
                field: field.name.clone(),
                expected: field.type_label(),
                raw: None,
                reason: "missing".into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(ParseError {
            adapter,
            message: None,
            fields: errors,
            parsed,
            raw: raw.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_matches_textwrap() {
        assert_eq!(dedent("  a\n    b\n\n  c"), "a\n  b\n\nc");
        assert_eq!(
            task_description("One.\nTwo."),
            "In adhering to this structure, your objective is: \n        One.\n        Two."
        );
        assert_eq!(
            task_description(""),
            "In adhering to this structure, your objective is: "
        );
    }

    #[test]
    fn text_lists_are_numbered_blobs() {
        let f = FieldSpec::string("context", crate::FieldRole::Input);
        let v = serde_json::json!(["a", "b\nc"]);
        assert_eq!(
            format_field_value(&f, &v),
            "[1] «a»\n[2] «««\n    b\n    c\n»»»"
        );
        assert_eq!(
            format_field_value(&f, &serde_json::json!(["only"])),
            "«only»"
        );
        assert_eq!(format_field_value(&f, &serde_json::json!([])), "N/A");
    }
}
