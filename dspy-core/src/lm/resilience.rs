//! Retries with backoff, and limits on concurrency and on requests and tokens per minute:
//! each an LM wrapping another.

use super::{ChatRequest, ChatResponse, ChatStream, LM, LmError};
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// When and how long to wait before trying a failed call again.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Tries after the first (DSPy's `num_retries`, default 3).
    pub max_retries: u32,
    /// The wait before the first retry; it doubles at each retry (default 1 s).
    pub initial_backoff: Duration,
    /// The longest wait computed by backoff (default 30 s).
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a provider asking for more is not retried
    /// (default 120 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// `max_retries` retries with the default waits.
    pub fn retries(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        }
    }

    /// No retries.
    pub fn none() -> Self {
        Self::retries(0)
    }

    /// With this first backoff.
    pub fn with_initial_backoff(mut self, wait: Duration) -> Self {
        self.initial_backoff = wait;
        self
    }

    /// With this longest backoff.
    pub fn with_max_backoff(mut self, wait: Duration) -> Self {
        self.max_backoff = wait;
        self
    }

    /// The wait before retry number `retry` (from 0) after `error`, or `None` when the
    /// error is not worth retrying. A `Retry-After` from the provider is waited exactly;
    /// otherwise exponential backoff with jitter (between half and all of
    /// `initial × 2^retry`, capped at `max_backoff`), so that many clients refused at
    /// once do not come back at once.
    pub fn wait_before(&self, retry: u32, error: &LmError) -> Option<Duration> {
        if retry >= self.max_retries || !error.is_retryable() {
            return None;
        }
        if let LmError::Http {
            retry_after: Some(wait),
            ..
        } = error
        {
            return (*wait <= self.max_retry_after).then_some(*wait);
        }
        let full = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_backoff);
        Some(full.mul_f64(0.5 + 0.5 * jitter()))
    }
}

/// A number in [0, 1) that differs from call to call.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    // std's RandomState is seeded per process and per instance: enough for jitter.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// An LM that tries again, per its [`RetryPolicy`], when a call fails in a way that may
/// pass (429, 5xx, timeouts, broken connections). Other errors (400, 401, a malformed
/// body) come back at once. When the retries run out, the error is
/// [`LmError::GaveUp`], carrying the last failure.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::lm::{ChatRequest, LmError, Message, RetryPolicy, Retrying};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let flaky = ScriptedLm::with_results([
///     Err(LmError::Timeout { endpoint: "x".into(), after: Duration::from_secs(1) }),
///     Ok("fine".into()),
/// ]);
/// let policy = RetryPolicy::retries(2).with_initial_backoff(Duration::from_millis(1));
/// let lm = Retrying::new(Arc::new(flaky), policy);
/// let reply = lm.chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap();
/// assert_eq!((reply.text(), reply.retries), (Some("fine"), 1));
/// # });
/// ```
#[derive(Clone)]
pub struct Retrying {
    inner: Arc<dyn LM>,
    policy: RetryPolicy,
}

impl std::fmt::Debug for Retrying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrying")
            .field("model", &self.inner.model())
            .field("policy", &self.policy)
            .finish()
    }
}

impl Retrying {
    /// `inner`, retried per `policy`.
    pub fn new(inner: Arc<dyn LM>, policy: RetryPolicy) -> Self {
        Retrying { inner, policy }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries run out; returns
    /// the result and the number of retries made.
    async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<(T, u32), LmError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LmError>>,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok((value, retry)),
                Err(error) => match self.policy.wait_before(retry, &error) {
                    Some(wait) => {
                        tracing::warn!(
                            model = self.inner.model(),
                            retry = retry + 1,
                            wait_ms = wait.as_millis() as u64,
                            %error,
                            "LM call failed; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        retry += 1;
                    }
                    None if retry > 0 && error.is_retryable() => {
                        return Err(LmError::GaveUp {
                            attempts: retry + 1,
                            last: Box::new(error),
                        });
                    }
                    None => return Err(error),
                },
            }
        }
    }
}

#[async_trait::async_trait]
impl LM for Retrying {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let (mut response, retries) = self.run(|| self.inner.chat(request)).await?;
        response.retries += retries;
        Ok(response)
    }

    pass_through_to_inner!();

    /// Retries opening the stream; once chunks flow, a failure ends the stream (its
    /// chunks were already passed on).
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        let (stream, _) = self.run(|| self.inner.chat_stream(request)).await?;
        Ok(stream)
    }
}

/// Limits on the calls an LM takes: at most so many at once, so many requests and so many
/// tokens per minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Calls in flight at once.
    pub max_concurrency: Option<usize>,
    /// Requests started per minute.
    pub requests_per_minute: Option<u32>,
    /// Tokens (prompt + completion) per minute. A call is let through while the minute's
    /// budget is not spent, and its tokens are charged when it returns.
    pub tokens_per_minute: Option<u64>,
}

impl Limits {
    /// No limits.
    pub fn none() -> Self {
        Self::default()
    }
    /// With at most `n` calls in flight.
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n.max(1));
        self
    }
    /// With at most `n` requests started per minute.
    pub fn with_requests_per_minute(mut self, n: u32) -> Self {
        self.requests_per_minute = Some(n.max(1));
        self
    }
    /// With at most `n` tokens per minute.
    pub fn with_tokens_per_minute(mut self, n: u64) -> Self {
        self.tokens_per_minute = Some(n.max(1));
        self
    }
}

/// A token bucket holding up to a minute's allowance, refilled continuously.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    fn per_minute(n: f64) -> Self {
        Bucket {
            capacity: n,
            per_second: n / 60.0,
            level: n,
            updated: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
    }

    /// Takes `cost` if the level reaches it (or, for a debt-style budget, is positive);
    /// else how long until it would.
    fn take(&mut self, cost: f64) -> Result<(), Duration> {
        self.refill();
        let needed = cost.max(f64::MIN_POSITIVE);
        if self.level >= needed {
            self.level -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (needed - self.level) / self.per_second,
            ))
        }
    }
}

async fn take(bucket: &Mutex<Bucket>, cost: f64) {
    loop {
        let wait = match bucket.lock() {
            Ok(mut bucket) => match bucket.take(cost) {
                Ok(()) => return,
                Err(wait) => wait,
            },
            Err(_) => return,
        };
        tokio::time::sleep(wait).await;
    }
}

/// An LM that keeps to [`Limits`]: calls past the concurrency limit wait for a slot, and
/// calls past a per-minute budget wait until it refills.
///
/// ```
/// use dspy::prelude::*;
/// use dspy::lm::{Limited, Limits};
/// use std::sync::Arc;
/// let lm = Limited::new(
///     Arc::new(ScriptedLm::new(["..."])),
///     Limits::none().with_max_concurrency(8).with_requests_per_minute(500),
/// );
/// ```
#[derive(Clone)]
pub struct Limited {
    inner: Arc<dyn LM>,
    limits: Limits,
    slots: Option<Arc<Semaphore>>,
    requests: Option<Arc<Mutex<Bucket>>>,
    tokens: Option<Arc<Mutex<Bucket>>>,
}

impl std::fmt::Debug for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limited")
            .field("model", &self.inner.model())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Limited {
    /// `inner`, kept to `limits`.
    pub fn new(inner: Arc<dyn LM>, limits: Limits) -> Self {
        Limited {
            inner,
            limits,
            slots: limits.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
            requests: limits
                .requests_per_minute
                .map(|n| Arc::new(Mutex::new(Bucket::per_minute(f64::from(n))))),
            tokens: limits
                .tokens_per_minute
                .map(|n| Arc::new(Mutex::new(Bucket::per_minute(n as f64)))),
        }
    }

    /// Waits for a slot and for the per-minute budgets.
    async fn admit(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, LmError> {
        let permit = match &self.slots {
            Some(slots) => Some(
                Arc::clone(slots)
                    .acquire_owned()
                    .await
                    .map_err(|e| LmError::Other(format!("concurrency limit closed: {e}")))?,
            ),
            None => None,
        };
        if let Some(requests) = &self.requests {
            take(requests, 1.0).await;
        }
        if let Some(tokens) = &self.tokens {
            take(tokens, 0.0).await;
        }
        Ok(permit)
    }

    fn charge(tokens: &Option<Arc<Mutex<Bucket>>>, used: u64) {
        if let Some(tokens) = tokens
            && let Ok(mut bucket) = tokens.lock()
        {
            bucket.refill();
            bucket.level -= used as f64;
        }
    }
}

#[async_trait::async_trait]
impl LM for Limited {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let _permit = self.admit().await?;
        let response = self.inner.chat(request).await?;
        Self::charge(&self.tokens, response.usage.total());
        Ok(response)
    }

    pass_through_to_inner!();

    /// The slot is held until the stream ends; its tokens are charged then.
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        let permit = self.admit().await?;
        let stream = self.inner.chat_stream(request).await?;
        let tokens = self.tokens.clone();
        Ok(ChatStream::new(futures::stream::unfold(
            Some((stream, permit, tokens, 0u64)),
            |state| async move {
                let (mut stream, permit, tokens, mut used) = state?;
                match stream.next().await {
                    Some(item) => {
                        if let Ok(chunk) = &item
                            && let Some(usage) = chunk.usage
                        {
                            used = usage.total();
                        }
                        Some((item, Some((stream, permit, tokens, used))))
                    }
                    None => {
                        Limited::charge(&tokens, used);
                        drop(permit);
                        None
                    }
                }
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{Message, ScriptedLm};

    fn request() -> ChatRequest {
        ChatRequest::new(vec![Message::user("hi")])
    }

    fn http(status: u16, retry_after: Option<Duration>) -> LmError {
        LmError::Http {
            endpoint: "e".into(),
            status,
            message: "m".into(),
            retry_after,
        }
    }

    #[test]
    fn waits_follow_the_policy() {
        let policy = RetryPolicy::retries(3);
        assert_eq!(policy.wait_before(0, &http(400, None)), None);
        assert_eq!(
            policy.wait_before(0, &http(429, Some(Duration::from_secs(7)))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            policy.wait_before(0, &http(429, Some(Duration::from_secs(600)))),
            None
        );
        for retry in 0..3 {
            let wait = policy
                .wait_before(retry, &http(503, None))
                .expect("retried");
            let full = Duration::from_secs(1 << retry);
            assert!(
                wait >= full / 2 && wait <= full,
                "{wait:?} for retry {retry}"
            );
        }
        assert_eq!(policy.wait_before(3, &http(503, None)), None);
        let capped = RetryPolicy::retries(10).with_max_backoff(Duration::from_secs(2));
        assert!(
            capped.wait_before(8, &http(500, None)).expect("retried") <= Duration::from_secs(2)
        );
    }

    #[tokio::test]
    async fn retries_run_out_into_gave_up_and_client_errors_do_not_retry() {
        let fast = RetryPolicy::retries(2).with_initial_backoff(Duration::from_millis(1));
        let down = Arc::new(ScriptedLm::from_fn(|_| Err(http(503, None))));
        let error = Retrying::new(down.clone(), fast)
            .chat(&request())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, LmError::GaveUp { attempts: 3, last } if matches!(**last, LmError::Http { status: 503, .. })),
            "{error:?}"
        );
        assert_eq!(down.requests().len(), 3);
        let refused = Arc::new(ScriptedLm::from_fn(|_| Err(http(401, None))));
        let error = Retrying::new(refused.clone(), fast)
            .chat(&request())
            .await
            .unwrap_err();
        assert!(matches!(error, LmError::Http { status: 401, .. }));
        assert_eq!(refused.requests().len(), 1);
    }

    #[tokio::test]
    async fn concurrency_is_capped() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Slow {
            now: AtomicUsize,
            peak: AtomicUsize,
        }
        #[async_trait::async_trait]
        impl LM for Slow {
            async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, LmError> {
                let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                self.now.fetch_sub(1, Ordering::SeqCst);
                Ok(ChatResponse::from_text("ok"))
            }
            fn model(&self) -> &str {
                "slow"
            }
        }
        let slow = Arc::new(Slow {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        });
        let lm = Limited::new(slow.clone(), Limits::none().with_max_concurrency(3));
        let request = request();
        let calls = (0..12).map(|_| lm.chat(&request));
        let results = futures::future::join_all(calls).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(slow.peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_spread_calls_out() {
        let lm = Limited::new(
            Arc::new(ScriptedLm::from_fn(|_| Ok("ok".into()))),
            Limits::none().with_requests_per_minute(60),
        );
        let started = tokio::time::Instant::now();
        // The first minute's 60 go at once; the next 3 wait a second each.
        for _ in 0..63 {
            lm.chat(&request()).await.expect("answers");
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(2900) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
    }
}
