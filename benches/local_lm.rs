//! Throughput of the local model through dspy-rs's own `LocalLm` (feature `local`).
//!
//! ```text
//! cargo bench --features local --bench local_lm
//! ```
//!
//! Prints a Markdown table: load time, prompt processing and generation in tokens per
//! second, a grammar-constrained call, a few-shot call with and without the cached
//! prefix, and the process's peak RSS.

use dspy::lm::{ChatRequest, LM, LmConfig, LocalLm, Message, ResponseFormat};
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let lm = LocalLm::from_env()?;
    let load = started.elapsed().as_secs_f64();
    let passage = "The committee met on Tuesday to review the budget, the schedule and the plans for the new library. ";

    // Prompt processing: ~500-token prompts whose first token differs, so no prefix is reused.
    let mut prompt_rates = Vec::new();
    for i in 0..5 {
        let text = format!("Note {i}. {}", passage.repeat(24));
        let request = ChatRequest::new(vec![Message::user(text)])
            .with_config(LmConfig::default().with_max_tokens(1));
        let t = Instant::now();
        let response = lm.chat(&request).await?;
        prompt_rates.push(response.usage.prompt_tokens as f64 / t.elapsed().as_secs_f64());
    }

    // Generation: a short prompt, 128 new tokens, greedy, no stop.
    let mut gen_rates = Vec::new();
    for i in 0..3 {
        let request = ChatRequest::new(vec![Message::user(format!(
            "Story {i}: Once upon a time, in a small village by the sea,"
        ))])
        .with_config(LmConfig::default().with_max_tokens(128));
        let t0 = Instant::now();
        let prompt_only = lm
            .chat(
                &request
                    .clone()
                    .with_config(LmConfig::default().with_max_tokens(1)),
            )
            .await?;
        let prompt_seconds = t0.elapsed().as_secs_f64();
        let t = Instant::now();
        let response = lm.chat(&request).await?;
        let seconds =
            t.elapsed().as_secs_f64() - prompt_seconds.min(t.elapsed().as_secs_f64() / 2.0);
        let _ = prompt_only;
        gen_rates.push(response.usage.completion_tokens as f64 / seconds);
    }

    // A grammar-constrained answer.
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "price": {"type": "number"}, "in_stock": {"type": "boolean"}},
        "required": ["name", "price", "in_stock"],
        "additionalProperties": false
    });
    let mut constrained = Vec::new();
    for item in [
        "A red mug, 12 euros, in stock.",
        "Headphones, $199, sold out.",
        "A desk lamp for 30.",
    ] {
        let request = ChatRequest::new(vec![Message::user(format!("Describe as JSON: {item}"))])
            .with_config(LmConfig::default().with_max_tokens(64))
            .with_response_format(Some(ResponseFormat::JsonSchema {
                name: "item".into(),
                schema: schema.clone(),
            }));
        let t = Instant::now();
        let response = lm.chat(&request).await?;
        serde_json::from_str::<serde_json::Value>(response.text().unwrap_or_default())?;
        constrained.push((t.elapsed().as_secs_f64(), response.usage.completion_tokens));
    }

    // A few-shot prompt twice with a different last turn: the second reuses the prefix.
    let mut messages = vec![Message::system(
        "Classify each review as positive or negative.",
    )];
    for (review, label) in [
        ("Loved it.", "positive"),
        ("Awful.", "negative"),
        ("A delight.", "positive"),
        ("Tedious.", "negative"),
    ]
    .iter()
    .cycle()
    .take(16)
    {
        messages.push(Message::user(format!("Review: {review} {}", passage)));
        messages.push(Message::assistant(label.to_string()));
    }
    let few_shot = |last: &str| {
        let mut m = messages.clone();
        m.push(Message::user(format!("Review: {last}")));
        ChatRequest::new(m).with_config(LmConfig::default().with_max_tokens(4))
    };
    let _ = lm
        .chat(
            &ChatRequest::new(vec![Message::user("reset the cache")])
                .with_config(LmConfig::default().with_max_tokens(1)),
        )
        .await?;
    let t = Instant::now();
    let cold = lm.chat(&few_shot("Great fun.")).await?;
    let cold_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let _warm = lm.chat(&few_shot("Not good at all.")).await?;
    let warm_s = t.elapsed().as_secs_f64();

    let (c_s, c_tokens): (Vec<f64>, Vec<u64>) = constrained.into_iter().unzip();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| model load | {load:.2} s |");
    println!(
        "| prompt processing (~500-token prompts, median of 5) | {:.0} tok/s |",
        median(prompt_rates)
    );
    println!(
        "| generation (128 tokens, greedy, median of 3) | {:.1} tok/s |",
        median(gen_rates)
    );
    println!(
        "| grammar-constrained JSON answer (3 items, median) | {:.2} s, {} tokens |",
        median(c_s),
        c_tokens.iter().max().unwrap_or(&0)
    );
    println!(
        "| few-shot call, {} prompt tokens: cold / prefix cached | {cold_s:.2} s / {warm_s:.2} s ({:.1}x) |",
        cold.usage.prompt_tokens,
        cold_s / warm_s
    );
    println!("| peak RSS | {:.0} MiB |", peak_rss_mib());
    Ok(())
}
