//! Output JSON schemas in the form each kind of server takes them: OpenAI's
//! `response_format` (with its strict dialect), llama.cpp server's `json_schema`, vLLM's
//! `guided_json`, Ollama's `format`.

use serde_json::{Map, Value, json};

/// How an OpenAI-compatible endpoint takes the JSON schema that constrains its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaDialect {
    /// `response_format: {"type": "json_schema", "json_schema": {name, schema, strict}}`.
    /// With `strict`, the schema is first converted to OpenAI's strict dialect (see
    /// [`strict_schema`]); a schema that cannot be (an open map) is sent non-strict, with a
    /// warning naming where.
    OpenAi {
        /// Ask for strict schema adherence.
        strict: bool,
    },
    /// llama.cpp server: a top-level `json_schema` (grammar-constrained sampling).
    LlamaCpp,
    /// vLLM: `guided_json` (its guided decoding).
    Vllm,
    /// Ollama: `format` set to the schema.
    Ollama,
}

impl SchemaDialect {
    /// The dialect of a litellm-style provider prefix (`openai`, `ollama_chat`, `vllm`…).
    pub fn for_provider(provider: &str) -> Self {
        match provider {
            "openai" => SchemaDialect::OpenAi { strict: true },
            "ollama" | "ollama_chat" => SchemaDialect::Ollama,
            "vllm" | "hosted_vllm" => SchemaDialect::Vllm,
            "llama_cpp" | "llamacpp" => SchemaDialect::LlamaCpp,
            _ => SchemaDialect::OpenAi { strict: false },
        }
    }

    /// Puts `schema` into a chat-completions `body` the way this dialect wants it.
    pub(crate) fn apply(&self, body: &mut Map<String, Value>, name: &str, schema: &Value) {
        match self {
            SchemaDialect::OpenAi { strict } => {
                let (schema, strict) = if *strict {
                    match strict_schema(schema) {
                        Ok(converted) => (converted, true),
                        Err(error) => {
                            tracing::warn!(%error, "output schema sent without `strict`");
                            (schema.clone(), false)
                        }
                    }
                } else {
                    (schema.clone(), false)
                };
                let mut json_schema = json!({"name": name, "schema": schema});
                if strict {
                    json_schema["strict"] = Value::Bool(true);
                }
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": json_schema}),
                );
            }
            SchemaDialect::LlamaCpp => {
                body.insert("json_schema".into(), schema.clone());
            }
            SchemaDialect::Vllm => {
                body.insert("guided_json".into(), schema.clone());
            }
            SchemaDialect::Ollama => {
                body.insert("format".into(), schema.clone());
            }
        }
    }
}

/// Why a schema has no strict form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {path}: {message}")]
pub struct StrictSchemaError {
    /// JSON pointer to the part of the schema at fault (`/properties/tags`).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

/// `schema` in OpenAI's strict dialect: every object closed (`additionalProperties:
/// false`) with all its properties required, the ones that were optional made nullable,
/// and `oneOf` read as `anyOf`. Objects with free keys (maps) have no strict form and are
/// rejected with their path.
///
/// ```
/// use serde_json::json;
/// let schema = json!({
///     "type": "object",
///     "properties": {"answer": {"type": "string"}, "note": {"type": "string"}},
///     "required": ["answer"]
/// });
/// let strict = dspy::lm::strict_schema(&schema).unwrap();
/// assert_eq!(strict["required"], json!(["answer", "note"]));
/// assert_eq!(strict["properties"]["note"]["type"], json!(["string", "null"]));
/// assert_eq!(strict["additionalProperties"], json!(false));
///
/// let map = json!({"type": "object", "properties": {
///     "scores": {"type": "object", "additionalProperties": {"type": "number"}}
/// }});
/// let error = dspy::lm::strict_schema(&map).unwrap_err();
/// assert_eq!(error.path, "/properties/scores");
/// ```
pub fn strict_schema(schema: &Value) -> Result<Value, StrictSchemaError> {
    let mut schema = schema.clone();
    make_strict(&mut schema, "")?;
    Ok(schema)
}

fn make_strict(schema: &mut Value, path: &str) -> Result<(), StrictSchemaError> {
    let Value::Object(node) = schema else {
        return Ok(()); // `true` / `false` schemas
    };
    if let Some(one_of) = node.remove("oneOf") {
        node.insert("anyOf".into(), one_of);
    }
    let is_object = match node.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => node.contains_key("properties"),
    };
    if is_object {
        let open = match node.get("additionalProperties") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Object(o)) if o.is_empty() => true,
            Some(_) => true,
        };
        let has_properties = node.get("properties").is_some_and(Value::is_object);
        if open || !has_properties {
            return Err(StrictSchemaError {
                path: if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                },
                message: "an object with free keys (a map) has no strict form; strict \
                          schemas need every key named"
                    .into(),
            });
        }
        let required: Vec<String> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let mut all = Vec::new();
        if let Some(Value::Object(properties)) = node.get_mut("properties") {
            for (key, property) in properties.iter_mut() {
                make_strict(property, &format!("{path}/properties/{}", escape(key)))?;
                if !required.contains(key) {
                    make_nullable(property);
                }
                all.push(Value::String(key.clone()));
            }
        }
        node.insert("required".into(), Value::Array(all));
        node.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in ["items", "not"] {
        if let Some(child) = node.get_mut(key) {
            make_strict(child, &format!("{path}/{key}"))?;
        }
    }
    for key in ["anyOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = node.get_mut(key) {
            for (i, child) in children.iter_mut().enumerate() {
                make_strict(child, &format!("{path}/{key}/{i}"))?;
            }
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = node.get_mut(key) {
            for (name, child) in defs.iter_mut() {
                make_strict(child, &format!("{path}/{key}/{}", escape(name)))?;
            }
        }
    }
    Ok(())
}

/// Lets `schema` also be `null`, unless it already allows it.
fn make_nullable(schema: &mut Value) {
    let null = Value::String("null".into());
    if let Value::Object(node) = schema {
        match node.get_mut("type") {
            Some(Value::String(t)) if t == "null" => return,
            Some(Value::String(t)) => {
                let t = Value::String(std::mem::take(t));
                node.insert("type".into(), Value::Array(vec![t, null]));
                if let Some(Value::Array(values)) = node.get_mut("enum")
                    && !values.contains(&Value::Null)
                {
                    values.push(Value::Null);
                }
                return;
            }
            Some(Value::Array(types)) => {
                if !types.contains(&null) {
                    types.push(null);
                }
                return;
            }
            _ => {}
        }
        if let Some(Value::Array(options)) = node.get_mut("anyOf") {
            if !options.iter().any(|o| o.get("type") == Some(&null)) {
                options.push(json!({"type": "null"}));
            }
            return;
        }
    }
    let inner = std::mem::take(schema);
    *schema = json!({"anyOf": [inner, {"type": "null"}]});
}

/// A JSON-pointer token.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_refs_and_enums_become_strict() {
        let schema = json!({
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": ["a", "b"]},
                "item": {"$ref": "#/$defs/Item"},
                "tags": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "maybe": {"type": ["integer", "null"]},
                "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]}
            },
            "required": ["label", "tags"],
            "$defs": {"Item": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x"]
            }}
        });
        let strict = strict_schema(&schema).expect("has a strict form");
        assert_eq!(
            strict["required"],
            json!(["label", "item", "tags", "maybe", "either"])
        );
        assert_eq!(strict["properties"]["label"]["type"], json!("string"));
        assert_eq!(
            strict["properties"]["item"],
            json!({"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]})
        );
        assert_eq!(
            strict["properties"]["maybe"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(
            strict["properties"]["either"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})
        );
        let item = &strict["$defs"]["Item"];
        assert_eq!(item["required"], json!(["x", "y"]));
        assert_eq!(item["additionalProperties"], json!(false));
        assert_eq!(item["properties"]["y"]["type"], json!(["number", "null"]));
    }

    #[test]
    fn open_maps_are_rejected_with_their_path() {
        let schema = json!({
            "type": "object",
            "properties": {"list": {"type": "array", "items": {
                "type": "object", "additionalProperties": true, "properties": {}
            }}},
            "required": ["list"]
        });
        let error = strict_schema(&schema).unwrap_err();
        assert_eq!(error.path, "/properties/list/items");
        let error = strict_schema(&json!({"type": "object"})).unwrap_err();
        assert_eq!(error.path, "/");
        assert!(error.to_string().contains("map"));
    }

    #[test]
    fn each_dialect_puts_the_schema_where_its_server_reads_it() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let put = |dialect: SchemaDialect| {
            let mut body = Map::new();
            dialect.apply(&mut body, "Out", &schema);
            Value::Object(body)
        };
        let strict = put(SchemaDialect::OpenAi { strict: true });
        assert_eq!(strict["response_format"]["json_schema"]["strict"], true);
        assert_eq!(
            strict["response_format"]["json_schema"]["schema"]["required"],
            json!(["a"])
        );
        let loose = put(SchemaDialect::OpenAi { strict: false });
        assert!(
            loose["response_format"]["json_schema"]
                .get("strict")
                .is_none()
        );
        assert_eq!(put(SchemaDialect::LlamaCpp)["json_schema"], schema);
        assert_eq!(put(SchemaDialect::Vllm)["guided_json"], schema);
        assert_eq!(put(SchemaDialect::Ollama)["format"], schema);
        // A map has no strict form: sent non-strict rather than refused by the provider.
        let map = json!({"type": "object", "additionalProperties": {"type": "number"}});
        let mut body = Map::new();
        SchemaDialect::OpenAi { strict: true }.apply(&mut body, "Out", &map);
        assert_eq!(body["response_format"]["json_schema"]["schema"], map);
        assert!(
            body["response_format"]["json_schema"]
                .get("strict")
                .is_none()
        );
    }
}
