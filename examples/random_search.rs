//! BootstrapFewShotWithRandomSearch: build many few-shot candidates, keep the best.
//!
//! ```text
//! cargo run --features local --example random_search     # on the local model
//! cargo run --example random_search                       # DSPY_MODEL, or the stand-in
//! ```
//!
//! Candidates in DSPy's order (zero-shot, labeled only, bootstrap in training order, then
//! bootstraps of shuffled training sets), each scored on a validation set; the report
//! lists every score with its interval.

mod common;

use common::{classifier, metric, movie_data, summary};
use dspy::Evaluate;
use dspy::optimizers::{BootstrapFewShotWithRandomSearch, Optimizer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(60)?;
    // Score candidates on part of the training set, and report on the dev set.
    let (train, val) = train.split_at(train.len() / 2);

    let search = BootstrapFewShotWithRandomSearch::new()
        .num_candidate_programs(3)
        .max_bootstrapped_demos(4)
        .max_labeled_demos(8)
        .num_threads(chosen.concurrency)
        .seed(1);
    let (best, report) = search
        .compile_with_valset(classifier(), train, Some(val), &metric)
        .await?;
    println!("\n{report}");

    let score = Evaluate::new(&dev, metric)
        .concurrency(chosen.concurrency)
        .run(&best)
        .await;
    println!("Best candidate on dev: {}", summary(&score));
    Ok(())
}
