//! `OpenAiCompatible` against a real HTTP server on 127.0.0.1 (`dspy::testing::StubServer`):
//! success, provider errors, malformed and truncated bodies, dropped and stalled connections.

use dspy::lm::{ChatRequest, LmError, Message};
use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

/// Classify the sentiment of a product review.
#[derive(Signature)]
struct Classify {
    #[input]
    review: String,
    #[output]
    sentiment: Sentiment,
    /// between 0 and 1
    #[output]
    confidence: f32,
}

fn review() -> ClassifyInput {
    ClassifyInput {
        review: "Best purchase I've ever made!".into(),
    }
}

async fn one_call(reply: Reply, timeout: Duration) -> (Result<ChatResponse, LmError>, StubServer) {
    let server = StubServer::scripted([reply]).await.expect("server starts");
    let lm = OpenAiCompatible::new(server.url(), "stub-model")
        .with_api_key("sk-test-secret-0001")
        .with_timeout(timeout);
    let result = lm.chat(&ChatRequest::new(vec![Message::user("hi")])).await;
    (result, server)
}

use dspy::ChatResponse;

#[tokio::test]
async fn typed_predict_over_http() {
    let server = StubServer::start(|request| {
        assert!(request.last_message().contains("Best purchase"));
        Reply::completion("[[ ## sentiment ## ]]\nPositive\n\n[[ ## confidence ## ]]\n0.97\n\n[[ ## completed ## ]]")
    })
    .await
    .expect("server starts");
    let lm = OpenAiCompatible::new(server.url(), "stub-model")
        .with_api_key("sk-test-secret-0001")
        .with_temperature(0.0)
        .with_max_tokens(50);
    let out = Predict::<Classify>::new()
        .call_with(&lm, review())
        .await
        .expect("parses");
    assert_eq!(out.sentiment, Sentiment::Positive);
    assert_eq!(out.confidence, 0.97);

    let cot = ChainOfThought::<Classify>::new();
    let server2 = StubServer::start(|_| {
        Reply::completion(
            "[[ ## reasoning ## ]]\nEnthusiastic.\n\n[[ ## sentiment ## ]]\npositive\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]",
        )
    })
    .await
    .expect("server starts");
    let out = cot
        .call_with(
            &OpenAiCompatible::new(server2.url(), "stub-model"),
            review(),
        )
        .await
        .expect("parses");
    assert_eq!(out.reasoning, "Enthusiastic.");
    assert_eq!(out.sentiment, Sentiment::Positive);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer sk-test-secret-0001")
    );
    assert_eq!(request.body["model"], "stub-model");
    assert_eq!(request.body["temperature"], 0.0);
    assert_eq!(request.body["max_tokens"], 50);
    let messages = request.body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert!(request.body.get("response_format").is_none());
}

#[tokio::test]
async fn structured_output_is_requested_when_the_endpoint_supports_it() {
    let server = StubServer::scripted([Reply::completion(
        r#"{"sentiment": "negative", "confidence": 0.2}"#,
    )])
    .await
    .expect("server starts");
    let lm = OpenAiCompatible::new(server.url(), "m")
        .with_capabilities(dspy::Capabilities::structured());
    let out = Predict::<Classify>::new()
        .with_adapter(JsonAdapter)
        .call_with(&lm, review())
        .await
        .expect("parses");
    assert_eq!(out.sentiment, Sentiment::Negative);
    let format = &server.requests()[0].body["response_format"];
    assert_eq!(format["type"], "json_schema");
    let schema = &format["json_schema"]["schema"];
    assert_eq!(
        schema["required"],
        serde_json::json!(["sentiment", "confidence"])
    );
    assert_eq!(
        schema["properties"]["sentiment"]["enum"],
        serde_json::json!(["positive", "negative", "neutral"])
    );
}

#[tokio::test]
async fn client_errors_carry_status_and_provider_message_without_the_key() {
    let (result, _server) = one_call(
        Reply::error(401, "Incorrect API key provided: sk-test-secret-0001"),
        Duration::from_secs(5),
    )
    .await;
    let err = result.expect_err("401");
    let LmError::Http {
        status, message, ..
    } = &err
    else {
        panic!("expected Http, got {err:?}")
    };
    assert_eq!(*status, 401);
    assert!(message.contains("Incorrect API key"), "{message}");
    assert!(
        !format!("{err} {err:?}").contains("sk-test-secret-0001"),
        "key leaked: {err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn server_errors_are_retryable_and_keep_retry_after() {
    let (result, _server) = one_call(
        Reply::Status {
            status: 429,
            body: r#"{"error":{"message":"slow down"}}"#.into(),
            headers: vec![("Retry-After".into(), "2".into())],
        },
        Duration::from_secs(5),
    )
    .await;
    let err = result.expect_err("429");
    assert!(
        matches!(&err, LmError::Http { status: 429, retry_after: Some(d), .. } if *d == Duration::from_secs(2)),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let (result, _server) = one_call(
        Reply::Status {
            status: 503,
            body: "upstream down".into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
        },
        Duration::from_secs(5),
    )
    .await;
    let err = result.expect_err("503");
    assert!(
        matches!(&err, LmError::Http { status: 503, message, .. } if message == "upstream down"),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors() {
    for (body, why) in [
        ("not json at all", "invalid JSON"),
        (r#"{"id": "x"}"#, "no `choices`"),
        (r#"{"choices": []}"#, "empty"),
        ("<html>gateway</html>", "invalid JSON"),
    ] {
        let (result, _server) = one_call(
            Reply::Status {
                status: 200,
                body: body.into(),
                headers: vec![("Content-Type".into(), "text/html".into())],
            },
            Duration::from_secs(5),
        )
        .await;
        let err = result.expect_err(body);
        let LmError::MalformedResponse {
            message,
            body: shown,
            ..
        } = &err
        else {
            panic!("expected MalformedResponse for {body:?}, got {err:?}")
        };
        assert!(message.contains(why), "{message}");
        assert!(!shown.is_empty());
    }
}

#[tokio::test]
async fn truncated_bodies_and_dropped_connections_are_transport_errors() {
    let truncated = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"choices\": [".to_vec();
    let (result, _server) = one_call(Reply::Raw(truncated), Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(LmError::Transport { .. })),
        "{result:?}"
    );

    let (result, _server) = one_call(Reply::Drop, Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(LmError::Transport { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn stalled_responses_time_out() {
    let started = std::time::Instant::now();
    let (result, _server) = one_call(
        Reply::Stall(Duration::from_secs(30)),
        Duration::from_millis(300),
    )
    .await;
    assert!(matches!(result, Err(LmError::Timeout { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error() {
    // Bind then close a port so nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let lm = OpenAiCompatible::new(format!("http://127.0.0.1:{port}/v1"), "m");
    let err = Predict::<Classify>::new()
        .call_with(&lm, review())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, dspy::Error::Lm(LmError::Transport { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_reply_that_does_not_parse_reports_every_field() {
    let server = StubServer::start(|_| {
        Reply::completion("[[ ## sentiment ## ]]\necstatic\n\n[[ ## confidence ## ]]\nvery")
    })
    .await
    .expect("server starts");
    let lm = OpenAiCompatible::new(server.url(), "m");
    let err = Predict::<Classify>::new()
        .call_with(&lm, review())
        .await
        .expect_err("no parse");
    let dspy::Error::Parse(parse) = &err else {
        panic!("expected a parse error, got {err:?}")
    };
    // ChatAdapter failed and so did the JSON fallback (a second request); the error is
    // the ChatAdapter's, which names each field at fault.
    assert_eq!(server.requests().len(), 2);
    assert_eq!(parse.adapter, "ChatAdapter");
    let fields: Vec<&str> = parse.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["sentiment", "confidence"]);
    assert_eq!(parse.fields[0].raw.as_deref(), Some("ecstatic"));
    assert_eq!(
        parse.fields[0].expected,
        "Literal['positive', 'negative', 'neutral']"
    );
}

#[tokio::test]
async fn an_async_responder_answers_connections_concurrently() {
    // Each reply takes 200 ms to make and says how many replies were in the making when
    // it started; sent together from two clients, they overlap.
    let pending = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = StubServer::start_async(move |request| {
        let pending = std::sync::Arc::clone(&pending);
        let asked = request.last_message().to_string();
        async move {
            let before = pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            Reply::completion(format!("{asked} after {before}"))
        }
    })
    .await
    .expect("server starts");
    let (a, b) = (
        OpenAiCompatible::new(server.url(), "stub-model"),
        OpenAiCompatible::new(server.url(), "stub-model"),
    );
    let (one, two) = (
        ChatRequest::new(vec![Message::user("one")]),
        ChatRequest::new(vec![Message::user("two")]),
    );
    let (ra, rb) = tokio::join!(a.chat(&one), b.chat(&two));
    let mut texts = vec![
        ra.expect("first answers").choices[0].text.clone(),
        rb.expect("second answers").choices[0].text.clone(),
    ];
    texts.sort();
    assert!(texts[0].starts_with("one after ") && texts[1].starts_with("two after "));
    assert!(
        texts.iter().any(|t| t.ends_with("after 1")),
        "the replies did not overlap: {texts:?}"
    );
    assert!(server.requests().is_empty(), "start_async records nothing");
}
