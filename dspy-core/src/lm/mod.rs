//! Language models: the [`LM`] trait, its request and response types, and the clients.
//!
//! - [`OpenAiCompatible`]: any server speaking OpenAI's chat-completions protocol
//!   (OpenAI, vLLM, llama.cpp server, Ollama, Groq, Together, OpenRouter…).
//! - [`ScriptedLm`]: answers from a script or a closure, for tests.

/// The methods of a wrapper `LM` that only pass through to its `inner` LM.
macro_rules! pass_through_to_inner {
    () => {
        fn model(&self) -> &str {
            self.inner.model()
        }
        fn capabilities(&self) -> $crate::lm::Capabilities {
            self.inner.capabilities()
        }
        fn fingerprint(&self) -> serde_json::Value {
            self.inner.fingerprint()
        }
    };
}

mod anthropic;
mod cache;
pub mod history;
mod http;
#[cfg(feature = "local")]
mod local;
mod openai;
mod resilience;
mod schema;
mod scripted;
mod sse;
mod stack;

pub use anthropic::Anthropic;
pub use cache::{Cache, CacheError, CacheKey, CacheStats, CachedLm, DiskCheck};
pub use history::{HistoryEntry, inspect_history};
#[cfg(feature = "local")]
pub use local::{ChatFormat, LocalInfo, LocalLm, LocalLmBuilder};
pub use openai::OpenAiCompatible;
pub use resilience::{Limited, Limits, RetryPolicy, Retrying};
pub use schema::{SchemaDialect, StrictSchemaError, strict_schema};
pub use scripted::ScriptedLm;
pub use stack::LmBuilder;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A chat language model.
///
/// One method does the work; everything else (cache, retries, limits) wraps an `LM` as
/// another `LM`. Implementations must be cheap to share: predictors hold them as
/// `Arc<dyn LM>`.
///
/// ```
/// use dspy::prelude::*;
/// use dspy::lm::{ChatRequest, ChatResponse, LmError};
///
/// /// An LM that always answers with the same text.
/// struct Parrot(String);
///
/// #[dspy::async_trait]
/// impl LM for Parrot {
///     async fn chat(&self, _request: &ChatRequest) -> Result<ChatResponse, LmError> {
///         Ok(ChatResponse::from_text(self.0.clone()))
///     }
///     fn model(&self) -> &str { "parrot" }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a language model",
    label = "expected a type implementing `dspy::LM`",
    note = "use `OpenAiCompatible`, `ScriptedLm`, or implement `LM` for your client"
)]
#[async_trait::async_trait]
pub trait LM: Send + Sync {
    /// Sends one chat request and returns the completions.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError>;

    /// The model's name, as `provider/model` where known (`openai/gpt-4o-mini`).
    fn model(&self) -> &str;

    /// What the model supports beyond plain chat.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Everything besides the request that decides the answer (the model, default
    /// settings an LM lays under each request), as JSON: part of the cache key, so two LMs
    /// that would answer a request differently never share a cache entry. Never holds keys
    /// or endpoints. The default is the model name.
    fn fingerprint(&self) -> Value {
        serde_json::json!({ "model": self.model() })
    }

    /// Sends one chat request and streams the first completion's text as it is generated.
    ///
    /// The default calls [`chat`](LM::chat) and yields its whole text as one chunk;
    /// clients that can stream (OpenAI-compatible, Anthropic) override it.
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        let response = self.chat(request).await?;
        Ok(ChatStream::from_response(response))
    }
}

/// A piece of a streamed completion.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StreamChunk {
    /// Text generated since the previous chunk (may be empty).
    pub text: String,
    /// Why generation stopped, on the chunk that says so.
    pub finish_reason: Option<String>,
    /// Token counts, on the chunk that carries them (usually the last).
    pub usage: Option<Usage>,
}

impl StreamChunk {
    /// A chunk of text.
    pub fn text(text: impl Into<String>) -> Self {
        StreamChunk {
            text: text.into(),
            ..StreamChunk::default()
        }
    }
}

/// A completion as it streams: chunks of text, then the end of the stream. An error ends
/// it (a cut connection, a stalled server, a malformed event).
pub struct ChatStream {
    inner: Pin<Box<dyn Stream<Item = Result<StreamChunk, LmError>> + Send>>,
    cached: bool,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("cached", &self.cached)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// A stream over these chunks.
    pub fn new(chunks: impl Stream<Item = Result<StreamChunk, LmError>> + Send + 'static) -> Self {
        ChatStream {
            inner: Box::pin(chunks),
            cached: false,
        }
    }

    /// A whole response as a one-chunk stream.
    pub fn from_response(response: ChatResponse) -> Self {
        let cached = response.cached;
        let chunk = StreamChunk {
            finish_reason: response
                .choices
                .first()
                .and_then(|c| c.finish_reason.clone()),
            text: response.text().unwrap_or_default().to_string(),
            usage: Some(response.usage),
        };
        ChatStream {
            inner: Box::pin(futures::stream::iter([Ok(chunk)])),
            cached,
        }
    }

    /// Whether the text comes from a cache rather than the model.
    pub fn is_cached(&self) -> bool {
        self.cached
    }

    /// Reads the stream to its end and puts the chunks together.
    pub async fn collect(mut self) -> Result<ChatResponse, LmError> {
        let mut text = String::new();
        let mut finish_reason = None;
        let mut usage = Usage::default();
        while let Some(chunk) = self.inner.next().await {
            let chunk = chunk?;
            text.push_str(&chunk.text);
            if chunk.finish_reason.is_some() {
                finish_reason = chunk.finish_reason;
            }
            if let Some(u) = chunk.usage {
                usage = u;
            }
        }
        let mut response = ChatResponse::from_text(text);
        response.choices[0].finish_reason = finish_reason;
        response.usage = usage;
        response.cached = self.cached;
        Ok(response)
    }

    pub(crate) fn mark_cached(mut self) -> Self {
        self.cached = true;
        self
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamChunk, LmError>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[async_trait::async_trait]
impl<T: LM + ?Sized> LM for Arc<T> {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        (**self).chat(request).await
    }
    fn model(&self) -> &str {
        (**self).model()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn fingerprint(&self) -> Value {
        (**self).fingerprint()
    }
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        (**self).chat_stream(request).await
    }
}

#[async_trait::async_trait]
impl<T: LM + ?Sized> LM for &T {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        (**self).chat(request).await
    }
    fn model(&self) -> &str {
        (**self).model()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn fingerprint(&self) -> Value {
        (**self).fingerprint()
    }
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        (**self).chat_stream(request).await
    }
}

/// An LM with settings of its own laid under every request's (DSPy's
/// `lm.copy(temperature=1.0)`): what a request sets still wins.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::lm::{ChatRequest, Configured, Message};
/// use std::sync::Arc;
///
/// let seen = ScriptedLm::from_fn(|req| Ok(format!("{:?}", req.config.temperature)));
/// let hot = Configured::new(Arc::new(seen), LmConfig::default().with_temperature(1.0));
/// let reply = hot.chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap();
/// assert_eq!(reply.text(), Some("Some(1.0)"));
/// # });
/// ```
#[derive(Clone)]
pub struct Configured {
    inner: Arc<dyn LM>,
    config: LmConfig,
}

impl Configured {
    /// `inner` with `config` under each request's own settings.
    pub fn new(inner: Arc<dyn LM>, config: LmConfig) -> Self {
        Configured { inner, config }
    }
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configured")
            .field("model", &self.inner.model())
            .field("config", &self.config)
            .finish()
    }
}

#[async_trait::async_trait]
impl LM for Configured {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let mut request = request.clone();
        request.config = self.config.merged(&request.config);
        self.inner.chat(&request).await
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn fingerprint(&self) -> Value {
        serde_json::json!({ "lm": self.inner.fingerprint(), "config": self.config })
    }
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        let mut request = request.clone();
        request.config = self.config.merged(&request.config);
        self.inner.chat_stream(&request).await
    }
}

/// What an LM supports beyond plain chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The endpoint accepts `response_format: {"type": "json_object"}`.
    pub json_object: bool,
    /// The endpoint accepts `response_format: {"type": "json_schema", …}` (structured output).
    pub json_schema: bool,
}

impl Capabilities {
    /// No structured output at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// JSON mode and JSON-schema structured output.
    pub fn structured() -> Self {
        Capabilities {
            json_object: true,
            json_schema: true,
        }
    }
}

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Sampling and length settings. Unset fields are left to the LM's defaults; a request's
/// settings override the LM's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LmConfig {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Most tokens to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Number of completions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Sampling seed, where the provider honours one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Provider-specific parameters, sent as given (e.g. `reasoning_effort`, `logprobs`).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
    pub extra: serde_json::Map<String, Value>,
    /// A rollout number, as DSPy's `rollout_id`: part of the cache key but never sent, so
    /// the same request under another rollout is a fresh call (how optimizers sample a
    /// cached LM again at temperature 1.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<u64>,
    /// `Some(false)` reads and writes no cache for these calls (DSPy's `cache=False`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
}

impl LmConfig {
    /// `self` with every setting that `over` has replaced by `over`'s.
    pub fn merged(&self, over: &LmConfig) -> LmConfig {
        let mut extra = self.extra.clone();
        extra.extend(over.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        LmConfig {
            temperature: over.temperature.or(self.temperature),
            top_p: over.top_p.or(self.top_p),
            max_tokens: over.max_tokens.or(self.max_tokens),
            n: over.n.or(self.n),
            // Stop sequences add up: the LM's own and the request's both end generation.
            stop: match (&self.stop, &over.stop) {
                (Some(a), Some(b)) => Some(a.iter().chain(b).fold(Vec::new(), |mut all, s| {
                    if !all.contains(s) {
                        all.push(s.clone());
                    }
                    all
                })),
                (a, b) => b.clone().or_else(|| a.clone()),
            },
            seed: over.seed.or(self.seed),
            extra,
            rollout_id: over.rollout_id.or(self.rollout_id),
            cache: over.cache.or(self.cache),
        }
    }

    /// With a rollout number (part of the cache key, never sent).
    pub fn with_rollout_id(mut self, rollout_id: u64) -> Self {
        self.rollout_id = Some(rollout_id);
        self
    }
    /// With the cache on or off for these calls.
    pub fn with_cache(mut self, on: bool) -> Self {
        self.cache = Some(on);
        self
    }

    /// With a temperature.
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }
    /// With a token limit.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }
    /// With a number of completions.
    pub fn with_n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }
    /// With stop sequences.
    pub fn with_stop(mut self, stop: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.stop = Some(stop.into_iter().map(Into::into).collect());
        self
    }
    /// With a sampling seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// With a provider-specific parameter.
    pub fn with_extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

/// How the LM is asked to shape its answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// A JSON object fitting a schema (structured output).
    JsonSchema {
        /// A name for the schema.
        name: String,
        /// The schema.
        schema: Value,
    },
}

/// One request to an LM.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// Settings for this request; they override the LM's own.
    pub config: LmConfig,
    /// Structured-output request, when the adapter makes one.
    pub response_format: Option<ResponseFormat>,
}

impl ChatRequest {
    /// A request with default settings.
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            config: LmConfig::default(),
            response_format: None,
        }
    }
    /// With settings.
    pub fn with_config(mut self, config: LmConfig) -> Self {
        self.config = config;
        self
    }
    /// With a response format.
    pub fn with_response_format(mut self, format: Option<ResponseFormat>) -> Self {
        self.response_format = format;
        self
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Choice {
    /// The generated text.
    pub text: String,
    /// Why generation stopped (`stop`, `length`…), when the provider says.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token log-probabilities, as the provider sent them, when asked for
    /// (`LmConfig::with_extra("logprobs", true)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

/// What an LM returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The completions; at least one.
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default)]
    pub usage: Usage,
    /// The model that answered, when the provider says.
    #[serde(default)]
    pub model: Option<String>,
    /// Whether it came from a cache (then `usage` is what the original call took).
    #[serde(skip)]
    pub cached: bool,
    /// Failed attempts retried before this answer.
    #[serde(skip)]
    pub retries: u32,
}

impl ChatResponse {
    /// A response with one completion and no usage.
    pub fn from_text(text: impl Into<String>) -> Self {
        ChatResponse {
            choices: vec![Choice {
                text: text.into(),
                finish_reason: Some("stop".into()),
                logprobs: None,
            }],
            usage: Usage::default(),
            model: None,
            cached: false,
            retries: 0,
        }
    }

    /// The first completion's text.
    pub fn text(&self) -> Option<&str> {
        self.choices.first().map(|c| c.text.as_str())
    }
}

/// Why an LM call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LmError {
    /// The provider answered with an HTTP error status.
    #[error("{endpoint} returned HTTP {status}: {message}")]
    Http {
        /// Where the request went (base URL, never a key).
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The provider's message (its `error.message`, or the body).
        message: String,
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer in time.
    #[error("request to {endpoint} timed out after {after:?}")]
    Timeout {
        /// Where the request went.
        endpoint: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The connection failed (refused, reset, DNS…).
    #[error("could not reach {endpoint}: {message}")]
    Transport {
        /// Where the request went.
        endpoint: String,
        /// What failed.
        message: String,
    },
    /// The provider answered 2xx, but not with a chat completion.
    #[error("{endpoint} sent a response that is not a chat completion ({message}); body: {body:?}")]
    MalformedResponse {
        /// Where the request went.
        endpoint: String,
        /// What is wrong with it.
        message: String,
        /// The start of the body.
        body: String,
    },
    /// The prompt does not fit the model's context window.
    #[error("the prompt has {prompt_tokens} tokens; the context window holds {limit}")]
    ContextWindowExceeded {
        /// Tokens in the prompt.
        prompt_tokens: u64,
        /// Tokens the context holds.
        limit: u64,
    },
    /// The client is misconfigured (no key, unknown provider…).
    #[error("LM configuration: {0}")]
    Config(String),
    /// Retries ran out: every attempt failed in a way that might have passed.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made (the first and its retries).
        attempts: u32,
        /// The last attempt's failure.
        last: Box<LmError>,
    },
    /// Any other failure (e.g. a scripted LM out of answers).
    #[error("{0}")]
    Other(String),
}

impl LmError {
    /// Whether trying again may succeed (rate limits, server errors, timeouts, transport).
    pub fn is_retryable(&self) -> bool {
        match self {
            LmError::Http { status, .. } => *status == 429 || *status >= 500,
            LmError::Timeout { .. } | LmError::Transport { .. } => true,
            _ => false,
        }
    }

    /// The failure itself: for [`LmError::GaveUp`], the last attempt's; else `self`.
    pub fn root(&self) -> &LmError {
        match self {
            LmError::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _lm_is_object_safe(_: &dyn LM) {}

    #[test]
    fn request_settings_override_lm_settings() {
        let base = LmConfig::default()
            .with_temperature(0.0)
            .with_max_tokens(100)
            .with_extra("a", Value::from(1));
        let over = LmConfig::default()
            .with_temperature(0.7)
            .with_extra("b", Value::from(2));
        let merged = base
            .clone()
            .with_stop(["a", "b"])
            .merged(&over.clone().with_stop(["b", "c"]));
        assert_eq!(merged.stop, Some(vec!["a".into(), "b".into(), "c".into()]));
        let merged = base.merged(&over);
        assert_eq!(merged.temperature, Some(0.7));
        assert_eq!(merged.max_tokens, Some(100));
        assert_eq!(merged.extra.len(), 2);
    }
}
