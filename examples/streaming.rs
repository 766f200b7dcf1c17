//! The LM layer as a user meets it: an LM built with a cache, retries and a concurrency
//! limit; a predictor's answer streamed field by field; the same call again from the cache;
//! and the history of both calls.
//!
//! ```text
//! cargo run --features local --example streaming
//! ```

mod common;

use dspy::StreamEvent;
use dspy::lm::{Cache, LmBuilder, RetryPolicy};
use dspy::prelude::*;
use futures::StreamExt;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// Classify the sentiment of a movie review, saying why first.
#[derive(Signature)]
struct Explain {
    #[input]
    review: String,
    /// One sentence on what the reviewer felt.
    #[output]
    reasoning: String,
    #[output]
    sentiment: common::Sentiment,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chosen = common::choose_lm().await?;
    // The cache lives next to the build, so a second run answers from disk.
    let cache_dir = std::env::temp_dir().join("dspy-rs-example-cache");
    let cache = Arc::new(Cache::memory(1_000).with_disk(&cache_dir, 100 << 20)?);
    let lm = LmBuilder::from_lm(Arc::clone(&chosen.lm))
        .cache(Arc::clone(&cache))
        .retries(RetryPolicy::retries(3))
        .max_concurrency(chosen.concurrency)
        .build()?;

    let explain = Predict::<Explain>::new()
        .with_config(LmConfig::default().with_max_tokens(96))
        .with_demo(
            &ExplainInput {
                review: "An absolute joy from start to finish.".into(),
            },
            &ExplainOutput {
                reasoning: "The reviewer loved every minute.".into(),
                sentiment: common::Sentiment::Positive,
            },
        )?
        .with_demo(
            &ExplainInput {
                review: "I walked out after twenty minutes.".into(),
            },
            &ExplainOutput {
                reasoning: "The reviewer could not stand it.".into(),
                sentiment: common::Sentiment::Negative,
            },
        )?;
    let review = ExplainInput {
        review: "Clever, warm and very funny; the cast is superb.".into(),
    };

    println!("\nStreaming (fields as the model writes them):");
    let started = Instant::now();
    let mut current = String::new();
    let mut events = explain.stream_with(Arc::clone(&lm), review.clone());
    while let Some(event) = events.next().await {
        match event? {
            StreamEvent::Field { field, text } => {
                if field != current {
                    print!("\n  {field}: ");
                    current = field;
                }
                print!("{text}");
                std::io::stdout().flush()?;
            }
            StreamEvent::Done(out) => println!(
                "\n  => {:?} ({:.2}s)",
                out.sentiment,
                started.elapsed().as_secs_f64()
            ),
            _ => {}
        }
    }

    let started = Instant::now();
    let again = explain.call_with(&*lm, review).await?;
    println!(
        "\nThe same call again: {:?} in {:.1} ms; cache {:?}",
        again.sentiment,
        started.elapsed().as_secs_f64() * 1000.0,
        cache.stats()
    );
    println!("\nThe last call, as `dspy::inspect_history(1)` shows it:\n");
    println!("{}", dspy::inspect_history(1));
    Ok(())
}
