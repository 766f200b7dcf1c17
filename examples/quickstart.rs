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

use dspy::example::{FieldMap, examples, read_jsonl, split};
use dspy::optimizers::LabeledFewShot;
use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use dspy::{Evaluate, Example, Trace};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
}

/// Classify the sentiment of a movie review.
#[derive(Signature)]
struct Classify {
    #[input]
    review: String,
    #[output]
    sentiment: Sentiment,
}

type Ex = Example<ClassifyInput, ClassifyOutput>;

fn metric(ex: &Ex, out: &ClassifyOutput, _: Option<&Trace>) -> bool {
    out.sentiment == ex.label.sentiment
}

/// The stand-in: positive unless the review has a negative word. Not an LM.
fn keyword_rule(prompt: &str) -> String {
    let review = prompt
        .rsplit("[[ ## review ## ]]\n")
        .next()
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_lowercase();
    let negative = [
        "bad", "dull", "boring", "worst", "fails", "tedious", "mess", "never", "no ", "not ",
    ];
    let label = if negative.iter().any(|w| review.contains(w)) {
        "negative"
    } else {
        "positive"
    };
    format!("[[ ## sentiment ## ]]\n{label}\n\n[[ ## completed ## ]]")
}

async fn choose_lm() -> Result<(Arc<dyn LM>, Option<StubServer>), Box<dyn std::error::Error>> {
    #[cfg(feature = "local")]
    {
        let path = dspy::lm::LocalLm::env_model_path();
        if path.is_file() {
            let lm = dspy::lm::LocalLm::load(path)?;
            println!(
                "LM: {} (local, loaded in {:.2}s, {}M parameters)",
                lm.model(),
                lm.info().load_seconds,
                lm.info().parameters / 1_000_000
            );
            return Ok((Arc::new(lm), None));
        }
        println!(
            "(no local model at {}: run scripts/install-model.sh)",
            path.display()
        );
    }
    if let Ok(model) = std::env::var("DSPY_MODEL") {
        let lm = match std::env::var("DSPY_BASE_URL") {
            Ok(base) => {
                let lm = OpenAiCompatible::new(base, model);
                match std::env::var("DSPY_API_KEY") {
                    Ok(key) => lm.with_api_key(key),
                    Err(_) => lm,
                }
            }
            Err(_) => OpenAiCompatible::from_model(&model)?,
        };
        println!("LM: {}", lm.model());
        return Ok((Arc::new(lm.with_temperature(0.0)), None));
    }
    let server =
        StubServer::start(|request| Reply::completion(keyword_rule(request.last_message())))
            .await?;
    println!(
        "LM: none configured; a keyword-rule stand-in answers at {} (scores mean nothing)",
        server.url()
    );
    Ok((
        Arc::new(OpenAiCompatible::new(server.url(), "keyword-stand-in")),
        Some(server),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let (lm, _server) = choose_lm().await?;
    dspy::settings::configure_arc(lm);

    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/movie_sentiment.jsonl");
    let all: Vec<Ex> = examples(&read_jsonl(data, &FieldMap::new())?)?;
    let (train, dev) = split(all, 0.2, 7);
    let dev_size = std::env::var("DSPY_QUICKSTART_DEV")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let dev = &dev[..dev_size.min(dev.len())];
    println!(
        "Data: {} training and {} dev examples (data/movie_sentiment.jsonl)\n",
        train.len(),
        dev.len()
    );

    let program = Predict::<Classify>::new();
    let evaluate = Evaluate::new(dev, metric).concurrency(4);
    let before = evaluate.run(&program).await;
    println!("Before compiling (zero-shot):");
    print_summary(&before);

    let compiled = LabeledFewShot::new(8).seed(1).compile(program, &train)?;
    println!(
        "\nCompiled with LabeledFewShot: {} demos",
        compiled.demos().len()
    );
    let after = evaluate.run(&compiled).await;
    print_summary(&after);
    println!("\n{}", before.compare(&after));

    let path = std::env::temp_dir().join("quickstart_classify.json");
    compiled.save(&path)?;
    let mut loaded = Predict::<Classify>::new();
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

fn print_summary<O>(report: &dspy::EvalReport<O>) {
    let (lo, hi) = report.ci95();
    println!(
        "  accuracy {:.1}% (95% CI {:.1}–{:.1}) on {} examples, {} failed, {:.1}s",
        100.0 * report.mean(),
        100.0 * lo,
        100.0 * hi,
        report.rows.len(),
        report.failures(),
        report.elapsed.as_secs_f64()
    );
}
