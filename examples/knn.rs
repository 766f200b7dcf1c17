//! KnnFewShot: each review gets, as demos, the training reviews nearest to it.
//!
//! ```text
//! cargo run --features local --example knn     # on the local model
//! cargo run --example knn                       # DSPY_MODEL, or the stand-in
//! ```
//!
//! Neighbours are found by an embedder: `DSPY_EMBED_MODEL` (with `DSPY_EMBED_BASE_URL`) for
//! an OpenAI-compatible `/embeddings` endpoint, otherwise the local `HashingEmbedder`
//! (hashed words and character trigrams: nearest by wording, no model needed).

mod common;

use common::{ClassifyInput, classifier, metric, movie_data, summary};
use dspy::Evaluate;
use dspy::embed::{Embedder, HashingEmbedder, OpenAiEmbedder};
use dspy::optimizers::KnnFewShot;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(60)?;

    let embedder: Arc<dyn Embedder> = match std::env::var("DSPY_EMBED_MODEL") {
        Ok(model) => match std::env::var("DSPY_EMBED_BASE_URL") {
            Ok(base) => Arc::new(OpenAiEmbedder::new(base, model)),
            Err(_) => Arc::new(OpenAiEmbedder::from_model(&model)?),
        },
        Err(_) => Arc::new(HashingEmbedder::default()),
    };
    println!("Embedder: {}", embedder.name());
    let (program, report) = KnnFewShot::new(6, embedder)
        .compile(classifier(), &train)
        .await?;
    println!("Embedded the training set in {:.3}s", report.wall_seconds);

    let review = "a tedious, overlong mess with no laughs";
    let demos = program
        .demos_for(&ClassifyInput {
            review: review.into(),
        })
        .await?;
    println!("\nNearest training reviews to {review:?}:");
    for demo in &demos {
        println!("  {} ({})", demo["review"], demo["sentiment"]);
    }

    let score = Evaluate::new(&dev, metric)
        .concurrency(chosen.concurrency)
        .run(&program)
        .await;
    println!("\nKNN few-shot: {}", summary(&score));
    Ok(())
}
