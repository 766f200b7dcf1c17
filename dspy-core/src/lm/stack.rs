//! [`LmBuilder`]: a provider client with the layers DSPy's `dspy.LM` has around it.

use super::{
    Anthropic, Cache, CachedLm, Configured, LM, Limited, Limits, LmConfig, LmError,
    OpenAiCompatible, RetryPolicy, Retrying,
};
use std::sync::Arc;
use std::time::Duration;

/// Builds an LM the way `dspy.LM("openai/gpt-4o-mini")` does: the provider's client
/// (from a litellm-style `provider/model` string), under a per-minute and concurrency
/// limit if asked, retried on transient failures (3 retries by default), and answered
/// from the process-wide [`Cache::global`] by default.
///
/// Layers, outermost first: cache → retries → limits → settings → client. A cached
/// answer costs no retry, no slot and no rate budget; each retry waits for a slot and
/// for the rate budget like a new call.
///
/// ```no_run
/// # fn run() -> Result<(), dspy::lm::LmError> {
/// use dspy::lm::{LmBuilder, RetryPolicy};
/// let lm = LmBuilder::new("openai/gpt-4o-mini")
///     .temperature(0.0)
///     .max_concurrency(16)
///     .requests_per_minute(500)
///     .retries(RetryPolicy::retries(5))
///     .build()?;
/// dspy::configure_arc(lm);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "call `.build()` to get the LM"]
pub struct LmBuilder {
    source: Source,
    config: LmConfig,
    cache: Option<Arc<Cache>>,
    retry: RetryPolicy,
    limits: Limits,
    timeout: Option<Duration>,
}

enum Source {
    Model(String),
    Client(Arc<dyn LM>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Model(model) => write!(f, "Model({model:?})"),
            Source::Client(lm) => write!(f, "Client({:?})", lm.model()),
        }
    }
}

impl LmBuilder {
    /// An LM for a litellm-style model string: `openai/gpt-4o-mini`,
    /// `anthropic/claude-3-5-haiku-latest`, `ollama_chat/llama3.2`,
    /// `hosted_vllm/Qwen/Qwen2.5-7B-Instruct`… (keys and base URLs from the provider's
    /// environment variables; see [`OpenAiCompatible::from_model`] and
    /// [`Anthropic::from_model`]).
    pub fn new(model: impl Into<String>) -> Self {
        Self::with_source(Source::Model(model.into()))
    }

    /// The layers around a client built by hand (any [`LM`]).
    pub fn from_lm(lm: impl LM + 'static) -> Self {
        Self::with_source(Source::Client(Arc::new(lm)))
    }

    fn with_source(source: Source) -> Self {
        LmBuilder {
            source,
            config: LmConfig::default(),
            cache: Some(Cache::global()),
            retry: RetryPolicy::default(),
            limits: Limits::none(),
            timeout: None,
        }
    }

    /// Settings laid under every request's (a request's own settings win).
    pub fn config(mut self, config: LmConfig) -> Self {
        self.config = config;
        self
    }

    /// A default temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.config.temperature = Some(temperature);
        self
    }

    /// A default token limit.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.config.max_tokens = Some(max_tokens);
        self
    }

    /// Answers kept in `cache` instead of the global one.
    pub fn cache(mut self, cache: Arc<Cache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// No cache (DSPy's `cache=False`).
    pub fn no_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// How failed calls are retried ([`RetryPolicy::none`] for never).
    pub fn retries(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// At most `n` calls in flight.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.limits = self.limits.with_max_concurrency(n);
        self
    }

    /// At most `n` requests started per minute.
    pub fn requests_per_minute(mut self, n: u32) -> Self {
        self.limits = self.limits.with_requests_per_minute(n);
        self
    }

    /// At most `n` tokens per minute.
    pub fn tokens_per_minute(mut self, n: u64) -> Self {
        self.limits = self.limits.with_tokens_per_minute(n);
        self
    }

    /// A per-request timeout for the provider client (default 120 s); for
    /// [`new`](Self::new) only.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The LM, layered. Fails when the model string names a provider that needs a key
    /// and none is set.
    pub fn build(self) -> Result<Arc<dyn LM>, LmError> {
        let mut lm: Arc<dyn LM> = match self.source {
            Source::Client(lm) => lm,
            Source::Model(model) => client(&model, self.timeout)?,
        };
        if self.config != LmConfig::default() {
            lm = Arc::new(Configured::new(lm, self.config));
        }
        if self.limits != Limits::none() {
            lm = Arc::new(Limited::new(lm, self.limits));
        }
        if self.retry.max_retries > 0 {
            lm = Arc::new(Retrying::new(lm, self.retry));
        }
        if let Some(cache) = self.cache {
            lm = Arc::new(CachedLm::new(lm, cache));
        }
        Ok(lm)
    }
}

/// The provider client for a model string.
fn client(model: &str, timeout: Option<Duration>) -> Result<Arc<dyn LM>, LmError> {
    if model.starts_with("anthropic/") {
        let mut lm = Anthropic::from_model(model)?;
        if let Some(timeout) = timeout {
            lm = lm.with_timeout(timeout);
        }
        return Ok(Arc::new(lm));
    }
    let mut lm = OpenAiCompatible::from_model(model)?;
    if let Some(timeout) = timeout {
        lm = lm.with_timeout(timeout);
    }
    Ok(Arc::new(lm))
}
