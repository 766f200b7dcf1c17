//! Classify movie reviews, then compile the classifier and watch the score move.
//!
//! ```text
//! bash scripts/quickstart.sh     # installs what is missing, then runs this on the local model
//! cargo run --features local --example quickstart
//! ```
//!
//! The program is one `Predict` over a typed signature. It is evaluated on a dev set,
//! compiled with LabeledFewShot (demos from the training set), evaluated again, saved,
//! loaded, and run on a new review.
//!
//! The LM, in order: the local model (feature `local`, model installed by
//! `scripts/install-model.sh`); `DSPY_MODEL` (and `DSPY_BASE_URL`, `DSPY_API_KEY`) for any
//! OpenAI-compatible endpoint; otherwise a loopback server that answers by a keyword rule,
//! a stand-in so the example runs anywhere (its scores mean nothing).

mod common;

use common::{ClassifyInput, classifier, metric, movie_data, summary};
use dspy::Evaluate;
use dspy::optimizers::LabeledFewShot;
use dspy::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(40)?;

    let program = classifier();
    let evaluate = Evaluate::new(&dev, metric).concurrency(chosen.concurrency);
    let before = evaluate.run(&program).await;
    println!("\nBefore compiling (zero-shot):\n  {}", summary(&before));

    let compiled = LabeledFewShot::new(8).seed(1).compile(program, &train)?;
    println!(
        "\nCompiled with LabeledFewShot: {} demos",
        compiled.demos().len()
    );
    let after = evaluate.run(&compiled).await;
    println!("  {}", summary(&after));
    println!("\n{}", before.compare(&after));

    let path = std::env::temp_dir().join("quickstart_classify.json");
    compiled.save(&path)?;
    let mut loaded = classifier();
    loaded.load(&path)?;
    let review = "A gripping story with wonderful performances.";
    let out = loaded
        .call(ClassifyInput {
            review: review.into(),
        })
        .await?;
    println!(
        "\nSaved to {}, loaded ({} demos), and run:",
        path.display(),
        loaded.demos().len()
    );
    println!("  {review} -> {:?}", out.sentiment);
    println!("\nTotal wall time {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
