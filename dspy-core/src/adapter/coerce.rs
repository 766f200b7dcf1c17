//! Coercing what an LM wrote towards a field's type shape.
//!
//! Small models write `"0.97"` for a float, `Positive` for `positive`, `True` for `true`,
//! `['a', 'b']` for a list. Each is accepted when its meaning is unambiguous; anything else
//! is an error that names what was expected.

use super::lenient;
use crate::signature::TypeShape;
use crate::value::py_str;
use serde_json::{Number, Value};

/// A field's text (a ChatAdapter section, or a JSON string where a non-string was due).
pub(crate) fn from_text(text: &str, shape: &TypeShape) -> Result<Value, String> {
    match shape {
        TypeShape::Str => Ok(Value::String(unquote_json(text.trim()))),
        TypeShape::Optional(inner) => {
            if is_null_word(text) {
                Ok(Value::Null)
            } else {
                from_text(text, inner)
            }
        }
        TypeShape::Int | TypeShape::Float | TypeShape::Bool | TypeShape::Literal(_) => {
            conform(Value::String(strip_fence(text).to_string()), shape)
        }
        TypeShape::List(_) | TypeShape::Dict(_) | TypeShape::Object { .. } => {
            match lenient::parse_value(text) {
                Some(value) => conform(value, shape),
                None => Err(format!("expected JSON for {}", shape.label())),
            }
        }
        TypeShape::Any => Ok(
            lenient::parse_value(text).unwrap_or_else(|| Value::String(text.trim().to_string()))
        ),
    }
}

/// A JSON value, made to fit `shape` where its meaning is clear.
pub(crate) fn conform(value: Value, shape: &TypeShape) -> Result<Value, String> {
    match shape {
        TypeShape::Any => Ok(value),
        TypeShape::Optional(inner) => match &value {
            Value::Null => Ok(Value::Null),
            Value::String(s) if is_null_word(s) => Ok(Value::Null),
            _ => conform(value, inner),
        },
        TypeShape::Str => match value {
            Value::String(_) => Ok(value),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(py_str(&value))),
            other => Err(format!("expected text, got {}", kind(&other))),
        },
        TypeShape::Int => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value),
            Value::Number(n) => integral(n.as_f64()).ok_or_else(|| "expected an integer".into()),
            Value::String(s) => {
                let t = scalar_text(s);
                if let Ok(i) = t.parse::<i64>() {
                    Ok(Value::from(i))
                } else if let Ok(u) = t.parse::<u64>() {
                    Ok(Value::from(u))
                } else {
                    integral(t.parse::<f64>().ok()).ok_or_else(|| "expected an integer".into())
                }
            }
            other => Err(format!("expected an integer, got {}", kind(other))),
        },
        TypeShape::Float => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) => scalar_text(s)
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| "expected a number".into()),
            other => Err(format!("expected a number, got {}", kind(other))),
        },
        TypeShape::Bool => match &value {
            Value::Bool(_) => Ok(value),
            Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Value::Bool(false)),
            Value::String(s) => match scalar_text(s).to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "n" | "0" => Ok(Value::Bool(false)),
                _ => Err("expected True or False".into()),
            },
            other => Err(format!("expected True or False, got {}", kind(other))),
        },
        TypeShape::Literal(allowed) => {
            let text = match &value {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => py_str(&value),
                other => {
                    return Err(format!(
                        "expected one of: {}; got {}",
                        allowed.join("; "),
                        kind(other)
                    ));
                }
            };
            match_literal(&text, allowed)
                .map(|label| Value::String(label.to_string()))
                .ok_or_else(|| format!("expected one of: {}", allowed.join("; ")))
        }
        TypeShape::List(item) => match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let v = retext(v, item);
                    conform(v, item).map_err(|e| format!("item {i}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Err(format!("expected a list, got {}", kind(&other))),
        },
        TypeShape::Dict(item) => match value {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let v = retext(v, item);
                    conform(v, item)
                        .map(|v| (k.clone(), v))
                        .map_err(|e| format!("key {k:?}: {e}"))
                })
                .collect::<Result<serde_json::Map<_, _>, _>>()
                .map(Value::Object),
            other => Err(format!("expected an object, got {}", kind(&other))),
        },
        TypeShape::Object { properties, .. } => match value {
            Value::Object(mut map) => {
                for (name, prop) in properties {
                    if let Some(v) = map.remove(name) {
                        let v = retext(v, prop);
                        let v = conform(v, prop).map_err(|e| format!("`{name}`: {e}"))?;
                        map.insert(name.clone(), v);
                    }
                }
                Ok(Value::Object(map))
            }
            other => Err(format!("expected an object, got {}", kind(&other))),
        },
    }
}

/// A nested string where a list/object is due may itself hold JSON (`"[1, 2]"`).
fn retext(value: Value, shape: &TypeShape) -> Value {
    match (&value, shape) {
        (Value::String(s), TypeShape::List(_) | TypeShape::Dict(_) | TypeShape::Object { .. }) => {
            lenient::parse_value(s).unwrap_or(value)
        }
        _ => value,
    }
}

/// The allowed label that `text` names: exactly, after stripping `Literal[...]`, quotes
/// and a final period, or case-insensitively when only one label matches.
fn match_literal<'a>(text: &str, allowed: &'a [String]) -> Option<&'a str> {
    let mut t = text.trim();
    for wrapper in ["Literal[", "str["] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|s| s.strip_suffix(']')) {
            t = inner.trim();
        }
    }
    let t = scalar_text(t);
    if let Some(exact) = allowed.iter().find(|a| a.as_str() == t) {
        return Some(exact);
    }
    let mut folded = allowed
        .iter()
        .filter(|a| a.to_lowercase() == t.to_lowercase());
    match (folded.next(), folded.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// A scalar's text without surrounding quotes, backticks, whitespace or a final period.
fn scalar_text(s: &str) -> &str {
    let mut t = s.trim();
    loop {
        let before = t;
        for (open, close) in [('"', '"'), ('\'', '\''), ('`', '`'), ('*', '*')] {
            if t.len() >= 2 && t.starts_with(open) && t.ends_with(close) {
                t = t[1..t.len() - 1].trim();
            }
        }
        if let Some(stripped) = t.strip_suffix('.')
            && !stripped.is_empty()
            && !stripped.ends_with('.')
        {
            t = stripped.trim_end();
        }
        if t == before {
            return t;
        }
    }
}

/// Text without a surrounding ``` fence.
fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    match t.strip_prefix("```").and_then(|s| s.strip_suffix("```")) {
        Some(inner) => inner
            .split_once('\n')
            .map_or(inner, |(_, body)| body)
            .trim(),
        None => t,
    }
}

/// A text field written as a JSON string literal (`"Paris"`) is unquoted; anything else is
/// kept as written.
fn unquote_json(text: &str) -> String {
    if text.len() >= 2
        && text.starts_with('"')
        && text.ends_with('"')
        && let Ok(Value::String(s)) = serde_json::from_str::<Value>(text)
    {
        return s;
    }
    text.to_string()
}

fn is_null_word(text: &str) -> bool {
    matches!(
        scalar_text(text),
        "" | "None" | "none" | "null" | "NULL" | "Null" | "N/A"
    )
}

fn integral(x: Option<f64>) -> Option<Value> {
    let x = x?;
    (x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15).then(|| Value::from(x as i64))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lit(labels: &[&str]) -> TypeShape {
        TypeShape::Literal(labels.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn scalars_accept_the_usual_spellings() {
        assert_eq!(from_text("0.97", &TypeShape::Float), Ok(json!(0.97)));
        assert_eq!(from_text("\"0.97\"", &TypeShape::Float), Ok(json!(0.97)));
        assert_eq!(from_text("42.", &TypeShape::Int), Ok(json!(42)));
        assert_eq!(from_text("42.0", &TypeShape::Int), Ok(json!(42)));
        assert!(from_text("4.5", &TypeShape::Int).is_err());
        for yes in ["true", "True", "yes", "YES", "`true`"] {
            assert_eq!(from_text(yes, &TypeShape::Bool), Ok(json!(true)), "{yes}");
        }
        assert_eq!(from_text("False", &TypeShape::Bool), Ok(json!(false)));
        assert!(from_text("perhaps", &TypeShape::Bool).is_err());
    }

    #[test]
    fn literals_match_in_any_case_and_wrapping() {
        let shape = lit(&["positive", "negative"]);
        for text in [
            "positive",
            "Positive",
            "'POSITIVE'",
            "Literal['positive']",
            "positive.",
        ] {
            assert_eq!(from_text(text, &shape), Ok(json!("positive")), "{text}");
        }
        assert!(
            from_text("mixed", &shape)
                .unwrap_err()
                .contains("positive; negative")
        );
        // Ambiguous case-folding is refused rather than guessed.
        assert!(from_text("yes", &lit(&["Yes", "YES"])).is_err());
        assert_eq!(from_text("YES", &lit(&["Yes", "YES"])), Ok(json!("YES")));
    }

    #[test]
    fn strings_keep_their_text_unless_json_quoted() {
        assert_eq!(from_text("  Paris  ", &TypeShape::Str), Ok(json!("Paris")));
        assert_eq!(from_text("\"Paris\"", &TypeShape::Str), Ok(json!("Paris")));
        assert_eq!(
            from_text("\"a\" and \"b\"", &TypeShape::Str),
            Ok(json!("\"a\" and \"b\""))
        );
    }

    #[test]
    fn containers_parse_json_python_literals_and_fences() {
        let ints = TypeShape::List(Box::new(TypeShape::Int));
        assert_eq!(from_text("[1, 2]", &ints), Ok(json!([1, 2])));
        assert_eq!(
            from_text("```json\n[1, \"2\"]\n```", &ints),
            Ok(json!([1, 2]))
        );
        let labels = TypeShape::List(Box::new(lit(&["a", "b"])));
        assert_eq!(from_text("['A', 'b']", &labels), Ok(json!(["a", "b"])));
        assert!(from_text("[1, 'x']", &ints).unwrap_err().contains("item 1"));
        let opt = TypeShape::Optional(Box::new(TypeShape::Int));
        assert_eq!(from_text("None", &opt), Ok(Value::Null));
        assert_eq!(from_text("3", &opt), Ok(json!(3)));
    }
}
