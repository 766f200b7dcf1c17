//! A client for OpenAI's chat-completions protocol, spoken by OpenAI and by most servers
//! (vLLM, llama.cpp server, Ollama, LM Studio, Groq, Together, OpenRouter, DeepSeek…).

use super::http::{ApiKey, AuthStyle, Endpoint};
use super::schema::SchemaDialect;
use super::sse;
use super::{
    Capabilities, ChatRequest, ChatResponse, ChatStream, Choice, LM, LmConfig, LmError, Message,
    ResponseFormat, StreamChunk, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// Known `provider/` prefixes: (prefix, base URL, env var for the key, env var for the base
/// URL, structured-output support).
const PROVIDERS: &[(&str, &str, Option<&str>, &str, Capabilities)] = &[
    (
        "openai",
        "https://api.openai.com/v1",
        Some("OPENAI_API_KEY"),
        "OPENAI_BASE_URL",
        STRUCTURED,
    ),
    (
        "groq",
        "https://api.groq.com/openai/v1",
        Some("GROQ_API_KEY"),
        "GROQ_API_BASE",
        JSON_MODE,
    ),
    (
        "together_ai",
        "https://api.together.xyz/v1",
        Some("TOGETHER_API_KEY"),
        "TOGETHER_API_BASE",
        JSON_MODE,
    ),
    (
        "together",
        "https://api.together.xyz/v1",
        Some("TOGETHER_API_KEY"),
        "TOGETHER_API_BASE",
        JSON_MODE,
    ),
    (
        "openrouter",
        "https://openrouter.ai/api/v1",
        Some("OPENROUTER_API_KEY"),
        "OPENROUTER_API_BASE",
        STRUCTURED,
    ),
    (
        "deepseek",
        "https://api.deepseek.com/v1",
        Some("DEEPSEEK_API_KEY"),
        "DEEPSEEK_API_BASE",
        JSON_MODE,
    ),
    (
        "mistral",
        "https://api.mistral.ai/v1",
        Some("MISTRAL_API_KEY"),
        "MISTRAL_API_BASE",
        STRUCTURED,
    ),
    (
        "fireworks_ai",
        "https://api.fireworks.ai/inference/v1",
        Some("FIREWORKS_API_KEY"),
        "FIREWORKS_API_BASE",
        STRUCTURED,
    ),
    (
        "ollama_chat",
        "http://localhost:11434/v1",
        None,
        "OLLAMA_API_BASE",
        STRUCTURED,
    ),
    (
        "ollama",
        "http://localhost:11434/v1",
        None,
        "OLLAMA_API_BASE",
        STRUCTURED,
    ),
    (
        "lm_studio",
        "http://localhost:1234/v1",
        None,
        "LM_STUDIO_API_BASE",
        STRUCTURED,
    ),
    (
        "hosted_vllm",
        "http://localhost:8000/v1",
        None,
        "HOSTED_VLLM_API_BASE",
        STRUCTURED,
    ),
    (
        "vllm",
        "http://localhost:8000/v1",
        None,
        "VLLM_API_BASE",
        STRUCTURED,
    ),
];

const STRUCTURED: Capabilities = Capabilities {
    json_object: true,
    json_schema: true,
};
const JSON_MODE: Capabilities = Capabilities {
    json_object: true,
    json_schema: false,
};

/// An LM behind an OpenAI-compatible `/chat/completions` endpoint.
///
/// ```no_run
/// # async fn run() -> Result<(), dspy::Error> {
/// use dspy::prelude::*;
/// // Key from OPENAI_API_KEY, base URL from OPENAI_BASE_URL or OpenAI's.
/// let lm = OpenAiCompatible::from_model("openai/gpt-4o-mini")?;
/// // Any server, any key:
/// let local = OpenAiCompatible::new("http://127.0.0.1:8080/v1", "gemma-3-270m")
///     .with_temperature(0.0)
///     .with_max_tokens(256);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OpenAiCompatible {
    endpoint: Endpoint,
    model: String,
    wire_model: String,
    config: LmConfig,
    capabilities: Capabilities,
    dialect: SchemaDialect,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("base_url", &self.endpoint.base_url)
            .field("model", &self.model)
            .field("api_key", &self.endpoint.api_key)
            .field("config", &self.config)
            .field("timeout", &self.endpoint.timeout)
            .field("capabilities", &self.capabilities)
            .field("dialect", &self.dialect)
            .finish()
    }
}

impl OpenAiCompatible {
    /// A client for `model` at `base_url` (the URL that `/chat/completions` is appended to),
    /// with no key and no structured-output support until told otherwise.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        let model = model.into();
        OpenAiCompatible {
            endpoint: Endpoint::new(base_url, AuthStyle::Bearer),
            wire_model: model.clone(),
            model,
            config: LmConfig::default(),
            capabilities: Capabilities::none(),
            dialect: SchemaDialect::OpenAi { strict: false },
        }
    }

    /// A client from a litellm-style model string, `provider/model`
    /// (`openai/gpt-4o-mini`, `groq/llama-3.1-8b-instant`, `ollama_chat/llama3.2`,
    /// `hosted_vllm/Qwen/Qwen2.5-7B-Instruct`…). A bare model name means OpenAI.
    ///
    /// The key comes from the provider's environment variable (`OPENAI_API_KEY`,
    /// `GROQ_API_KEY`…) and the base URL from its override variable (`OPENAI_BASE_URL`,
    /// `OLLAMA_API_BASE`…) when set. Fails when a provider that needs a key has none.
    pub fn from_model(model: &str) -> Result<Self, LmError> {
        let (provider, name) = match model.split_once('/') {
            Some((p, rest)) if PROVIDERS.iter().any(|(known, ..)| *known == p) => (p, rest),
            _ => ("openai", model),
        };
        let Some(&(_, default_base, key_var, base_var, capabilities)) =
            PROVIDERS.iter().find(|(known, ..)| *known == provider)
        else {
            return Err(LmError::Config(format!("unknown provider in `{model}`")));
        };
        let mut base = std::env::var(base_var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default_base.to_string());
        if provider == "openai"
            && let Ok(alt) = std::env::var("OPENAI_API_BASE")
            && std::env::var(base_var).is_err()
            && !alt.trim().is_empty()
        {
            base = alt;
        }
        let mut lm = OpenAiCompatible::new(base, model);
        lm.wire_model = name.to_string();
        lm.capabilities = capabilities;
        lm.dialect = SchemaDialect::for_provider(provider);
        if let Some(var) = key_var {
            match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => lm.endpoint.api_key = Some(ApiKey(key)),
                _ => {
                    return Err(LmError::Config(format!(
                        "`{model}` needs an API key: set {var} or use `OpenAiCompatible::new(..).with_api_key(..)`"
                    )));
                }
            }
        }
        Ok(lm)
    }

    /// With an API key, sent as a bearer token.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.endpoint.api_key = Some(ApiKey(key.into()));
        self
    }

    /// With default settings for every request (a request's own settings win).
    pub fn with_config(mut self, config: LmConfig) -> Self {
        self.config = config;
        self
    }

    /// With a default temperature.
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.config.temperature = Some(temperature);
        self
    }

    /// With a default token limit.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.config.max_tokens = Some(max_tokens);
        self
    }

    /// With a per-request timeout (default 120 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.endpoint.timeout = timeout;
        self
    }

    /// How the output schema of structured-output requests is sent: OpenAI's
    /// `response_format` (strict or not), llama.cpp server's `json_schema`, vLLM's
    /// `guided_json` or Ollama's `format`. [`from_model`](Self::from_model) picks the one of
    /// the provider; [`new`](Self::new) starts with non-strict `response_format`.
    pub fn with_schema_dialect(mut self, dialect: SchemaDialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Declares what structured output the endpoint accepts, so the JSON adapter can ask
    /// for it.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// The model name sent on the wire (without the `provider/` prefix).
    pub(crate) fn wire_model(&self) -> &str {
        &self.wire_model
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.endpoint.base_url
    }

    /// The JSON body sent for `request`: model and messages borrowed from it, the
    /// settings after them.
    fn body<'a>(&'a self, request: &'a ChatRequest) -> WireBody<'a> {
        let config = self.config.merged(&request.config);
        let mut body = Map::new();
        if let Value::Object(settings) = serde_json::to_value(&config).unwrap_or(Value::Null) {
            for (key, value) in settings {
                // `rollout_id` and `cache` are for the cache, not the provider.
                if !matches!(key.as_str(), "extra" | "rollout_id" | "cache") {
                    body.insert(key, value);
                }
            }
        }
        if is_reasoning_model(&self.wire_model)
            && let Some(max) = body.remove("max_tokens")
        {
            // OpenAI's reasoning models take `max_completion_tokens` and refuse `max_tokens`.
            body.insert("max_completion_tokens".into(), max);
        }
        match &request.response_format {
            Some(ResponseFormat::JsonObject) => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            Some(ResponseFormat::JsonSchema { name, schema }) => {
                self.dialect.apply(&mut body, name, schema);
            }
            None => {}
        }
        for (key, value) in config.extra {
            body.insert(key, value);
        }
        WireBody {
            model: &self.wire_model,
            messages: &request.messages,
            settings: body,
        }
    }

    /// POSTs `body` to `{base_url}/{path}` and returns the body of a 2xx answer.
    pub(crate) async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<String, LmError> {
        self.endpoint.post(path, body).await
    }
}

/// A chat-completions body, written straight to the wire: building a `Value` first would
/// copy every message.
struct WireBody<'a> {
    model: &'a str,
    messages: &'a [Message],
    /// Everything else, in order; a `model` or `messages` here (from `extra`) replaces
    /// the borrowed one.
    settings: Map<String, Value>,
}

impl Serialize for WireBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if !self.settings.contains_key("model") {
            map.serialize_entry("model", self.model)?;
        }
        if !self.settings.contains_key("messages") {
            map.serialize_entry("messages", self.messages)?;
        }
        for (key, value) in &self.settings {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[async_trait::async_trait]
impl LM for OpenAiCompatible {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let started = std::time::Instant::now();
        let text = self.post("chat/completions", &self.body(request)).await?;
        let parsed =
            parse_completion(&text).map_err(|message| self.endpoint.malformed(message, &text))?;
        tracing::debug!(
            model = %self.model,
            prompt_tokens = parsed.usage.prompt_tokens,
            completion_tokens = parsed.usage.completion_tokens,
            latency_ms = started.elapsed().as_millis() as u64,
            "lm call"
        );
        Ok(parsed)
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn fingerprint(&self) -> Value {
        json!({ "model": self.model, "config": self.config })
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        let mut body = self.body(request);
        body.settings.insert("stream".into(), Value::Bool(true));
        body.settings
            .insert("stream_options".into(), json!({ "include_usage": true }));
        let response = self
            .endpoint
            .post_streaming("chat/completions", &body)
            .await?;
        Ok(sse::chat_stream(
            self.endpoint.clone(),
            response,
            OpenAiEvents,
        ))
    }
}

/// Whether an OpenAI model name is one of the reasoning models (o1, o3, o4-mini, gpt-5…),
/// which take `max_completion_tokens`.
fn is_reasoning_model(wire_model: &str) -> bool {
    let name = wire_model.rsplit('/').next().unwrap_or(wire_model);
    let o_series =
        name.len() >= 2 && name.starts_with('o') && name[1..2].chars().all(|c| c.is_ascii_digit());
    o_series || (name.starts_with("gpt-5") && !name.contains("chat"))
}

/// OpenAI's events: `chat.completion.chunk`s, then `data: [DONE]`.
struct OpenAiEvents;

impl sse::Decoder for OpenAiEvents {
    const END: &'static str = "data: [DONE]";

    fn event(
        &mut self,
        event: &sse::SseEvent,
        endpoint: &Endpoint,
        out: &mut std::collections::VecDeque<StreamChunk>,
    ) -> Result<bool, LmError> {
        if event.data.trim() == "[DONE]" {
            return Ok(true);
        }
        match parse_stream_chunk(&event.data) {
            Ok(chunk) => {
                out.extend(chunk);
                Ok(false)
            }
            Err(message) => Err(endpoint.malformed(message, &event.data)),
        }
    }
}

/// Reads one `chat.completion.chunk`; `None` for chunks that carry nothing.
fn parse_stream_chunk(data: &str) -> Result<Option<StreamChunk>, String> {
    let value: Value =
        serde_json::from_str(data).map_err(|e| format!("invalid JSON in stream event: {e}"))?;
    if let Some(error) = value.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| error.to_string());
        return Err(format!("the stream reported an error: {message}"));
    }
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let text = choice
        .and_then(|c| c.pointer("/delta/content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let finish_reason = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let usage = value.get("usage").filter(|u| u.is_object()).map(|u| Usage {
        prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        completion_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    });
    if text.is_empty() && finish_reason.is_none() && usage.is_none() {
        return Ok(None);
    }
    Ok(Some(StreamChunk {
        text,
        finish_reason,
        usage,
    }))
}

/// A chat-completion body of the usual shape, read without building a `Value`.
#[derive(Deserialize)]
struct WireCompletion<'a> {
    #[serde(borrow)]
    choices: Vec<WireChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow)]
    message: WireMessage<'a>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    logprobs: Option<Value>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Reads an OpenAI chat-completion body.
fn parse_completion(text: &str) -> Result<ChatResponse, String> {
    // The usual shape is read straight into the response; anything else (content parts,
    // odd types, errors) goes the general way, which also says what is wrong.
    if let Ok(wire) = serde_json::from_str::<WireCompletion<'_>>(text)
        && !wire.choices.is_empty()
    {
        let usage = wire.usage.unwrap_or(WireUsage {
            prompt_tokens: None,
            completion_tokens: None,
        });
        return Ok(ChatResponse {
            choices: wire
                .choices
                .into_iter()
                .map(|choice| Choice {
                    text: choice
                        .message
                        .content
                        .map(Cow::into_owned)
                        .unwrap_or_default(),
                    finish_reason: choice.finish_reason.map(Cow::into_owned),
                    logprobs: choice.logprobs.filter(|l| !l.is_null()),
                })
                .collect(),
            usage: Usage {
                prompt_tokens: usage.prompt_tokens.unwrap_or(0),
                completion_tokens: usage.completion_tokens.unwrap_or(0),
            },
            model: wire.model.map(Cow::into_owned),
            cached: false,
            retries: 0,
        });
    }
    parse_completion_value(text)
}

/// [`parse_completion`] through a `Value`: every shape, and what is wrong with a bad one.
fn parse_completion_value(text: &str) -> Result<ChatResponse, String> {
    let body: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let choices = body
        .get("choices")
        .and_then(Value::as_array)
        .ok_or("no `choices` array")?;
    if choices.is_empty() {
        return Err("`choices` is empty".into());
    }
    let choices = choices
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            let message = choice
                .get("message")
                .ok_or_else(|| format!("choice {i} has no `message`"))?;
            let text = match message.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect(),
                Some(other) => return Err(format!("choice {i} content is {other}, not text")),
            };
            Ok(Choice {
                text,
                finish_reason: choice
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                logprobs: choice.get("logprobs").filter(|l| !l.is_null()).cloned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let count = |key: &str| {
        body.get("usage")
            .and_then(|u| u.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(ChatResponse {
        choices,
        usage: Usage {
            prompt_tokens: count("prompt_tokens"),
            completion_tokens: count("completion_tokens"),
        },
        model: body
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
        cached: false,
        retries: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Message;

    #[test]
    fn debug_never_shows_the_key() {
        let lm = OpenAiCompatible::new("http://x/v1", "m").with_api_key("sk-secret-123");
        let shown = format!("{lm:?}");
        assert!(!shown.contains("sk-secret-123"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(
            lm.endpoint.redact("bad key sk-secret-123"),
            "bad key <redacted>"
        );
    }

    #[test]
    fn body_merges_settings_and_response_format() {
        let lm = OpenAiCompatible::new("http://x/v1", "m")
            .with_temperature(0.0)
            .with_max_tokens(64);
        let request = ChatRequest::new(vec![Message::user("hi")])
            .with_config(
                LmConfig::default()
                    .with_temperature(0.7)
                    .with_n(2)
                    .with_extra("seed", json!(7)),
            )
            .with_response_format(Some(ResponseFormat::JsonObject));
        let body = serde_json::to_value(lm.body(&request)).expect("serializes");
        assert_eq!(body["model"], "m");
        assert_eq!(body["temperature"], json!(0.7f32));
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["n"], 2);
        assert_eq!(body["seed"], 7);
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
        assert!(body.get("extra").is_none());
    }

    #[test]
    fn model_strings_pick_provider_and_wire_name() {
        // Ollama needs no key; the wire name drops the provider prefix.
        let lm = OpenAiCompatible::from_model("ollama_chat/llama3.2").expect("no key needed");
        assert_eq!(lm.wire_model, "llama3.2");
        assert_eq!(lm.model(), "ollama_chat/llama3.2");
        assert!(lm.capabilities().json_schema);
        let lm =
            OpenAiCompatible::from_model("hosted_vllm/Qwen/Qwen2.5-7B").expect("no key needed");
        assert_eq!(lm.wire_model, "Qwen/Qwen2.5-7B");
    }

    #[test]
    fn completion_bodies_parse_or_say_why_not() {
        let ok = parse_completion(
            r#"{"model":"m","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        )
        .expect("valid");
        assert_eq!(ok.text(), Some("hi"));
        assert_eq!(ok.usage.total(), 4);
        assert!(parse_completion("{").unwrap_err().contains("invalid JSON"));
        assert!(
            parse_completion(r#"{"choices":[]}"#)
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            parse_completion(r#"{"id":1}"#)
                .unwrap_err()
                .contains("choices")
        );
        assert!(parse_completion(r#"{"choices":[{"message":{"content":5}}]}"#).is_err());
    }

    #[test]
    fn the_direct_read_and_the_general_one_agree() {
        let bodies = [
            r#"{"model":"m","choices":[{"message":{"content":"a\nb \u00e9"},"finish_reason":"stop","logprobs":{"content":[]}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
            r#"{"choices":[{"message":{"content":null}},{"message":{"content":"two"},"logprobs":null}]}"#,
            r#"{"choices":[{"message":{"role":"assistant"}}],"usage":null,"model":null}"#,
            r#"{"choices":[{"message":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":2}}"#,
        ];
        for body in bodies {
            let direct = serde_json::from_str::<WireCompletion<'_>>(body);
            assert!(direct.is_ok(), "{body}: {:?}", direct.err());
            let (a, b) = (
                parse_completion(body).expect("valid"),
                parse_completion_value(body).expect("valid"),
            );
            assert_eq!(a.choices.len(), b.choices.len(), "{body}");
            for (x, y) in a.choices.iter().zip(&b.choices) {
                assert_eq!(
                    (&x.text, &x.finish_reason, &x.logprobs),
                    (&y.text, &y.finish_reason, &y.logprobs),
                    "{body}"
                );
            }
            assert_eq!((a.usage, &a.model), (b.usage, &b.model), "{body}");
        }
        // Shapes the direct read does not take still parse, the general way.
        let parts = r#"{"choices":[{"message":{"content":[{"type":"text","text":"he"},{"type":"text","text":"llo"}]},"finish_reason":7}],"usage":{"prompt_tokens":1.5}}"#;
        assert!(serde_json::from_str::<WireCompletion<'_>>(parts).is_err());
        let parsed = parse_completion(parts).expect("content parts");
        assert_eq!(parsed.text(), Some("hello"));
        assert_eq!(parsed.choices[0].finish_reason, None);
        assert_eq!(parsed.usage.prompt_tokens, 0);
    }

    #[test]
    fn extra_settings_replace_the_model_and_messages_without_repeating_keys() {
        let lm = OpenAiCompatible::new("http://x/v1", "m");
        let request = ChatRequest::new(vec![Message::user("hi")])
            .with_config(LmConfig::default().with_extra("model", json!("other")));
        let text = serde_json::to_string(&lm.body(&request)).expect("serializes");
        assert_eq!(text.matches("\"model\"").count(), 1, "{text}");
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(body["model"], "other");
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
    }
}
