//! Rendering JSON values the way Python DSPy writes them into prompts.
//!
//! DSPy formats a value with `str()` when it is a scalar and with `json.dumps` when it is a
//! list or a dict, so prompts carry `True`, `None`, `0.97`, and `["a", "b"]` with Python's
//! `", "` / `": "` separators. Matching that byte for byte keeps prompts (and compiled
//! programs) comparable with Python DSPy.

use serde_json::Value;
use std::fmt::Write as _;

/// Python's `str(value)` for a JSON value: strings bare, `True`/`False`, `None`, floats as
/// Python's `repr`, and lists/dicts as compact `json.dumps`.
///
/// ```
/// use dspy_core::value::py_str;
/// use serde_json::json;
/// assert_eq!(py_str(&json!("hi")), "hi");
/// assert_eq!(py_str(&json!(true)), "True");
/// assert_eq!(py_str(&json!([1, 2])), "[1, 2]");
/// ```
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => number_repr(n),
        Value::Array(_) | Value::Object(_) => py_json(value, None),
    }
}

/// Python's `json.dumps(value, ensure_ascii=False)` (with `indent` when given).
///
/// ```
/// use dspy_core::value::py_json;
/// use serde_json::json;
/// assert_eq!(py_json(&json!({"a": [1, 2.5]}), None), r#"{"a": [1, 2.5]}"#);
/// assert_eq!(py_json(&json!({"a": 1}), Some(2)), "{\n  \"a\": 1\n}");
/// ```
pub fn py_json(value: &Value, indent: Option<usize>) -> String {
    let mut out = String::new();
    write_json(&mut out, value, indent, 0);
    out
}

fn write_json(out: &mut String, value: &Value, indent: Option<usize>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if indent.is_none() {
                        out.push(' ');
                    }
                }
                newline(out, indent, level + 1);
                write_json(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if indent.is_none() {
                        out.push(' ');
                    }
                }
                newline(out, indent, level + 1);
                write_json_string(out, key);
                out.push_str(": ");
                write_json(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
    }
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', width * level));
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr` of the value a JSON value stands for: `{'a': [True, None]}` (how DSPy
/// writes a tool's argument schema into ReAct's instructions).
///
/// ```
/// use dspy_core::value::py_repr;
/// use serde_json::json;
/// assert_eq!(py_repr(&json!({"q": {"type": "string"}})), "{'q': {'type': 'string'}}");
/// ```
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => number_repr(n),
        Value::String(s) => py_str_repr(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string as Python's `repr` writes it: single quotes unless the text has one and no
/// double quote.
fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn number_repr(n: &serde_json::Number) -> String {
    if n.is_f64() {
        n.as_f64()
            .map(py_float_repr)
            .unwrap_or_else(|| n.to_string())
    } else {
        n.to_string()
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed notation for exponents
/// in `-4..16` (always with a decimal point), scientific (`1e-05`, `1.5e+16`) otherwise.
///
/// A value that is exactly an `f32` is printed with the `f32`'s shortest digits, so an `f32`
/// field holding `0.97` shows as `0.97` rather than `0.9700000286102295`.
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sci = {
        let narrow = x as f32;
        let from_f32 = format!("{narrow:e}");
        let from_f64 = format!("{x:e}");
        if f64::from(narrow) == x && from_f32.len() < from_f64.len() {
            from_f32
        } else {
            from_f64
        }
    };
    // `sci` looks like "-1.2345e-7" or "5e3".
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_render_like_python_repr() {
        let cases = [
            (0.97, "0.97"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1234567.0, "1234567.0"),
            (1.5e-7, "1.5e-07"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (f64::from(0.97f32), "0.97"),
            (0.1, "0.1"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float_repr(x), want, "repr of {x:e}");
        }
    }

    #[test]
    fn scalars_render_like_python_str() {
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(false)), "False");
        assert_eq!(py_str(&json!(42)), "42");
        assert_eq!(py_str(&json!(2.0)), "2.0");
    }

    #[test]
    fn json_dumps_matches_python_separators_and_escapes() {
        let v = json!({"k": ["a\"b", "é\n", {"x": null}], "e": [], "o": {}});
        assert_eq!(
            py_json(&v, None),
            r#"{"k": ["a\"b", "é\n", {"x": null}], "e": [], "o": {}}"#
        );
        assert_eq!(
            py_json(&json!({"a": [1, 2]}), Some(2)),
            "{\n  \"a\": [\n    1,\n    2\n  ]\n}"
        );
    }
}
