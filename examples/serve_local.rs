//! The local model served over OpenAI's chat-completions protocol on 127.0.0.1, so that
//! any client (Python DSPy included) drives the very model dspy-rs runs in process: the
//! server behind the real-model half of `scripts/bench-vs-python.sh`.
//!
//! ```text
//! cargo run --features local --example serve_local     # prints its base URL; serves until killed
//! ```
//!
//! The model is `LocalLm::env_model_path()` (`DSPY_LOCAL_MODEL`, else the one
//! `scripts/install-model.sh` installs). A request's `temperature`, `top_p`, `max_tokens`
//! (or `max_completion_tokens`), `n`, `stop`, `seed` and `response_format` (`json_object`,
//! `json_schema`) are honoured; other fields are ignored. A sampled request (temperature
//! above 0) without a seed gets the next number of a counter as its seed, so repeated
//! requests sample afresh, as they would from a hosted model. Calls are answered one at a
//! time, in the order they arrive. Streaming is refused (400). With `DSPY_SERVE_LOG=FILE`,
//! each request body and the reply's text are appended to FILE as one JSON line.

use dspy::lm::{ChatRequest, ChatResponse, LmConfig, LocalLm, Message, ResponseFormat};
use dspy::prelude::*;
use dspy::testing::{RecordedRequest, Reply, StubServer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A message's text: a string, or the text parts of a content array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The request in the body, or what is wrong with it.
fn chat_request(body: &Value, seeds: &AtomicU64) -> Result<ChatRequest, String> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("expected a `messages` array")?
        .iter()
        .map(|m| {
            let text = content_text(m.get("content").unwrap_or(&Value::Null));
            match m.get("role").and_then(Value::as_str) {
                Some("system" | "developer") => Ok(Message::system(text)),
                Some("user") => Ok(Message::user(text)),
                Some("assistant") => Ok(Message::assistant(text)),
                other => Err(format!(
                    "expected role system, user or assistant, got {other:?}"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if messages.is_empty() {
        return Err("expected at least one message".into());
    }
    let number = |key: &str| body.get(key).and_then(Value::as_f64);
    let mut config = LmConfig::default();
    config.temperature = number("temperature").map(|t| t as f32);
    config.top_p = number("top_p").map(|p| p as f32);
    config.max_tokens = number("max_completion_tokens")
        .or_else(|| number("max_tokens"))
        .map(|t| t as u32);
    config.n = number("n").map(|n| n as u32);
    config.stop = match body.get("stop") {
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
        ),
        _ => None,
    };
    config.seed = body.get("seed").and_then(Value::as_u64);
    if config.seed.is_none() && config.temperature.is_some_and(|t| t > 0.0) {
        config.seed = Some(seeds.fetch_add(1, Ordering::Relaxed));
    }
    let format = match body
        .pointer("/response_format/type")
        .and_then(Value::as_str)
    {
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let spec = body.pointer("/response_format/json_schema");
            let name = spec
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("output");
            let schema = spec.and_then(|s| s.get("schema")).cloned();
            Some(ResponseFormat::JsonSchema {
                name: name.to_string(),
                schema: schema.ok_or("expected response_format.json_schema.schema")?,
            })
        }
        _ => None,
    };
    Ok(ChatRequest::new(messages)
        .with_config(config)
        .with_response_format(format))
}

/// The chat-completion body for the model's answer.
fn completion_body(model: &str, response: &ChatResponse) -> String {
    let choices: Vec<Value> = response
        .choices
        .iter()
        .enumerate()
        .map(|(index, choice)| {
            json!({
                "index": index,
                "message": {"role": "assistant", "content": choice.text},
                "finish_reason": choice.finish_reason.as_deref().unwrap_or("stop"),
            })
        })
        .collect();
    let usage = &response.usage;
    json!({
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total(),
        },
    })
    .to_string()
}

fn respond(
    lm: &Arc<LocalLm>,
    seeds: &Arc<AtomicU64>,
    log: Option<&Arc<std::ffi::OsString>>,
    request: &RecordedRequest,
) -> impl std::future::Future<Output = Reply> + Send + use<> {
    let parsed = if !request.path.ends_with("/chat/completions") {
        Err((
            404,
            format!("no route {}; POST /v1/chat/completions", request.path),
        ))
    } else if request.body.get("stream") == Some(&Value::Bool(true)) {
        Err((400, "streaming is not served here".to_string()))
    } else {
        chat_request(&request.body, seeds).map_err(|e| (400, e))
    };
    let lm = Arc::clone(lm);
    let logged = log.map(|path| (Arc::clone(path), request.body.clone()));
    async move {
        let chat = match parsed {
            Ok(chat) => chat,
            Err((status, message)) => return Reply::error(status, &message),
        };
        let result = lm.chat(&chat).await;
        if let Some((path, body)) = logged {
            let reply = match &result {
                Ok(r) => json!(r.text()),
                Err(e) => json!({"error": e.to_string()}),
            };
            append_line(&path, &json!({"request": body, "reply": reply}).to_string());
        }
        match result {
            Ok(response) => Reply::Status {
                status: 200,
                body: completion_body(lm.model(), &response),
                headers: Vec::new(),
            },
            Err(e) => Reply::error(500, &e.to_string()),
        }
    }
}

/// Appends one line to the log; a log that cannot be written is reported, not fatal.
fn append_line(path: &std::ffi::OsStr, line: &str) {
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        eprintln!("cannot append to {}: {e}", path.to_string_lossy());
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = LocalLm::env_model_path();
    let lm = Arc::new(LocalLm::load(path)?);
    eprintln!(
        "serving {} ({}M parameters, loaded in {:.2}s)",
        lm.model(),
        lm.info().parameters / 1_000_000,
        lm.info().load_seconds
    );
    let seeds = Arc::new(AtomicU64::new(1));
    let log = std::env::var_os("DSPY_SERVE_LOG").map(Arc::new);
    let server =
        StubServer::start_async(move |request| respond(&lm, &seeds, log.as_ref(), request)).await?;
    println!("{}", server.url());
    // Serves until the process is killed.
    std::future::pending::<()>().await;
    Ok(())
}
