//! A loopback OpenAI-compatible server that answers any ChatAdapter prompt at once: the
//! LM stand-in that the side-by-side benchmarks with Python DSPy both call.
//!
//! ```text
//! cargo run --release --example bench_stub_server      # prints its URL, serves until killed
//! ```
//!
//! Each reply fills the output fields the prompt asks for (read from the system message's
//! "Your output fields are:" list, as Python DSPy and dspy-rs both write it): `answer` is
//! `42`, any other field a short text, then `[[ ## completed ## ]]`. No model runs, so
//! what a client measures against it is the client's own cost.

use dspy::testing::{RecordedRequest, Reply, StubServer};
use serde_json::Value;

/// The output field names listed in the request's system message.
fn output_fields(request: &RecordedRequest) -> Vec<String> {
    let system = request
        .body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some((_, listed)) = system.split_once("Your output fields are:") else {
        return vec!["answer".into()];
    };
    listed
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("All interactions"))
        .filter_map(|line| {
            let (number, rest) = line.split_once(". `")?;
            number.parse::<usize>().ok()?;
            Some(rest.split('`').next()?.to_string())
        })
        .collect()
}

fn completion(request: &RecordedRequest) -> String {
    let mut text = String::new();
    for field in output_fields(request) {
        let value = if field == "answer" {
            "42"
        } else {
            "Because the stub says so."
        };
        text.push_str(&format!("[[ ## {field} ## ]]\n{value}\n\n"));
    }
    text.push_str("[[ ## completed ## ]]");
    text
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server =
        StubServer::start_unrecorded(|request| Reply::completion(completion(request))).await?;
    println!("{}", server.url());
    // Serves until the process is killed.
    std::future::pending::<()>().await;
    Ok(())
}
