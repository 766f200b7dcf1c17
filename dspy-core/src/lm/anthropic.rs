//! A client for Anthropic's Messages API (`/v1/messages`), natively: the system prompt
//! apart, alternating turns, a required `max_tokens`, `stop_sequences`, and its event
//! stream.

use super::http::{ApiKey, AuthStyle, Endpoint};
use super::sse;
use super::{
    Capabilities, ChatRequest, ChatResponse, ChatStream, Choice, LM, LmConfig, LmError, Role,
    StreamChunk, Usage,
};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// The API version sent in `anthropic-version`.
const API_VERSION: &str = "2023-06-01";
/// `max_tokens` when neither the request nor the client sets one (the API requires it).
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// An LM behind Anthropic's Messages API.
///
/// System messages become the `system` prompt; consecutive messages of one role are
/// joined (the API wants turns to alternate); `stop` becomes `stop_sequences`; `n > 1`
/// is made as `n` calls at once (the API returns one completion per call). There is no
/// structured-output mode: the adapters ask for JSON in the prompt.
///
/// ```no_run
/// # fn run() -> Result<(), dspy::lm::LmError> {
/// use dspy::lm::Anthropic;
/// // Key from ANTHROPIC_API_KEY, base URL from ANTHROPIC_API_BASE or Anthropic's.
/// let lm = Anthropic::from_model("anthropic/claude-3-5-haiku-latest")?.with_max_tokens(1024);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Anthropic {
    endpoint: Endpoint,
    model: String,
    wire_model: String,
    config: LmConfig,
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anthropic")
            .field("base_url", &self.endpoint.base_url)
            .field("model", &self.model)
            .field("api_key", &self.endpoint.api_key)
            .field("config", &self.config)
            .field("timeout", &self.endpoint.timeout)
            .finish()
    }
}

impl Anthropic {
    /// A client for `model` at `base_url` (the URL that `/messages` is appended to, e.g.
    /// `https://api.anthropic.com/v1`), with no key until told.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        let model = model.into();
        let mut endpoint = Endpoint::new(base_url, AuthStyle::Header("x-api-key"));
        endpoint
            .headers
            .push(("anthropic-version", API_VERSION.to_string()));
        Anthropic {
            endpoint,
            wire_model: model
                .strip_prefix("anthropic/")
                .unwrap_or(&model)
                .to_string(),
            model,
            config: LmConfig::default(),
        }
    }

    /// A client from `anthropic/<model>`: the key from `ANTHROPIC_API_KEY`, the base URL
    /// from `ANTHROPIC_API_BASE` when set. Fails when no key is set.
    pub fn from_model(model: &str) -> Result<Self, LmError> {
        let base = std::env::var("ANTHROPIC_API_BASE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "https://api.anthropic.com/v1".to_string());
        match std::env::var("ANTHROPIC_API_KEY") {
            Ok(key) if !key.trim().is_empty() => Ok(Anthropic::new(base, model).with_api_key(key)),
            _ => Err(LmError::Config(format!(
                "`{model}` needs an API key: set ANTHROPIC_API_KEY or use `Anthropic::new(..).with_api_key(..)`"
            ))),
        }
    }

    /// With an API key (sent as `x-api-key`).
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

    /// With a default token limit (otherwise 4096; the API requires one).
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.config.max_tokens = Some(max_tokens);
        self
    }

    /// With a per-request timeout (default 120 s; for streams, the longest wait for the
    /// next event).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.endpoint.timeout = timeout;
        self
    }

    /// The JSON body sent for `request`.
    fn body(&self, request: &ChatRequest) -> Value {
        let config = self.config.merged(&request.config);
        let mut body = Map::new();
        body.insert("model".into(), Value::from(self.wire_model.clone()));
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body.insert("system".into(), Value::from(system.join("\n\n")));
        }
        let mut turns: Vec<(Role, String)> = Vec::new();
        for message in request.messages.iter().filter(|m| m.role != Role::System) {
            match turns.last_mut() {
                Some((role, text)) if *role == message.role => {
                    text.push_str("\n\n");
                    text.push_str(&message.content);
                }
                _ => turns.push((message.role, message.content.clone())),
            }
        }
        let messages: Vec<Value> = turns
            .into_iter()
            .map(|(role, content)| {
                let role = if role == Role::Assistant {
                    "assistant"
                } else {
                    "user"
                };
                json!({"role": role, "content": content})
            })
            .collect();
        body.insert("messages".into(), Value::Array(messages));
        body.insert(
            "max_tokens".into(),
            Value::from(config.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        if let Some(t) = config.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = config.top_p {
            body.insert("top_p".into(), json!(p));
        }
        if let Some(stop) = config.stop.filter(|s| !s.is_empty()) {
            body.insert("stop_sequences".into(), json!(stop));
        }
        for (key, value) in config.extra {
            body.insert(key, value);
        }
        Value::Object(body)
    }

    async fn one(&self, body: &Value) -> Result<ChatResponse, LmError> {
        let text = self.endpoint.post("messages", body).await?;
        parse_message(&text).map_err(|message| self.endpoint.malformed(message, &text))
    }
}

#[async_trait::async_trait]
impl LM for Anthropic {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let body = self.body(request);
        let n = self.config.merged(&request.config).n.unwrap_or(1).max(1);
        if n == 1 {
            return self.one(&body).await;
        }
        let all = futures::future::try_join_all((0..n).map(|_| self.one(&body))).await?;
        let mut whole = ChatResponse::from_text("");
        whole.choices.clear();
        whole.model = all.first().and_then(|r| r.model.clone());
        for response in all {
            whole.usage.prompt_tokens += response.usage.prompt_tokens;
            whole.usage.completion_tokens += response.usage.completion_tokens;
            whole.choices.extend(response.choices);
        }
        Ok(whole)
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
    }

    fn fingerprint(&self) -> Value {
        json!({ "model": self.model, "config": self.config })
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        let mut body = self.body(request);
        body["stream"] = Value::Bool(true);
        let response = self.endpoint.post_streaming("messages", &body).await?;
        Ok(sse::chat_stream(
            self.endpoint.clone(),
            response,
            AnthropicEvents { prompt_tokens: 0 },
        ))
    }
}

/// Anthropic's stop reasons in OpenAI's words, which the rest of the crate reads.
fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop".into(),
        "max_tokens" => "length".into(),
        other => other.into(),
    }
}

/// Reads a Messages API response body.
fn parse_message(text: &str) -> Result<ChatResponse, String> {
    let body: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no `content` array")?;
    let text: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let count = |key: &str| {
        body.pointer(&format!("/usage/{key}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let mut response = ChatResponse::from_text(text);
    response.choices[0] = Choice {
        text: std::mem::take(&mut response.choices[0].text),
        finish_reason: body
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(finish_reason),
        logprobs: None,
    };
    response.usage = Usage {
        prompt_tokens: count("input_tokens"),
        completion_tokens: count("output_tokens"),
    };
    response.model = body
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(response)
}

/// Anthropic's events: `message_start` (prompt tokens), text deltas, `message_delta`
/// (stop reason, completion tokens), `message_stop`; an `error` event fails the stream.
struct AnthropicEvents {
    prompt_tokens: u64,
}

impl sse::Decoder for AnthropicEvents {
    const END: &'static str = "message_stop";

    fn event(
        &mut self,
        event: &sse::SseEvent,
        endpoint: &Endpoint,
        out: &mut VecDeque<StreamChunk>,
    ) -> Result<bool, LmError> {
        self.handle(&event.data, endpoint, out)
    }
}

impl AnthropicEvents {
    /// Handles one event's data (its `type` field names it); `true` at `message_stop`.
    fn handle(
        &mut self,
        data: &str,
        endpoint: &Endpoint,
        out: &mut VecDeque<StreamChunk>,
    ) -> Result<bool, LmError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| endpoint.malformed(format!("invalid JSON in stream event: {e}"), data))?;
        match value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "message_start" => {
                self.prompt_tokens = value
                    .pointer("/message/usage/input_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
            }
            "content_block_delta" => {
                if value.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta")
                    && let Some(text) = value.pointer("/delta/text").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    out.push_back(StreamChunk::text(text));
                }
            }
            "message_delta" => {
                out.push_back(StreamChunk {
                    text: String::new(),
                    finish_reason: value
                        .pointer("/delta/stop_reason")
                        .and_then(Value::as_str)
                        .map(finish_reason),
                    usage: Some(Usage {
                        prompt_tokens: self.prompt_tokens,
                        completion_tokens: value
                            .pointer("/usage/output_tokens")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                    }),
                });
            }
            "message_stop" => return Ok(true),
            "error" => {
                let kind = value
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                let message = value
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                // An overloaded server mid-stream is what a 529 says before one: retryable.
                let status = match kind {
                    "overloaded_error" => 529,
                    "rate_limit_error" => 429,
                    "api_error" => 500,
                    _ => 400,
                };
                return Err(LmError::Http {
                    endpoint: endpoint.base_url.clone(),
                    status,
                    message: endpoint.redact(&format!("{kind}: {message}")),
                    retry_after: None,
                });
            }
            // `ping`, `content_block_start`, `content_block_stop`, and any new kind.
            _ => {}
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Message;

    #[test]
    fn the_body_puts_system_apart_joins_turns_and_requires_max_tokens() {
        let lm = Anthropic::new("http://x/v1", "anthropic/claude-x").with_temperature(0.0);
        let request = ChatRequest::new(vec![
            Message::system("Be brief."),
            Message::system("Answer in French."),
            Message::user("Q1"),
            Message::assistant("A1"),
            Message::user("Q2a"),
            Message::user("Q2b"),
        ])
        .with_config(
            LmConfig::default()
                .with_stop(["[[ ## completed ## ]]"])
                .with_rollout_id(3)
                .with_cache(false)
                .with_seed(1)
                .with_extra("top_k", json!(5)),
        );
        let body = lm.body(&request);
        assert_eq!(body["model"], "claude-x");
        assert_eq!(body["system"], "Be brief.\n\nAnswer in French.");
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": "Q1"},
                {"role": "assistant", "content": "A1"},
                {"role": "user", "content": "Q2a\n\nQ2b"}
            ])
        );
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["temperature"], json!(0.0));
        assert_eq!(body["stop_sequences"], json!(["[[ ## completed ## ]]"]));
        assert_eq!(body["top_k"], 5);
        for absent in [
            "rollout_id",
            "cache",
            "seed",
            "n",
            "stop",
            "response_format",
        ] {
            assert!(body.get(absent).is_none(), "{absent} in {body}");
        }
    }

    #[test]
    fn responses_parse_or_say_why_not() {
        let ok = parse_message(
            r#"{"model":"claude-x","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Paris"}],"stop_reason":"max_tokens","usage":{"input_tokens":12,"output_tokens":3}}"#,
        )
        .expect("valid");
        assert_eq!(ok.text(), Some("Paris"));
        assert_eq!(ok.choices[0].finish_reason.as_deref(), Some("length"));
        assert_eq!(
            (ok.usage.prompt_tokens, ok.usage.completion_tokens),
            (12, 3)
        );
        assert!(parse_message("{").unwrap_err().contains("invalid JSON"));
        assert!(
            parse_message(r#"{"id":1}"#)
                .unwrap_err()
                .contains("content")
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let lm = Anthropic::new("http://x/v1", "m").with_api_key("sk-ant-secret-77");
        let shown = format!("{lm:?}");
        assert!(!shown.contains("sk-ant-secret-77"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
