//! The HTTP side shared by the provider clients: keys that never show, POSTs whose failures
//! become typed [`LmError`]s, and streamed bodies read chunk by chunk under an idle timeout.

use super::LmError;
use crate::error::clip;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// An API key. Its `Debug` shows only that a key is set; it is never logged, put into an
/// error, or saved.
#[derive(Clone)]
pub(crate) struct ApiKey(pub(crate) String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How the key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthStyle {
    /// `Authorization: Bearer <key>` (OpenAI and most others).
    Bearer,
    /// `<header>: <key>` (Anthropic's `x-api-key`).
    Header(&'static str),
}

/// Where requests go and how: base URL, key, fixed headers, timeout.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) client: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) auth: AuthStyle,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) timeout: Duration,
    /// `{base_url}/{path}` parsed, by path: parsing a URL for every call costs more than
    /// the rest of building the request.
    urls: std::sync::Arc<std::sync::RwLock<Vec<(String, reqwest::Url)>>>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Endpoint {
    pub(crate) fn new(base_url: impl Into<String>, auth: AuthStyle) -> Self {
        Endpoint {
            client: reqwest::Client::new(),
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key: None,
            auth,
            headers: Vec::new(),
            timeout: Duration::from_secs(120),
            urls: Default::default(),
        }
    }

    /// `{base_url}/{path}`, parsed once; `None` when it does not parse (the request then
    /// gets the text, and its send fails with reqwest's error, as before any caching).
    fn url(&self, path: &str) -> Option<reqwest::Url> {
        if let Ok(urls) = self.urls.read()
            && let Some((_, url)) = urls.iter().find(|(p, _)| p == path)
        {
            return Some(url.clone());
        }
        let url = reqwest::Url::parse(&format!("{}/{path}", self.base_url)).ok()?;
        if let Ok(mut urls) = self.urls.write() {
            urls.push((path.to_string(), url.clone()));
        }
        Some(url)
    }

    fn request<B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> reqwest::RequestBuilder {
        let http = match self.url(path) {
            Some(url) => self.client.post(url),
            None => self.client.post(format!("{}/{path}", self.base_url)),
        };
        let mut http = match json_bytes(body) {
            Ok(bytes) => http
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes),
            // reqwest's own serialization then fails the send with its error.
            Err(_) => http.json(body),
        };
        if let Some(ApiKey(key)) = &self.api_key {
            http = match self.auth {
                AuthStyle::Bearer => http.bearer_auth(key),
                AuthStyle::Header(name) => http.header(name, key),
            };
        }
        for (name, value) in &self.headers {
            http = http.header(*name, value);
        }
        http
    }

    /// POSTs `body` to `{base_url}/{path}` and returns the body of a 2xx answer; any other
    /// status is an [`LmError::Http`] carrying the provider's message.
    pub(crate) async fn post<B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<String, LmError> {
        let response = self
            .request(path, body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        // `Bytes` held once becomes a `Vec` without a copy.
        let text = String::from_utf8(Vec::from(bytes))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        if !status.is_success() {
            return Err(self.status_error(status.as_u16(), &text, retry_after));
        }
        Ok(text)
    }

    /// POSTs `body` and returns the response once a 2xx status and headers have arrived
    /// (within the timeout), for the caller to read as a stream with [`Self::next_chunk`].
    pub(crate) async fn post_streaming<B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<reqwest::Response, LmError> {
        let send = self.request(path, body).send();
        let response = match tokio::time::timeout(self.timeout, send).await {
            Err(_) => return Err(self.timeout_error()),
            Ok(result) => result.map_err(|e| self.transport_error(&e))?,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(&response);
        let bytes = match tokio::time::timeout(self.timeout, response.bytes()).await {
            Err(_) => return Err(self.timeout_error()),
            Ok(result) => result.map_err(|e| self.transport_error(&e))?,
        };
        Err(self.status_error(
            status.as_u16(),
            &String::from_utf8_lossy(&bytes),
            retry_after,
        ))
    }

    /// The next piece of a streamed body; `None` at its end. Waiting longer than the
    /// timeout for a piece is an [`LmError::Timeout`].
    pub(crate) async fn next_chunk(
        &self,
        response: &mut reqwest::Response,
    ) -> Result<Option<Vec<u8>>, LmError> {
        match tokio::time::timeout(self.timeout, response.chunk()).await {
            Err(_) => Err(self.timeout_error()),
            Ok(result) => result
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .map_err(|e| self.transport_error(&e)),
        }
    }

    fn status_error(&self, status: u16, text: &str, retry_after: Option<Duration>) -> LmError {
        let message = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .or_else(|| v.get("error"))
                    .or_else(|| v.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| clip(text.trim(), 300));
        LmError::Http {
            endpoint: self.base_url.clone(),
            status,
            message: self.redact(&message),
            retry_after,
        }
    }

    /// A 2xx body that is not what was expected.
    pub(crate) fn malformed(&self, message: impl Into<String>, body: &str) -> LmError {
        LmError::MalformedResponse {
            endpoint: self.base_url.clone(),
            message: self.redact(&message.into()),
            body: self.redact(&clip(body, 300)),
        }
    }

    /// Removes the key from text that may echo it (a provider's error message).
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(ApiKey(key)) if key.len() >= 4 => text.replace(key.as_str(), "<redacted>"),
            _ => text.to_string(),
        }
    }

    fn timeout_error(&self) -> LmError {
        LmError::Timeout {
            endpoint: self.base_url.clone(),
            after: self.timeout,
        }
    }

    fn transport_error(&self, err: &reqwest::Error) -> LmError {
        if err.is_timeout() {
            return self.timeout_error();
        }
        // reqwest's Display names only the URL (no headers); the chain says why.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        LmError::Transport {
            endpoint: self.base_url.clone(),
            message: self.redact(&message),
        }
    }
}

/// `body` as JSON, in one allocation of its size: written into a buffer kept per thread,
/// then copied out. serde_json growing a fresh `Vec` from nothing reallocates a prompt's
/// bytes about ten times, and at many calls in flight those reallocations of large chunks
/// kept glibc's allocator consolidating.
fn json_bytes<B: serde::Serialize + ?Sized>(body: &B) -> Result<Vec<u8>, serde_json::Error> {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|buffer| {
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return serde_json::to_vec(body);
        };
        buffer.clear();
        let written = serde_json::to_writer(&mut *buffer, body).map(|()| buffer.to_vec());
        if buffer.capacity() > 1 << 20 {
            // A rare huge body does not stay held.
            *buffer = Vec::new();
        }
        written
    })
}

/// The `Retry-After` header in seconds, when it is a number.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}
