//! The shape of a field's type, read from its JSON schema.
//!
//! Prompts name types the way DSPy does (`str`, `list[int]`, `Literal['a', 'b']`) and the
//! parsers coerce the LM's text towards the shape (an enum label in any case, `"0.97"` for a
//! float…). Reading both from the JSON schema, rather than from the Rust tokens, means type
//! aliases, user structs and string signatures all behave alike.

use crate::value::py_json;
use serde_json::{Map, Value};

/// How deep `$ref`s are followed before a (recursive) type is treated as [`TypeShape::Any`].
const MAX_DEPTH: usize = 24;

/// The shape of a field's type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TypeShape {
    /// Text.
    Str,
    /// An integer.
    Int,
    /// A floating-point number.
    Float,
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of strings (a unit enum).
    Literal(Vec<String>),
    /// A list of items.
    List(Box<TypeShape>),
    /// A map from strings to values.
    Dict(Box<TypeShape>),
    /// A value or null.
    Optional(Box<TypeShape>),
    /// A struct with named properties.
    Object {
        /// The type's name, when the schema has one.
        name: Option<String>,
        /// Properties and their shapes, in schema order.
        properties: Vec<(String, TypeShape)>,
    },
    /// Anything (an open schema, or a recursive type past the depth limit).
    Any,
}

impl TypeShape {
    /// Reads the shape of a self-contained JSON schema (`$ref`s resolve against its `$defs`).
    pub fn from_schema(schema: &Value) -> TypeShape {
        shape_of(schema, schema, 0, None, &mut Vec::new())
    }

    /// DSPy's name for the type: `str`, `int`, `list[str]`, `dict[str, int]`,
    /// `Optional[float]`, `Literal['a', 'b']`, or a struct's name.
    pub fn label(&self) -> String {
        match self {
            TypeShape::Str => "str".into(),
            TypeShape::Int => "int".into(),
            TypeShape::Float => "float".into(),
            TypeShape::Bool => "bool".into(),
            TypeShape::Literal(values) => {
                let quoted: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
                format!("Literal[{}]", quoted.join(", "))
            }
            TypeShape::List(item) => format!("list[{}]", item.label()),
            TypeShape::Dict(value) => format!("dict[str, {}]", value.label()),
            TypeShape::Optional(inner) => format!("Optional[{}]", inner.label()),
            TypeShape::Object { name, .. } => name.clone().unwrap_or_else(|| "dict".into()),
            TypeShape::Any => "Any".into(),
        }
    }

    /// Whether the field may be left out (it is null then).
    pub fn is_optional(&self) -> bool {
        matches!(self, TypeShape::Optional(_) | TypeShape::Any)
    }

    /// DSPy's note on what an output value must look like (`translate_field_type`):
    /// nothing for text, "must be True or False" for booleans, the allowed labels for a
    /// literal, and the JSON schema for everything else.
    pub fn output_note(&self, schema: &Value) -> Option<String> {
        match self {
            TypeShape::Str => None,
            TypeShape::Bool => Some("must be True or False".into()),
            TypeShape::Int => Some("must be a single int value".into()),
            TypeShape::Float => Some("must be a single float value".into()),
            TypeShape::Literal(values) => Some(format!(
                "must exactly match (no extra characters) one of: {}",
                values.join("; ")
            )),
            _ => Some(format!(
                "must adhere to the JSON schema: {}",
                py_json(&display_schema(schema), None)
            )),
        }
    }
}

/// Python's quoting of a string inside `Literal[...]`: single quotes unless the text has one.
fn quote_literal(s: &str) -> String {
    match (s.contains('\''), s.contains('"')) {
        (true, false) => format!("\"{s}\""),
        (true, true) => format!("'{}'", s.replace('\'', "\\'")),
        _ => format!("'{s}'"),
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<(&'a Value, String)> {
    if reference == "#" {
        let name = root.get("title").and_then(Value::as_str).unwrap_or("#");
        return Some((root, name.to_string()));
    }
    let path = reference.strip_prefix("#/")?;
    let mut node = root;
    for part in path.split('/') {
        node = node.get(part)?;
    }
    let name = path.rsplit('/').next().unwrap_or_default().to_string();
    Some((node, name))
}

/// `expanding` holds the `$ref`s being expanded on the current path: a reference back
/// into one of them is a recursive type, shown by name without expanding it again.
fn shape_of(
    schema: &Value,
    root: &Value,
    depth: usize,
    name: Option<String>,
    expanding: &mut Vec<String>,
) -> TypeShape {
    if depth > MAX_DEPTH {
        return TypeShape::Any;
    }
    let Some(obj) = schema.as_object() else {
        return TypeShape::Any;
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        return match resolve(root, reference) {
            Some((_, def_name)) if expanding.iter().any(|r| r == reference) => TypeShape::Object {
                name: Some(def_name),
                properties: Vec::new(),
            },
            Some((target, def_name)) => {
                expanding.push(reference.to_string());
                let shape = shape_of(target, root, depth + 1, Some(def_name), expanding);
                expanding.pop();
                shape
            }
            None => TypeShape::Any,
        };
    }
    if let Some(Value::String(c)) = obj.get("const") {
        return TypeShape::Literal(vec![c.clone()]);
    }
    if let Some(Value::Array(values)) = obj.get("enum") {
        let labels: Vec<String> = values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let has_null = values.iter().any(Value::is_null);
        if !labels.is_empty() && labels.len() + usize::from(has_null) == values.len() {
            let literal = TypeShape::Literal(labels);
            return if has_null {
                TypeShape::Optional(Box::new(literal))
            } else {
                literal
            };
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alternatives)) = obj.get(key) {
            return union_shape(alternatives, root, depth, name, expanding);
        }
    }
    if let Some(Value::Array(all)) = obj.get("allOf")
        && all.len() == 1
    {
        return shape_of(&all[0], root, depth + 1, name, expanding);
    }
    let name = obj
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(name);
    match obj.get("type") {
        Some(Value::String(t)) => typed_shape(t, obj, root, depth, name, expanding),
        Some(Value::Array(types)) => {
            let non_null: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            let inner = match non_null.as_slice() {
                [one] => typed_shape(one, obj, root, depth, name, expanding),
                _ => TypeShape::Any,
            };
            if non_null.len() < types.len() {
                TypeShape::Optional(Box::new(inner))
            } else {
                inner
            }
        }
        _ if obj.contains_key("properties") => {
            typed_shape("object", obj, root, depth, name, expanding)
        }
        _ => TypeShape::Any,
    }
}

fn typed_shape(
    t: &str,
    obj: &Map<String, Value>,
    root: &Value,
    depth: usize,
    name: Option<String>,
    expanding: &mut Vec<String>,
) -> TypeShape {
    match t {
        "string" => TypeShape::Str,
        "integer" => TypeShape::Int,
        "number" => TypeShape::Float,
        "boolean" => TypeShape::Bool,
        "array" => TypeShape::List(Box::new(
            obj.get("items")
                .map(|items| shape_of(items, root, depth + 1, None, expanding))
                .unwrap_or(TypeShape::Any),
        )),
        "object" => match obj.get("properties").and_then(Value::as_object) {
            Some(props) => TypeShape::Object {
                name,
                properties: props
                    .iter()
                    .map(|(k, v)| (k.clone(), shape_of(v, root, depth + 1, None, expanding)))
                    .collect(),
            },
            None => TypeShape::Dict(Box::new(match obj.get("additionalProperties") {
                Some(v @ Value::Object(_)) => shape_of(v, root, depth + 1, None, expanding),
                _ => TypeShape::Any,
            })),
        },
        _ => TypeShape::Any,
    }
}

fn union_shape(
    alternatives: &[Value],
    root: &Value,
    depth: usize,
    name: Option<String>,
    expanding: &mut Vec<String>,
) -> TypeShape {
    let mut nullable = false;
    let mut shapes = Vec::new();
    for alt in alternatives {
        if alt.get("type").and_then(Value::as_str) == Some("null") {
            nullable = true;
        } else {
            shapes.push(shape_of(alt, root, depth + 1, None, expanding));
        }
    }
    let inner = if !shapes.is_empty() && shapes.iter().all(|s| matches!(s, TypeShape::Literal(_))) {
        TypeShape::Literal(
            shapes
                .into_iter()
                .flat_map(|s| match s {
                    TypeShape::Literal(v) => v,
                    _ => Vec::new(),
                })
                .collect(),
        )
    } else if shapes.len() == 1 {
        let mut only = shapes.remove(0);
        if let (
            TypeShape::Object {
                name: slot @ None, ..
            },
            Some(n),
        ) = (&mut only, name)
        {
            *slot = Some(n);
        }
        only
    } else {
        TypeShape::Any
    };
    if nullable {
        TypeShape::Optional(Box::new(inner))
    } else {
        inner
    }
}

/// The schema as the LM is shown it: `$ref`s inlined, `$schema`, `title` and `format`
/// dropped, and every object's keys sorted with `type` first (as DSPy orders them).
///
/// A recursive type keeps its `$ref` and its definitions under `$defs`, so the schema
/// stays finite.
pub fn display_schema(schema: &Value) -> Value {
    let mut recursive = Vec::new();
    let mut shown = clean(schema, schema, 0, &mut Vec::new(), &mut recursive);
    if !recursive.is_empty()
        && let (Value::Object(out), Some(defs)) = (&mut shown, schema.get("$defs"))
    {
        out.insert(
            "$defs".into(),
            clean(defs, schema, 0, &mut Vec::new(), &mut Vec::new()),
        );
    }
    shown
}

fn clean(
    schema: &Value,
    root: &Value,
    depth: usize,
    expanding: &mut Vec<String>,
    recursive: &mut Vec<String>,
) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str)
        && let Some((target, _)) = resolve(root, reference)
    {
        if depth > MAX_DEPTH || expanding.iter().any(|r| r == reference) {
            recursive.push(reference.to_string());
            return schema.clone();
        }
        expanding.push(reference.to_string());
        let shown = clean(target, root, depth + 1, expanding, recursive);
        expanding.pop();
        return shown;
    }
    let mut entries: Vec<(String, Value)> = Vec::new();
    for (key, value) in obj {
        let cleaned = match key.as_str() {
            "$schema" | "$defs" | "definitions" | "title" | "format" => continue,
            "properties" | "patternProperties" => Value::Object(sorted(
                value
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                (k.clone(), clean(v, root, depth + 1, expanding, recursive))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            "items" | "additionalProperties" | "not" => {
                clean(value, root, depth + 1, expanding, recursive)
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => match value {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|v| clean(v, root, depth + 1, expanding, recursive))
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        entries.push((key.clone(), cleaned));
    }
    Value::Object(sorted(entries))
}

fn sorted(mut entries: Vec<(String, Value)>) -> Map<String, Value> {
    entries.sort_by(|(a, _), (b, _)| (a != "type", a).cmp(&(b != "type", b)));
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use std::collections::HashMap;

    fn shape<T: JsonSchema>() -> TypeShape {
        TypeShape::from_schema(&schemars::schema_for!(T).to_value())
    }

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Mood {
        Happy,
        /// documented variants make schemars write `oneOf` + `const`
        Sad,
    }

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct Person {
        name: String,
        mood: Option<Mood>,
        friends: Vec<Person>,
    }

    #[test]
    fn labels_follow_dspy_annotation_names() {
        assert_eq!(shape::<String>().label(), "str");
        assert_eq!(shape::<u8>().label(), "int");
        assert_eq!(shape::<f32>().label(), "float");
        assert_eq!(shape::<bool>().label(), "bool");
        assert_eq!(shape::<Vec<String>>().label(), "list[str]");
        assert_eq!(shape::<HashMap<String, i32>>().label(), "dict[str, int]");
        assert_eq!(shape::<Option<f64>>().label(), "Optional[float]");
        assert_eq!(shape::<Mood>().label(), "Literal['happy', 'sad']");
        assert_eq!(
            shape::<Option<Mood>>().label(),
            "Optional[Literal['happy', 'sad']]"
        );
        assert_eq!(shape::<Person>().label(), "Person");
        assert_eq!(shape::<Vec<Person>>().label(), "list[Person]");
    }

    #[test]
    fn recursive_types_terminate() {
        let TypeShape::Object { properties, .. } = shape::<Person>() else {
            panic!("Person is an object");
        };
        assert_eq!(properties[2].1.label(), "list[Person]");
        let shown = display_schema(&schemars::schema_for!(Person).to_value());
        assert!(py_json(&shown, None).starts_with(r#"{"type": "object", "properties": {"#));
    }

    #[test]
    fn display_schema_drops_noise_and_orders_type_first() {
        let shown = display_schema(&schemars::schema_for!(Vec<i64>).to_value());
        assert_eq!(
            py_json(&shown, None),
            r#"{"type": "array", "items": {"type": "integer"}}"#
        );
    }

    #[test]
    fn literal_quoting_matches_python() {
        assert_eq!(quote_literal("a"), "'a'");
        assert_eq!(quote_literal("it's"), "\"it's\"");
    }
}
