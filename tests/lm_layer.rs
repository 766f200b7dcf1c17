//! The LM layer against a loopback server that injects faults: retries, timeouts, broken
//! and cut streams, the cache (across "process restarts" and real concurrent processes),
//! history, and where the output schema goes for each kind of server.

use dspy::lm::{
    Cache, CacheKey, CachedLm, ChatRequest, LmBuilder, LmError, Message, RetryPolicy, Retrying,
    SchemaDialect,
};
use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use dspy::{Capabilities, Fields, JsonAdapter, StreamEvent};
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)])
}

fn question(q: &str) -> Fields {
    let mut input = Fields::new();
    input.insert("question".into(), q.into());
    input
}

fn client(server: &StubServer) -> OpenAiCompatible {
    OpenAiCompatible::new(server.url(), "stub").with_timeout(Duration::from_millis(500))
}

fn fast_retries(n: u32) -> RetryPolicy {
    RetryPolicy::retries(n).with_initial_backoff(Duration::from_millis(10))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("dspy-{name}-{}-{nanos}", std::process::id()))
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_once() {
    let server = StubServer::scripted([
        Reply::Status {
            status: 429,
            body: json!({"error": {"message": "slow down"}}).to_string(),
            headers: vec![("Retry-After".into(), "1".into())],
        },
        Reply::completion("ok"),
    ])
    .await
    .expect("server starts");
    let lm = Retrying::new(Arc::new(client(&server)), fast_retries(3));
    let started = Instant::now();
    let reply = lm.chat(&ask("hi")).await.expect("recovers");
    let waited = started.elapsed();
    assert_eq!(reply.text(), Some("ok"));
    assert_eq!(reply.retries, 1);
    assert_eq!(server.requests().len(), 2);
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
}

#[tokio::test]
async fn two_500s_then_success_is_two_retries() {
    let server = StubServer::scripted([
        Reply::error(500, "boom"),
        Reply::error(503, "still booting"),
        Reply::completion("ok"),
    ])
    .await
    .expect("server starts");
    let lm = Retrying::new(Arc::new(client(&server)), fast_retries(3));
    let reply = lm.chat(&ask("hi")).await.expect("recovers");
    assert_eq!((reply.text(), reply.retries), (Some("ok"), 2));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_bad_request_is_not_retried_and_keeps_the_providers_message() {
    let server = StubServer::scripted([Reply::error(400, "max_tokens is too large")])
        .await
        .expect("server starts");
    let lm = Retrying::new(Arc::new(client(&server)), fast_retries(3));
    let error = lm.chat(&ask("hi")).await.unwrap_err();
    assert!(
        matches!(&error, LmError::Http { status: 400, message, .. } if message == "max_tokens is too large"),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn stalls_resets_and_broken_bodies_recover_or_fail_typed() {
    // A stalled response times out, a reset connection fails, then an answer comes.
    let server = StubServer::scripted([
        Reply::Stall(Duration::from_secs(30)),
        Reply::Drop,
        Reply::completion("ok"),
    ])
    .await
    .expect("server starts");
    let lm = Retrying::new(Arc::new(client(&server)), fast_retries(3));
    let started = Instant::now();
    let reply = lm.chat(&ask("hi")).await.expect("recovers");
    assert_eq!((reply.text(), reply.retries), (Some("ok"), 2));
    assert!(started.elapsed() < Duration::from_secs(5));

    // Stalls every time: the retries run out into a typed error that names the timeout.
    let stalled = StubServer::start(|_| Reply::Stall(Duration::from_secs(30)))
        .await
        .expect("server starts");
    let lm = Retrying::new(Arc::new(client(&stalled)), fast_retries(1));
    let started = Instant::now();
    let error = lm.chat(&ask("hi")).await.unwrap_err();
    assert!(
        matches!(&error, LmError::GaveUp { attempts: 2, last } if matches!(**last, LmError::Timeout { .. })),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // A body cut short, a 200 that is HTML, and truncated JSON: typed, never a panic.
    let truncated = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"choices\": [".to_vec();
    let cut_json = json!({"choices": [{"message": {"content": "hi"}}]}).to_string();
    let server = StubServer::scripted([
        Reply::Raw(truncated),
        Reply::Status {
            status: 200,
            body: "<html>Gateway says hi</html>".into(),
            headers: vec![("Content-Type".into(), "text/html".into())],
        },
        Reply::Status {
            status: 200,
            body: cut_json[..cut_json.len() / 2].to_string(),
            headers: vec![],
        },
    ])
    .await
    .expect("server starts");
    let lm = client(&server);
    let error = lm.chat(&ask("a")).await.unwrap_err();
    assert!(matches!(error, LmError::Transport { .. }), "{error:?}");
    let error = lm.chat(&ask("b")).await.unwrap_err();
    assert!(
        matches!(&error, LmError::MalformedResponse { body, .. } if body.contains("<html>")),
        "{error:?}"
    );
    let error = lm.chat(&ask("c")).await.unwrap_err();
    assert!(
        matches!(&error, LmError::MalformedResponse { message, .. } if message.contains("invalid JSON")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_predictor_streams_fields_as_they_arrive() {
    let answer = "[[ ## reasoning ## ]]\nTwo and two make four.\n\n[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]";
    let pieces: Vec<String> = answer
        .chars()
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|c| c.iter().collect())
        .collect();
    let server = StubServer::scripted([Reply::openai_stream(pieces, true)])
        .await
        .expect("server starts");
    let qa = Predict::<Dynamic>::parse("question -> reasoning, answer: int").expect("parses");
    let events: Vec<_> = qa
        .stream_with(client(&server), question("2 + 2?"))
        .collect()
        .await;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut done = None;
    for event in events {
        match event.expect("no error") {
            StreamEvent::Field { field, text } => match fields.last_mut() {
                Some((last, all)) if *last == field => all.push_str(&text),
                _ => fields.push((field, text)),
            },
            StreamEvent::Done(out) => done = Some(out),
            _ => {}
        }
    }
    assert_eq!(
        fields,
        vec![
            (
                "reasoning".to_string(),
                "Two and two make four.".to_string()
            ),
            ("answer".to_string(), "4".to_string())
        ]
    );
    assert_eq!(done.expect("a final output")["answer"], 4);
    let sent = &server.requests()[0];
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_stream_cut_mid_field_ends_in_a_typed_error_after_its_text() {
    let server = StubServer::scripted([Reply::openai_stream(
        ["[[ ## answer ## ]]\n", "The capital", " of France is"],
        false,
    )])
    .await
    .expect("server starts");
    let qa = Predict::<Dynamic>::parse("question -> answer").expect("parses");
    let started = Instant::now();
    let events: Vec<_> = qa
        .stream_with(client(&server), question("Capital of France?"))
        .collect()
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let texts: String = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Field { text, .. }) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, "The capital of France is");
    let last = events.last().expect("events");
    assert!(
        matches!(last, Err(dspy::Error::Lm(LmError::Transport { message, .. })) if message.contains("[DONE]")),
        "{last:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, Ok(StreamEvent::Done(_)))));
}

#[tokio::test]
async fn a_stream_that_stalls_times_out() {
    let server =
        StubServer::scripted([Reply::openai_stream(["[[ ## answer ## ]]\n", "x"], true)
            .paced(Duration::from_secs(10))])
        .await
        .expect("server starts");
    let lm = client(&server);
    let started = Instant::now();
    let error = lm
        .chat_stream(&ask("hi"))
        .await
        .expect("headers arrive")
        .collect()
        .await
        .unwrap_err();
    assert!(matches!(error, LmError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_second_identical_call_does_no_request_even_after_a_restart() {
    let server = StubServer::start(|r| Reply::completion(format!("echo: {}", r.last_message())))
        .await
        .expect("server starts");
    let dir = temp_dir("cache-restart");
    let open = || Arc::new(Cache::memory(100).with_disk(&dir, 1 << 30).expect("opens"));
    let lm = CachedLm::new(Arc::new(client(&server)), open());
    let first = lm.chat(&ask("one")).await.expect("answers");
    let second = lm.chat(&ask("one")).await.expect("answers");
    assert_eq!(server.requests().len(), 1);
    assert!(!first.cached && second.cached);
    assert_eq!(second.text(), Some("echo: one"));
    assert_eq!(second.usage, first.usage);
    // Another setting, another rollout, or the cache switched off: a real request each.
    let hot = ask("one").with_config(LmConfig::default().with_temperature(1.0));
    lm.chat(&hot).await.expect("answers");
    let rollout = ask("one").with_config(LmConfig::default().with_rollout_id(7));
    lm.chat(&rollout).await.expect("answers");
    let off = ask("one").with_config(LmConfig::default().with_cache(false));
    assert!(!lm.chat(&off).await.expect("answers").cached);
    assert_eq!(server.requests().len(), 4);
    // `rollout_id` and `cache` never reach the provider.
    for request in server.requests() {
        assert!(request.body.get("rollout_id").is_none());
        assert!(request.body.get("cache").is_none());
    }
    drop(lm);

    // A new cache over the same directory (a restarted process) answers from disk.
    let restarted = CachedLm::new(Arc::new(client(&server)), open());
    let again = restarted.chat(&ask("one")).await.expect("answers");
    assert!(again.cached);
    assert_eq!(again.text(), Some("echo: one"));
    assert_eq!(server.requests().len(), 4);
    assert_eq!(restarted.cache().stats().disk_hits, 1);
    // A streamed call is answered from the cache too, and a streamed miss is stored.
    let stream = restarted.chat_stream(&ask("one")).await.expect("opens");
    assert!(stream.is_cached());
    assert_eq!(
        stream.collect().await.expect("whole").text(),
        Some("echo: one")
    );
    let streamed = restarted
        .chat_stream(&ask("two"))
        .await
        .expect("opens")
        .collect()
        .await
        .expect("whole");
    assert_eq!(streamed.text(), Some("echo: two"));
    assert!(restarted.chat(&ask("two")).await.expect("answers").cached);
    assert_eq!(server.requests().len(), 5);
    std::fs::remove_dir_all(&dir).ok();
}

/// Not a test on its own: the body of the child processes of the two tests below. It
/// writes entries `{tag}-0`, `{tag}-1`… into the cache in `DSPY_TEST_CACHE_DIR` (forever
/// when `DSPY_TEST_CACHE_COUNT` is 0), and does nothing when that variable is unset.
#[tokio::test]
#[ignore = "run by cache tests as a child process"]
async fn cache_writer_child() {
    let (Ok(dir), Ok(tag)) = (
        std::env::var("DSPY_TEST_CACHE_DIR"),
        std::env::var("DSPY_TEST_CACHE_TAG"),
    ) else {
        return;
    };
    let count: u64 = std::env::var("DSPY_TEST_CACHE_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let cache = Cache::memory(0).with_disk(&dir, 1 << 32).expect("opens");
    let mut i = 0;
    while count == 0 || i < count {
        let key = CacheKey::new(&json!({"model": "m"}), &ask(&format!("{tag}-{i}")));
        cache.put(key, &entry(&tag, i)).await;
        i += 1;
    }
}

fn entry(tag: &str, i: u64) -> dspy::ChatResponse {
    dspy::ChatResponse::from_text(format!("{tag}-{i}:{}", "x".repeat(2000)))
}

fn child(dir: &std::path::Path, tag: &str, count: u64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["cache_writer_child", "--exact", "--ignored", "--quiet"])
        .env("DSPY_TEST_CACHE_DIR", dir)
        .env("DSPY_TEST_CACHE_TAG", tag)
        .env("DSPY_TEST_CACHE_COUNT", count.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("child starts")
}

async fn read(cache: &Cache, tag: &str, i: u64) -> Option<String> {
    let key = CacheKey::new(&json!({"model": "m"}), &ask(&format!("{tag}-{i}")));
    cache
        .get(&key)
        .await
        .and_then(|r| r.text().map(String::from))
}

#[tokio::test]
async fn two_processes_writing_at_once_leave_a_sound_cache() {
    let dir = temp_dir("cache-two-procs");
    let writers = [child(&dir, "a", 300), child(&dir, "b", 300)];
    for mut writer in writers {
        assert!(writer.wait().expect("child runs").success());
    }
    let cache = Cache::memory(0).with_disk(&dir, 1 << 32).expect("opens");
    let check = cache
        .check_disk()
        .await
        .expect("has a disk")
        .expect("checks");
    assert_eq!(check.integrity, "ok");
    assert_eq!((check.entries, check.removed), (600, 0));
    for tag in ["a", "b"] {
        for i in 0..300 {
            assert_eq!(
                read(&cache, tag, i).await,
                entry(tag, i).text().map(String::from)
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_writer_killed_mid_write_leaves_the_entries_it_committed() {
    let dir = temp_dir("cache-kill");
    let mut writer = child(&dir, "k", 0);
    // Let it write for a while, then kill it without warning (SIGKILL).
    let cache = Cache::memory(0).with_disk(&dir, 1 << 32).expect("opens");
    let deadline = Instant::now() + Duration::from_secs(20);
    while read(&cache, "k", 200).await.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer.kill().expect("kills");
    writer.wait().expect("reaped");
    let cache = Cache::memory(0).with_disk(&dir, 1 << 32).expect("reopens");
    let check = cache
        .check_disk()
        .await
        .expect("has a disk")
        .expect("checks");
    assert_eq!(check.integrity, "ok");
    assert_eq!(check.removed, 0);
    assert!(check.entries > 200, "{check:?}");
    // What was written is a prefix of what the writer meant to write, each entry whole.
    for i in 0..check.entries {
        assert_eq!(
            read(&cache, "k", i).await,
            entry("k", i).text().map(String::from)
        );
    }
    assert_eq!(read(&cache, "k", check.entries).await, None);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_builder_stacks_cache_retries_and_limits_and_history_records_calls() {
    let server = StubServer::scripted([
        Reply::error(502, "bad gateway"),
        Reply::completion("[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"),
    ])
    .await
    .expect("server starts");
    let dir = temp_dir("cache-builder");
    let lm = LmBuilder::from_lm(client(&server).with_api_key("sk-never-shown-1234"))
        .cache(Arc::new(
            Cache::memory(10).with_disk(&dir, 1 << 20).expect("opens"),
        ))
        .retries(fast_retries(2))
        .max_concurrency(4)
        .requests_per_minute(1000)
        .temperature(0.0)
        .build()
        .expect("builds");
    let qa = Predict::<Dynamic>::parse("question -> answer").expect("parses");
    let unique = format!("Capital of France? ({})", dir.display());
    let ((), usage) = dspy::usage::tracked(async {
        let first = qa
            .call_with(&*lm, question(&unique))
            .await
            .expect("answers");
        let second = qa
            .call_with(&*lm, question(&unique))
            .await
            .expect("answers");
        assert_eq!(
            (&first["answer"], &second["answer"]),
            (&json!("Paris"), &json!("Paris"))
        );
    })
    .await;
    assert_eq!(
        server.requests().len(),
        2,
        "one failure, one answer, one cache hit"
    );
    assert_eq!(server.requests()[1].body["temperature"], json!(0.0));
    assert_eq!((usage.calls, usage.cached), (2, 1));
    // The history holds both calls, newest last, the key nowhere.
    let history = dspy::lm::history::last(100);
    let mine: Vec<_> = history
        .iter()
        .filter(|e| e.messages.iter().any(|m| m.content.contains(&unique)))
        .collect();
    assert_eq!(mine.len(), 2);
    assert_eq!((mine[0].retries, mine[0].cached), (1, false));
    assert_eq!((mine[1].retries, mine[1].cached), (0, true));
    let shown = dspy::inspect_history(100);
    assert!(shown.contains("Response:\n\n[[ ## answer ## ]]\nParis"));
    assert!(!shown.contains("sk-never-shown"));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn each_server_kind_gets_the_output_schema_where_it_reads_it() {
    /// Answer a question.
    #[derive(Signature)]
    struct Qa {
        #[input]
        question: String,
        #[output]
        answer: String,
        #[output]
        note: Option<String>,
    }
    let server = StubServer::start(|_| Reply::completion(r#"{"answer": "4", "note": null}"#))
        .await
        .expect("server starts");
    let dialects = [
        SchemaDialect::OpenAi { strict: true },
        SchemaDialect::LlamaCpp,
        SchemaDialect::Vllm,
        SchemaDialect::Ollama,
    ];
    for dialect in dialects {
        let lm = client(&server)
            .with_capabilities(Capabilities::structured())
            .with_schema_dialect(dialect);
        let qa = Predict::<Qa>::new().with_adapter(JsonAdapter);
        let out = qa
            .call_with(
                &lm,
                QaInput {
                    question: "2 + 2?".into(),
                },
            )
            .await
            .expect("answers");
        assert_eq!(out.answer, "4");
    }
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    let strict = &bodies[0]["response_format"]["json_schema"];
    assert_eq!(strict["strict"], true);
    assert_eq!(strict["schema"]["additionalProperties"], false);
    assert_eq!(strict["schema"]["required"], json!(["answer", "note"]));
    assert!(bodies[1]["json_schema"]["properties"]["answer"].is_object());
    assert!(bodies[2]["guided_json"]["properties"]["answer"].is_object());
    assert!(bodies[3]["format"]["properties"]["answer"].is_object());
    for body in &bodies[1..] {
        assert!(body.get("response_format").is_none());
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_call_has_a_span_with_tokens_latency_cache_and_retries_and_no_key() {
    let key = "sk-test-must-not-leak-0042";
    let server = StubServer::scripted([
        Reply::error(503, &format!("overloaded for key {key}")),
        Reply::completion("[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"),
        Reply::error(401, &format!("Incorrect API key provided: {key}")),
    ])
    .await
    .expect("server starts");
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let lm = LmBuilder::from_lm(client(&server).with_api_key(key))
        .no_cache()
        .retries(fast_retries(1))
        .build()
        .expect("builds");
    let qa = Predict::<Dynamic>::parse("question -> answer").expect("parses");
    qa.call_with(&*lm, question("Capital of France?"))
        .await
        .expect("answers after one retry");
    let error = qa
        .call_with(&*lm, question("And of Spain?"))
        .await
        .unwrap_err();
    assert!(!error.to_string().contains(key), "{error}");
    let logs = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    let done = logs
        .lines()
        .find(|l| l.contains("lm call done"))
        .unwrap_or_else(|| panic!("no finished call in:\n{logs}"));
    for field in [
        "lm_call{",
        "model=\"stub\"",
        "prompt_tokens=10",
        "completion_tokens=",
        "latency_ms=",
        "cached=false",
        "retries=1",
    ] {
        assert!(done.contains(field), "{field} missing from {done}");
    }
    assert!(logs.contains("LM call failed; retrying"), "{logs}");
    assert!(logs.contains("lm call failed"), "{logs}");
    assert!(!logs.contains(key), "the key reached the logs:\n{logs}");
    assert!(!dspy::inspect_history(10_000).contains(key));
}

#[tokio::test]
async fn several_completions_logprobs_and_reasoning_model_settings() {
    let body = json!({
        "model": "o3-mini",
        "choices": [
            {"index": 0, "message": {"content": "yes"}, "finish_reason": "stop",
             "logprobs": {"content": [{"token": "yes", "logprob": -0.1}]}},
            {"index": 1, "message": {"content": "no"}, "finish_reason": "length", "logprobs": null}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2}
    });
    let server = StubServer::scripted([Reply::Status {
        status: 200,
        body: body.to_string(),
        headers: vec![],
    }])
    .await
    .expect("server starts");
    let lm = OpenAiCompatible::new(server.url(), "openai/o3-mini");
    let request = ask("yes or no?").with_config(
        LmConfig::default()
            .with_n(2)
            .with_max_tokens(20_000)
            .with_extra("logprobs", json!(true))
            .with_extra("reasoning_effort", json!("low")),
    );
    let reply = lm.chat(&request).await.expect("answers");
    let texts: Vec<_> = reply.choices.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["yes", "no"]);
    assert_eq!(
        reply.choices[0]
            .logprobs
            .as_ref()
            .map(|l| &l["content"][0]["token"]),
        Some(&json!("yes"))
    );
    assert_eq!(reply.choices[1].logprobs, None);
    assert_eq!(reply.choices[1].finish_reason.as_deref(), Some("length"));
    let sent = &server.requests()[0].body;
    assert_eq!(sent["n"], 2);
    assert_eq!(sent["logprobs"], true);
    assert_eq!(sent["reasoning_effort"], "low");
    assert_eq!(sent["max_completion_tokens"], 20_000);
    assert!(sent.get("max_tokens").is_none(), "{sent}");
}
