//! BootstrapFewShot: the program teaches itself from its own correct answers.
//!
//! ```text
//! cargo run --features local --example bootstrap     # on the local model
//! cargo run --example bootstrap                       # DSPY_MODEL, or the stand-in
//! ```
//!
//! The teacher (the classifier with labeled demos) runs over the training set; each run the
//! metric accepts becomes a demo (an "augmented" one, holding the model's own answer), and
//! labeled examples fill the rest. The compile report and the program are saved as JSON.

mod common;

use common::{classifier, metric, movie_data, summary};
use dspy::Evaluate;
use dspy::optimizers::{BootstrapFewShot, Optimizer};
use dspy::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(60)?;

    let optimizer = BootstrapFewShot::new()
        .max_bootstrapped_demos(4)
        .max_labeled_demos(8)
        .num_threads(chosen.concurrency)
        .seed(1);
    let (compiled, report) = optimizer.compile(classifier(), &train, &metric).await?;
    println!("\n{report}");
    for demo in compiled.demos() {
        println!(
            "  demo{}: {:?} -> {}",
            if demo.contains_key("augmented") {
                " (bootstrapped)"
            } else {
                ""
            },
            demo["review"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect::<String>(),
            demo["sentiment"]
        );
    }

    let score = Evaluate::new(&dev, metric)
        .concurrency(chosen.concurrency)
        .run(&compiled)
        .await;
    println!("\nCompiled: {}", summary(&score));

    let dir = std::env::temp_dir();
    compiled.save(dir.join("bootstrap_classify.json"))?;
    report.save(dir.join("bootstrap_report.json"))?;
    println!("Saved the program and the report under {}", dir.display());
    Ok(())
}
