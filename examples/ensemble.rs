//! Ensemble: several compiled classifiers vote.
//!
//! ```text
//! cargo run --features local --example ensemble     # on the local model
//! cargo run --example ensemble                       # DSPY_MODEL, or the stand-in
//! ```
//!
//! Three classifiers, each compiled with LabeledFewShot from a different seed (so each sees
//! different demos), answer every review; the majority label wins.

mod common;

use common::{classifier, metric, movie_data, summary};
use dspy::Evaluate;
use dspy::optimizers::{Ensemble, LabeledFewShot};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(40)?;

    let members = (0..3)
        .map(|seed| {
            LabeledFewShot::new(6)
                .seed(seed)
                .compile(classifier(), &train)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let evaluate = Evaluate::new(&dev, metric).concurrency(chosen.concurrency);
    for (i, member) in members.iter().enumerate() {
        println!("member {i}: {}", summary(&evaluate.run(member).await));
    }
    let ensemble = Ensemble::new(members);
    println!("majority of 3: {}", summary(&evaluate.run(&ensemble).await));
    Ok(())
}
