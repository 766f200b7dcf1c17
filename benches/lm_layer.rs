//! The cost of the LM layer itself, against a loopback OpenAI-compatible server.
//!
//! ```text
//! cargo bench --bench lm_layer
//! ```
//!
//! Prints Markdown tables:
//! - cache hits (memory, disk) next to the loopback HTTP call they save;
//! - 10,000 calls at concurrency 64: raw `reqwest` posting the same body (the reference),
//!   the `OpenAiCompatible` client, the client under `LmBuilder`'s layers (retries and a
//!   concurrency limit), the same through `Predict` (formatting and parsing), and with a
//!   disk cache that misses and stores every call.

use dspy::lm::{Cache, CacheKey, CachedLm, ChatRequest, LM, LmBuilder, Message, RetryPolicy};
use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLS: usize = 10_000;
const CONCURRENCY: usize = 64;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn request(i: usize) -> ChatRequest {
    ChatRequest::new(vec![
        Message::system(
            "Your input fields are:\n1. `question` (str)\nYour output fields are:\n1. `answer` (str)",
        ),
        Message::user(format!(
            "[[ ## question ## ]]\nWhat is {i} + 1?\n\nRespond with the corresponding output fields."
        )),
    ])
}

/// Runs `call(i)` for `i` in `0..CALLS`, `CONCURRENCY` at a time; returns seconds and failures.
async fn run<F, Fut>(call: F) -> (f64, usize)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let failures = futures::stream::iter(0..CALLS)
        .map(call)
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| futures::future::ready(!ok))
        .count()
        .await;
    (started.elapsed().as_secs_f64(), failures)
}

/// Microseconds per call of `f`, median of 5 rounds of `n`.
async fn per_call<F, Fut>(n: usize, f: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for i in 0..n {
            f(i).await;
        }
        rounds.push(started.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    median(rounds)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = StubServer::start(|_| {
        Reply::completion("[[ ## answer ## ]]\nforty-two\n\n[[ ## completed ## ]]")
    })
    .await?;
    let url = server.url();
    let client =
        || OpenAiCompatible::new(url.clone(), "stub").with_timeout(Duration::from_secs(30));
    let dir = std::env::temp_dir().join(format!("dspy-bench-cache-{}", std::process::id()));

    // --- Cache hits next to the call they save -----------------------------------------
    let raw = client();
    let http_us = per_call(500, |_| {
        let raw = &raw;
        async move {
            raw.chat(&request(0)).await.expect("answers");
        }
    })
    .await;
    let memory = CachedLm::new(Arc::new(client()), Arc::new(Cache::memory(1000)));
    memory.chat(&request(0)).await?;
    let memory_us = per_call(20_000, |_| {
        let memory = &memory;
        async move {
            assert!(memory.chat(&request(0)).await.expect("hit").cached);
        }
    })
    .await;
    let disk = CachedLm::new(
        Arc::new(client()),
        Arc::new(Cache::memory(0).with_disk(&dir, 1 << 30)?),
    );
    disk.chat(&request(0)).await?;
    let disk_us = per_call(2_000, |_| {
        let disk = &disk;
        async move {
            assert!(disk.chat(&request(0)).await.expect("hit").cached);
        }
    })
    .await;
    let fingerprint = json!({"model": "stub", "config": {}});
    let key_us = per_call(20_000, |i| {
        let fingerprint = &fingerprint;
        async move {
            std::hint::black_box(CacheKey::new(fingerprint, &request(i % 2)));
        }
    })
    .await;
    println!("| Cache | µs per call | vs. loopback HTTP call |");
    println!("|---|---:|---:|");
    println!("| loopback HTTP call (reference, no cache) | {http_us:.1} | 1.00 |");
    println!(
        "| memory hit | {memory_us:.1} | {:.3} |",
        memory_us / http_us
    );
    println!(
        "| disk hit (SQLite, memory off) | {disk_us:.1} | {:.3} |",
        disk_us / http_us
    );
    println!(
        "| of which: the key (canonical JSON + SHA-256) | {key_us:.1} | {:.3} |",
        key_us / http_us
    );
    println!();

    // --- 10,000 calls at concurrency 64 ------------------------------------------------
    let http = reqwest::Client::new();
    let body = |i: usize| {
        json!({
            "model": "stub",
            "messages": request(i).messages,
        })
    };
    let endpoint = format!("{url}/chat/completions");
    let (reference, ref_failed) = run(|i| {
        let http = &http;
        let endpoint = &endpoint;
        let body = body(i);
        async move {
            match http.post(endpoint).json(&body).send().await {
                Ok(response) => response
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["choices"][0]["message"]["content"].is_string()),
                Err(_) => false,
            }
        }
    })
    .await;

    let bare = client();
    let (bare_s, bare_failed) = run(|i| {
        let bare = &bare;
        async move { bare.chat(&request(i)).await.is_ok() }
    })
    .await;

    let layered = LmBuilder::from_lm(client())
        .no_cache()
        .retries(RetryPolicy::retries(3))
        .max_concurrency(CONCURRENCY)
        .build()?;
    let (layered_s, layered_failed) = run(|i| {
        let layered = &layered;
        async move { layered.chat(&request(i)).await.is_ok() }
    })
    .await;

    let qa = Predict::<Dynamic>::parse("question -> answer")?;
    let ask = |i: usize| {
        let mut input = dspy::Fields::new();
        input.insert("question".into(), format!("What is {i} + 1?").into());
        input
    };
    let (predict_s, predict_failed) = run(|i| {
        let qa = &qa;
        let layered = &layered;
        let input = ask(i);
        async move { qa.call_with(&**layered, input).await.is_ok() }
    })
    .await;

    let cached = LmBuilder::from_lm(client())
        .cache(Arc::new(
            Cache::memory(100_000).with_disk(dir.join("misses"), 1 << 30)?,
        ))
        .retries(RetryPolicy::retries(3))
        .max_concurrency(CONCURRENCY)
        .build()?;
    let (cached_s, cached_failed) = run(|i| {
        let qa = &qa;
        let cached = &cached;
        let input = ask(i);
        async move { qa.call_with(&**cached, input).await.is_ok() }
    })
    .await;
    let (hits_s, hits_failed) = run(|i| {
        let qa = &qa;
        let cached = &cached;
        let input = ask(i);
        async move { qa.call_with(&**cached, input).await.is_ok() }
    })
    .await;

    println!(
        "| {CALLS} calls, {CONCURRENCY} at a time | seconds | calls/s | vs. raw reqwest | failed |"
    );
    println!("|---|---:|---:|---:|---:|");
    let row = |name: &str, secs: f64, failed: usize| {
        println!(
            "| {name} | {secs:.2} | {:.0} | {:.2} | {failed} |",
            CALLS as f64 / secs,
            secs / reference
        );
    };
    row(
        "raw reqwest POST + JSON parse (reference)",
        reference,
        ref_failed,
    );
    row("`OpenAiCompatible::chat`", bare_s, bare_failed);
    row(
        "+ retries + concurrency limit (`LmBuilder`, no cache)",
        layered_s,
        layered_failed,
    );
    row(
        "+ `Predict` (format, call, parse, history, usage)",
        predict_s,
        predict_failed,
    );
    row(
        "+ memory/disk cache, every call a miss (stored)",
        cached_s,
        cached_failed,
    );
    row(
        "+ memory/disk cache, every call a memory hit",
        hits_s,
        hits_failed,
    );
    println!();
    println!(
        "Requests the server saw: {} (the hit round made none).",
        server.requests().len()
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
