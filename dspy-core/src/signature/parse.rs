//! String signatures: `"context: list[str], question: str -> answer: int"`.
//!
//! The grammar is DSPy's, limited to the types a JSON value can carry: `str`, `int`,
//! `float`, `bool`, `list[T]`, `dict[str, T]`, `Optional[T]`, `T | None`, `Union[...]`,
//! `Literal['a', 'b']` and `Any`. A field without a type is `str`.

use super::spec::{FieldRole, FieldSpec, SignatureSpec, is_identifier};
use crate::error::SignatureError;
use serde_json::{Value, json};

pub(crate) fn parse_signature(text: &str) -> Result<SignatureSpec, SignatureError> {
    let err = |message: String| SignatureError::Parse {
        input: text.to_string(),
        message,
    };
    let sides: Vec<&str> = text.split("->").collect();
    if sides.len() != 2 {
        return Err(err(format!(
            "expected exactly one `->` between inputs and outputs, found {}",
            sides.len() - 1
        )));
    }
    let inputs = parse_side(sides[0], FieldRole::Input).map_err(&err)?;
    let outputs = parse_side(sides[1], FieldRole::Output).map_err(&err)?;
    SignatureSpec::new("StringSignature", None, inputs, outputs)
}

fn parse_side(side: &str, role: FieldRole) -> Result<Vec<FieldSpec>, String> {
    let which = match role {
        FieldRole::Input => "input",
        FieldRole::Output => "output",
    };
    if side.trim().is_empty() {
        return Err(format!("no {which} fields"));
    }
    split_top_level(side, ',')?
        .into_iter()
        .map(|item| {
            let (name, ty) = match item.split_once(':') {
                Some((name, ty)) => (name.trim(), Some(ty.trim())),
                None => (item.trim(), None),
            };
            if name.is_empty() {
                return Err(format!("an {which} field has no name in `{}`", side.trim()));
            }
            if !is_identifier(name) {
                return Err(format!("`{name}` is not a valid field name"));
            }
            match ty {
                None => Ok(FieldSpec::from_schema(
                    name,
                    role,
                    "str",
                    json!({"type": "string"}),
                )),
                Some("") => Err(format!("field `{name}` has `:` but no type")),
                Some(ty) => {
                    let schema = parse_type(ty).map_err(|e| format!("field `{name}`: {e}"))?;
                    Ok(FieldSpec::from_schema(name, role, ty, schema))
                }
            }
        })
        .collect()
}

/// Splits on `sep` where it is outside brackets and quotes.
fn split_top_level(text: &str, sep: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced `]` in `{}`", text.trim()));
                }
            }
            (None, c) if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err(format!("unclosed quote in `{}`", text.trim()));
    }
    if depth != 0 {
        return Err(format!("unbalanced `[` in `{}`", text.trim()));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// A Python type annotation → a JSON schema.
fn parse_type(ty: &str) -> Result<Value, String> {
    let ty = ty.trim();
    let alternatives = split_top_level(ty, '|')?;
    if alternatives.len() > 1 {
        let schemas = alternatives
            .iter()
            .map(|alt| parse_type(alt))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(json!({ "anyOf": schemas }));
    }
    let (head, args) = match ty.find('[') {
        Some(open) => {
            let inner = ty[open + 1..]
                .strip_suffix(']')
                .ok_or_else(|| format!("`{ty}` has text after its closing `]`"))?;
            (ty[..open].trim(), Some(split_top_level(inner, ',')?))
        }
        None => (ty, None),
    };
    let arity = |n: usize| -> Result<&Vec<&str>, String> {
        match &args {
            Some(a) if a.len() == n => Ok(a),
            _ => Err(format!("`{head}` takes {n} type argument(s) in `{ty}`")),
        }
    };
    let schema = match head.trim_start_matches("typing.") {
        "None" | "NoneType" if args.is_none() => json!({"type": "null"}),
        "str" if args.is_none() => json!({"type": "string"}),
        "int" if args.is_none() => json!({"type": "integer"}),
        "float" if args.is_none() => json!({"type": "number"}),
        "bool" if args.is_none() => json!({"type": "boolean"}),
        "Any" if args.is_none() => json!({}),
        "list" | "List" | "tuple" | "Tuple" | "set" | "Set" => match &args {
            None => json!({"type": "array"}),
            Some(a) if a.len() == 1 => json!({"type": "array", "items": parse_type(a[0])?}),
            Some(a) if a.len() == 2 && a[1].trim() == "..." => {
                json!({"type": "array", "items": parse_type(a[0])?})
            }
            Some(_) => json!({"type": "array"}),
        },
        "dict" | "Dict" => match &args {
            None => json!({"type": "object"}),
            Some(_) => {
                let a = arity(2)?;
                if parse_type(a[0])? != json!({"type": "string"}) {
                    return Err(format!("dict keys must be `str` in `{ty}`"));
                }
                json!({"type": "object", "additionalProperties": parse_type(a[1])?})
            }
        },
        "Optional" => {
            let a = arity(1)?;
            json!({"anyOf": [parse_type(a[0])?, {"type": "null"}]})
        }
        "Union" => {
            let a = args
                .as_ref()
                .ok_or_else(|| format!("`Union` needs arguments in `{ty}`"))?;
            json!({"anyOf": a.iter().map(|t| parse_type(t)).collect::<Result<Vec<_>, _>>()?})
        }
        "Literal" => {
            let a = args
                .as_ref()
                .ok_or_else(|| format!("`Literal` needs values in `{ty}`"))?;
            let values = a
                .iter()
                .map(|v| literal_value(v))
                .collect::<Result<Vec<_>, _>>()?;
            json!({"type": "string", "enum": values})
        }
        other => return Err(format!("unknown type `{other}`")),
    };
    Ok(schema)
}

fn literal_value(text: &str) -> Result<String, String> {
    let t = text.trim();
    let unquoted = t
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| t.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
    match unquoted {
        Some(s) => Ok(s.to_string()),
        None if !t.is_empty()
            && t.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-') =>
        {
            Ok(t.to_string())
        }
        None => Err(format!("`{t}` is not a literal value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> (Vec<String>, Vec<String>) {
        let spec = parse_signature(text).expect("parses");
        (
            spec.inputs
                .iter()
                .map(|f| format!("{}: {}", f.name, f.type_label()))
                .collect(),
            spec.outputs
                .iter()
                .map(|f| format!("{}: {}", f.name, f.type_label()))
                .collect(),
        )
    }

    #[test]
    fn parses_the_forms_dspy_users_write() {
        assert_eq!(
            labels("question -> answer"),
            (vec!["question: str".into()], vec!["answer: str".into()])
        );
        assert_eq!(
            labels("sentence -> sentiment: bool").1,
            vec!["sentiment: bool"]
        );
        assert_eq!(
            labels("context: list[str], question: str -> answer: str, score: float"),
            (
                vec!["context: list[str]".into(), "question: str".into()],
                vec!["answer: str".into(), "score: float".into()]
            )
        );
        assert_eq!(
            labels(
                "q -> label: Literal['a', \"b c\"], extra: dict[str, list[int]], maybe: int | None"
            )
            .1,
            vec![
                "label: Literal['a', 'b c']",
                "extra: dict[str, list[int]]",
                "maybe: Optional[int]"
            ]
        );
        assert_eq!(labels("q -> o: Optional[Any]").1, vec!["o: Optional[Any]"]);
    }

    #[test]
    fn malformed_strings_say_what_is_wrong() {
        let msg = |t: &str| parse_signature(t).expect_err(t).to_string();
        assert!(
            msg("question answer").contains("exactly one `->`"),
            "{}",
            msg("question answer")
        );
        assert!(msg("a -> b -> c").contains("found 2"));
        assert!(msg(" -> answer").contains("no input fields"));
        assert!(msg("question -> ").contains("no output fields"));
        assert!(msg("question -> answer: integer").contains("unknown type `integer`"));
        assert!(msg("q -> a: list[int").contains("unbalanced"));
        assert!(msg("q, q -> a").contains("more than once"));
        assert!(msg("my field -> a").contains("not a valid field name"));
        assert!(msg("q -> a: dict[int, str]").contains("keys must be `str`"));
        assert!(msg("q -> a:").contains("no type"));
    }
}
