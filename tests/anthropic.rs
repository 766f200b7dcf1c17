//! The Anthropic Messages client against a loopback server speaking its protocol:
//! requests, answers, event streams (whole, cut, failing), errors and `n > 1`.

use dspy::lm::{Anthropic, ChatRequest, LmError, Message};
use dspy::prelude::*;
use dspy::testing::{RecordedRequest, Reply, StubServer};
use dspy::{Fields, StreamEvent};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

fn message(text: &str) -> Reply {
    Reply::Status {
        status: 200,
        body: json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 21, "output_tokens": 7}
        })
        .to_string(),
        headers: vec![],
    }
}

/// Anthropic's event stream for `pieces`; cut before `message_stop` unless `complete`.
fn stream(pieces: &[&str], complete: bool) -> Reply {
    let mut events = vec![
        (
            Some("message_start".to_string()),
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-test",
                   "content": [], "usage": {"input_tokens": 21, "output_tokens": 1}}})
            .to_string(),
        ),
        (
            Some("content_block_start".to_string()),
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}})
            .to_string(),
        ),
        (
            Some("ping".to_string()),
            json!({"type": "ping"}).to_string(),
        ),
    ];
    for piece in pieces {
        events.push((
            Some("content_block_delta".to_string()),
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": piece}})
            .to_string(),
        ));
    }
    if complete {
        events.push((
            Some("content_block_stop".to_string()),
            json!({"type": "content_block_stop", "index": 0}).to_string(),
        ));
        events.push((
            Some("message_delta".to_string()),
            json!({"type": "message_delta", "delta": {"stop_reason": "stop_sequence"},
                   "usage": {"output_tokens": 9}})
            .to_string(),
        ));
        events.push((
            Some("message_stop".to_string()),
            json!({"type": "message_stop"}).to_string(),
        ));
    }
    Reply::Sse {
        events,
        pause: Duration::ZERO,
    }
}

fn client(server: &StubServer) -> Anthropic {
    Anthropic::new(server.url(), "anthropic/claude-test")
        .with_api_key("sk-ant-test-0001")
        .with_timeout(Duration::from_secs(2))
}

fn question(q: &str) -> Fields {
    let mut input = Fields::new();
    input.insert("question".into(), q.into());
    input
}

fn sent(request: &RecordedRequest) -> &Value {
    &request.body
}

#[tokio::test]
async fn a_predictor_runs_through_the_messages_api() {
    let server = StubServer::scripted([message(
        "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]",
    )])
    .await
    .expect("server starts");
    let qa = Predict::<Dynamic>::parse("question -> answer").expect("parses");
    let out = qa
        .call_with(&client(&server), question("Capital of France?"))
        .await
        .expect("answers");
    assert_eq!(out["answer"], "Paris");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some("sk-ant-test-0001"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert!(request.header("authorization").is_none());
    let body = sent(request);
    assert_eq!(body["model"], "claude-test");
    assert!(
        body["system"]
            .as_str()
            .is_some_and(|s| s.contains("`answer`")),
        "{body}"
    );
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["stop_sequences"], json!(["[[ ## completed ## ]]"]));
}

#[tokio::test]
async fn streams_arrive_in_pieces_with_usage_at_the_end() {
    let server = StubServer::scripted([
        stream(&["[[ ## answer ## ]]\nPa", "ris\n\n"], true),
        stream(&["Hel", "lo"], true),
    ])
    .await
    .expect("server starts");
    let qa = Predict::<Dynamic>::parse("question -> answer").expect("parses");
    let events: Vec<_> = qa
        .stream_with(client(&server), question("Capital of France?"))
        .collect()
        .await;
    let fields: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Field { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(fields.concat(), "Paris");
    assert!(matches!(events.last(), Some(Ok(StreamEvent::Done(out))) if out["answer"] == "Paris"));
    assert_eq!(sent(&server.requests()[0])["stream"], true);

    let whole = client(&server)
        .chat_stream(&ChatRequest::new(vec![Message::user("hi")]))
        .await
        .expect("opens")
        .collect()
        .await
        .expect("whole");
    assert_eq!(whole.text(), Some("Hello"));
    assert_eq!(whole.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        (whole.usage.prompt_tokens, whole.usage.completion_tokens),
        (21, 9)
    );
}

#[tokio::test]
async fn cut_and_failing_streams_are_typed_errors() {
    let overloaded = Reply::Sse {
        events: vec![(
            Some("error".into()),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                .to_string(),
        )],
        pause: Duration::ZERO,
    };
    let server = StubServer::scripted([stream(&["[[ ## answer ## ]]\nPar"], false), overloaded])
        .await
        .expect("server starts");
    let lm = client(&server);
    let ask = ChatRequest::new(vec![Message::user("hi")]);
    let error = lm
        .chat_stream(&ask)
        .await
        .expect("opens")
        .collect()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LmError::Transport { message, .. } if message.contains("message_stop")),
        "{error:?}"
    );
    let error = lm
        .chat_stream(&ask)
        .await
        .expect("opens")
        .collect()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LmError::Http { status: 529, message, .. } if message.contains("Overloaded")),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn http_errors_keep_anthropics_message_and_never_the_key() {
    let server = StubServer::scripted([
        Reply::Status {
            status: 529,
            body: json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                .to_string(),
            headers: vec![],
        },
        Reply::Status {
            status: 401,
            body: json!({"type": "error", "error": {"type": "authentication_error",
                         "message": "invalid x-api-key sk-ant-test-0001"}})
            .to_string(),
            headers: vec![],
        },
        Reply::Status {
            status: 200,
            body: "{\"content\": [{\"type\": \"text\", \"text\": \"cut".into(),
            headers: vec![],
        },
    ])
    .await
    .expect("server starts");
    let lm = client(&server);
    let ask = ChatRequest::new(vec![Message::user("hi")]);
    let error = lm.chat(&ask).await.unwrap_err();
    assert!(
        matches!(&error, LmError::Http { status: 529, message, .. } if message == "Overloaded"),
        "{error:?}"
    );
    assert!(error.is_retryable());
    let error = lm.chat(&ask).await.unwrap_err();
    assert!(
        matches!(&error, LmError::Http { status: 401, .. })
            && !error.to_string().contains("sk-ant-test"),
        "{error}"
    );
    let error = lm.chat(&ask).await.unwrap_err();
    assert!(
        matches!(&error, LmError::MalformedResponse { message, .. } if message.contains("invalid JSON")),
        "{error:?}"
    );
}

#[tokio::test]
async fn several_completions_are_made_as_parallel_calls() {
    let server = StubServer::scripted([message("one"), message("two")])
        .await
        .expect("server starts");
    let request = ChatRequest::new(vec![Message::user("hi")])
        .with_config(LmConfig::default().with_n(2).with_temperature(1.0));
    let reply = client(&server).chat(&request).await.expect("answers");
    let mut texts: Vec<_> = reply.choices.iter().map(|c| c.text.clone()).collect();
    texts.sort();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(
        (reply.usage.prompt_tokens, reply.usage.completion_tokens),
        (42, 14)
    );
    assert_eq!(server.requests().len(), 2);
    assert!(server.requests().iter().all(|r| r.body.get("n").is_none()));
}
