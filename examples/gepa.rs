//! GEPA: instructions evolved by reflecting on the metric's feedback, kept on a Pareto
//! front of validation examples.
//!
//! ```text
//! cargo run --features local --example gepa      # on the local model
//! cargo run --example gepa                       # DSPY_MODEL, or the stand-in
//! ```
//!
//! The movie-review classifier compiled with GEPA under a budget of metric calls. The
//! metric says what was wrong in words, and the reflection LM reads it with the inputs
//! and outputs of a minibatch to write a better instruction; a new instruction is kept
//! only when it does better on that minibatch. The report shows each candidate's lineage.

mod common;

use common::{ClassifyOutput, Ex, classifier, movie_data, summary};
use dspy::Trace;
use dspy::optimizers::{Gepa, ScoreWithFeedback};
use dspy::prelude::*;

/// Accuracy, with feedback that names the right label and what the review said.
fn feedback(
    ex: &Ex,
    out: &ClassifyOutput,
    _: Option<&Trace>,
    _: Option<&str>,
) -> ScoreWithFeedback {
    if out.sentiment == ex.label.sentiment {
        ScoreWithFeedback::new(1.0, "Correct.")
    } else {
        ScoreWithFeedback::new(
            0.0,
            format!(
                "Wrong: this review is {:?}, not {:?}. Judge the reviewer's overall opinion of the film, not single words.",
                ex.label.sentiment, out.sentiment
            )
            .to_lowercase(),
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(60)?;
    // Reflect on half of the training set; keep the Pareto front on the other half.
    let (train, val) = train.split_at(train.len() / 2);

    let gepa = Gepa::new()
        .max_metric_calls(200)
        .reflection_max_tokens(200)
        .num_threads(chosen.concurrency);
    let (compiled, report) = gepa
        .compile_with_feedback(classifier(), train, Some(val), &feedback)
        .await?;
    println!("\n{report}");
    if let Some(details) = &report.details {
        println!("lineage: {:#}", details["lineage"]);
    }
    println!("chosen instruction: {}", compiled.instructions());

    let metric =
        |ex: &Ex, out: &ClassifyOutput, t: Option<&Trace>| feedback(ex, out, t, None).score;
    let score = dspy::Evaluate::new(&dev, metric)
        .concurrency(chosen.concurrency)
        .run(&compiled)
        .await;
    println!("Compiled, on dev: {}", summary(&score));
    Ok(())
}
