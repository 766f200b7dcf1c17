//! A loopback server speaking OpenAI's chat-completions protocol, for tests, examples and
//! benchmarks (feature `testing`).
//!
//! It answers each request with whatever a responder says: a completion, an HTTP error, raw
//! bytes (a truncated or malformed body), a stall, or a dropped connection. It records the
//! requests it receives, so a test can check what was sent.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//! use dspy::testing::{Reply, StubServer};
//!
//! let server = StubServer::start(|_request| Reply::completion("[[ ## answer ## ]]\n4")).await?;
//! let lm = OpenAiCompatible::new(server.url(), "stub");
//! let qa = Predict::<Dynamic>::parse("question -> answer: int")?;
//! let mut input = dspy::Fields::new();
//! input.insert("question".into(), "2 + 2?".into());
//! assert_eq!(qa.call_with(&lm, input).await?["answer"], 4);
//! assert_eq!(server.requests().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request the server reads (head + body).
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// One request as the server received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `POST`, `GET`…
    pub method: String,
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, parsed as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text of the last message sent (usually the user's inputs).
    pub fn last_message(&self) -> &str {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .and_then(|m| m.last())
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reply {
    /// `200` with a chat completion whose message content is this text.
    Completion(String),
    /// Any status, with this body and extra headers.
    Status {
        /// HTTP status code.
        status: u16,
        /// The body, sent as is.
        body: String,
        /// Extra headers (e.g. `Retry-After`, a wrong `Content-Type`).
        headers: Vec<(String, String)>,
    },
    /// These bytes, written as they are, then the connection closes.
    Raw(Vec<u8>),
    /// `200` with `Content-Type: text/event-stream`: each event (an optional `event:` name
    /// and its `data:`) written `pause` after the previous one; then the connection closes.
    /// Leave out the final `data: [DONE]` to cut a stream short.
    Sse {
        /// `(event name, data)` pairs.
        events: Vec<(Option<String>, String)>,
        /// Time between events.
        pause: Duration,
    },
    /// Nothing for this long, then the connection closes.
    Stall(Duration),
    /// The connection closes at once, without a response.
    Drop,
}

impl Reply {
    /// A completion with this text.
    pub fn completion(text: impl Into<String>) -> Self {
        Reply::Completion(text.into())
    }

    /// An OpenAI-style stream of `pieces` (each a `chat.completion.chunk`), a last chunk with
    /// `finish_reason` and usage, and `data: [DONE]`; with `complete: false` the stream stops
    /// after the pieces, as a dropped connection would.
    pub fn openai_stream<S: Into<String>>(
        pieces: impl IntoIterator<Item = S>,
        complete: bool,
    ) -> Self {
        let mut events: Vec<(Option<String>, String)> = pieces
            .into_iter()
            .map(|piece| (None, openai_chunk(&piece.into(), None)))
            .collect();
        let count = events.len();
        if complete {
            events.push((None, openai_chunk("", Some(count))));
            events.push((None, "[DONE]".to_string()));
        }
        Reply::Sse {
            events,
            pause: Duration::ZERO,
        }
    }

    /// With this pause between the events of an [`Reply::Sse`] stream.
    pub fn paced(self, pause: Duration) -> Self {
        match self {
            Reply::Sse { events, .. } => Reply::Sse { events, pause },
            other => other,
        }
    }

    /// An error status with an OpenAI-style error body.
    pub fn error(status: u16, message: &str) -> Self {
        Reply::Status {
            status,
            body: json!({"error": {"message": message, "type": "stub_error"}}).to_string(),
            headers: Vec::new(),
        }
    }
}

/// A responder that answers at once.
type NowFn = dyn Fn(&RecordedRequest) -> Reply + Send + Sync;
/// A responder whose answer is a future.
type LaterFn = dyn Fn(&RecordedRequest) -> BoxFuture<'static, Reply> + Send + Sync;

/// How the server makes its replies: at once, or by awaiting a future.
enum Responder {
    Now(Box<NowFn>),
    Later(Box<LaterFn>),
}

/// A chat-completions server on `127.0.0.1`, on a free port, until dropped.
pub struct StubServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for StubServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl StubServer {
    /// Starts a server that answers every request with `responder(request)`.
    pub async fn start(
        responder: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::start_with(Responder::Now(Box::new(responder)), true).await
    }

    /// [`start`](Self::start) without keeping the requests ([`requests`](Self::requests)
    /// stays empty): for benchmarks that send many thousands, whose memory the server
    /// should not grow by.
    pub async fn start_unrecorded(
        responder: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::start_with(Responder::Now(Box::new(responder)), false).await
    }

    /// A server whose replies take time to make: `responder(request)` returns a future
    /// (owning what it needs of the request), awaited before the reply is sent; e.g. a
    /// real model behind the protocol (`examples/serve_local.rs`). Connections are served
    /// concurrently, each one's requests in order. Requests are not recorded, as with
    /// [`start_unrecorded`](Self::start_unrecorded).
    pub async fn start_async<F, Fut>(responder: F) -> std::io::Result<Self>
    where
        F: Fn(&RecordedRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let responder = move |request: &RecordedRequest| -> BoxFuture<'static, Reply> {
            Box::pin(responder(request))
        };
        Self::start_with(Responder::Later(Box::new(responder)), false).await
    }

    async fn start_with(responder: Responder, record: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let responder = Arc::new(responder);
        let seen = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let responder = Arc::clone(&responder);
                let seen = record.then(|| Arc::clone(&seen));
                tokio::spawn(serve_connection(stream, responder, seen));
            }
        });
        Ok(StubServer {
            addr,
            requests,
            task,
        })
    }

    /// Starts a server that gives these replies in order, then `500`s.
    pub async fn scripted(replies: impl IntoIterator<Item = Reply>) -> std::io::Result<Self> {
        let script = Mutex::new(
            replies
                .into_iter()
                .collect::<std::collections::VecDeque<_>>(),
        );
        Self::start(move |_| {
            script
                .lock()
                .ok()
                .and_then(|mut s| s.pop_front())
                .unwrap_or_else(|| Reply::error(500, "stub script exhausted"))
        })
        .await
    }

    /// The base URL to give a client: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    responder: Arc<Responder>,
    seen: Option<Arc<Mutex<Vec<RecordedRequest>>>>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let reply = match &*responder {
            Responder::Now(respond) => respond(&request),
            Responder::Later(respond) => respond(&request).await,
        };
        let model = request.body.get("model").cloned().unwrap_or(Value::Null);
        let streaming = request.body.get("stream") == Some(&Value::Bool(true));
        if let Some(Ok(mut s)) = seen.as_ref().map(|s| s.lock()) {
            s.push(request);
        }
        let reply = match reply {
            // A streaming request gets its completion as an OpenAI event stream, a few
            // characters at a time.
            Reply::Completion(text) if streaming => Reply::openai_stream(pieces(&text), true),
            other => other,
        };
        let bytes = match reply {
            Reply::Completion(text) => response_bytes(200, &completion_body(&model, &text), &[]),
            Reply::Sse { events, pause } => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for (name, data) in events {
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    let mut event = String::new();
                    if let Some(name) = name {
                        event.push_str(&format!("event: {name}\n"));
                    }
                    for line in data.split('\n') {
                        event.push_str(&format!("data: {line}\n"));
                    }
                    event.push('\n');
                    if stream.write_all(event.as_bytes()).await.is_err()
                        || stream.flush().await.is_err()
                    {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
                return;
            }
            Reply::Status {
                status,
                body,
                headers,
            } => response_bytes(status, &body, &headers),
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
            Reply::Stall(time) => {
                tokio::time::sleep(time).await;
                return;
            }
            Reply::Drop => return,
        };
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body); `None` at EOF or on junk.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<RecordedRequest> {
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buffer.len() > MAX_REQUEST {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return None;
    }
    while buffer.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or(Value::Null);
    buffer.drain(..head_end + length);
    Some(RecordedRequest {
        method,
        path,
        headers,
        body,
    })
}

/// `text` in pieces of about four characters, cut at character boundaries.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

/// One `chat.completion.chunk`; with `finish` (the number of pieces sent), the last one,
/// with `finish_reason` and usage.
fn openai_chunk(text: &str, finish: Option<usize>) -> String {
    let mut chunk = json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "stub",
        "choices": [{
            "index": 0,
            "delta": if finish.is_some() { json!({}) } else { json!({"content": text}) },
            "finish_reason": if finish.is_some() { json!("stop") } else { Value::Null },
        }],
    });
    if let Some(pieces) = finish {
        chunk["usage"] =
            json!({"prompt_tokens": 10, "completion_tokens": pieces, "total_tokens": 10 + pieces});
    }
    chunk.to_string()
}

fn completion_body(model: &Value, text: &str) -> String {
    let completion_tokens = text.split_whitespace().count();
    json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": completion_tokens, "total_tokens": 10 + completion_tokens}
    })
    .to_string()
}

fn response_bytes(status: u16, body: &str, headers: &[(String, String)]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}
