//! MIPROv2: instructions and demo sets searched together by a Bayesian (TPE) search.
//!
//! ```text
//! cargo run --features local --example mipro      # on the local model
//! cargo run --example mipro                       # DSPY_MODEL, or the stand-in
//! ```
//!
//! The movie-review classifier compiled with MIPROv2 (`auto` light): demo sets are
//! bootstrapped, a proposer LM writes instructions from a summary of the data and of the
//! program, and TPE trials on minibatches pick the combination; the best fully scored
//! program is evaluated on the dev set, saved, and loaded back.

mod common;

use common::{classifier, metric, movie_data, summary};
use dspy::Evaluate;
use dspy::optimizers::{MiproV2, Optimizer};
use dspy::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(60)?;

    let mipro = MiproV2::new() // auto light, as DSPy
        .max_bootstrapped_demos(2)
        .max_labeled_demos(4)
        .proposal_max_tokens(160)
        .num_threads(chosen.concurrency);
    let (compiled, report) = mipro.compile(classifier(), &train, &metric).await?;
    println!("\n{report}");
    if let Some(details) = &report.details {
        println!(
            "instruction candidates: {:#}",
            details["instruction_candidates"]
        );
    }
    println!("chosen instruction: {}", compiled.instructions());

    let path = std::env::temp_dir().join("dspy-mipro-example.json");
    compiled.save(&path)?;
    let mut loaded = classifier();
    loaded.load(&path)?;
    let score = Evaluate::new(&dev, metric)
        .concurrency(chosen.concurrency)
        .run(&loaded)
        .await;
    println!("Compiled, saved and loaded, on dev: {}", summary(&score));
    Ok(())
}
