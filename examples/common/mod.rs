//! What the examples share: the movie-review task, its data and metric, and the choice of
//! LM. Each example includes it with `mod common;`.
//!
//! The LM, in order: the local model (feature `local`, installed by
//! `scripts/install-model.sh`); `DSPY_MODEL` (with `DSPY_BASE_URL`, `DSPY_API_KEY`) for any
//! OpenAI-compatible endpoint; otherwise a loopback server that answers by a keyword rule,
//! a stand-in so that the examples run anywhere (its scores mean nothing).

#![allow(dead_code)]

use dspy::example::{FieldMap, examples, read_jsonl, split};
use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use dspy::{EvalReport, Example, Trace};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A review's polarity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    /// The reviewer liked the film.
    Positive,
    /// The reviewer did not.
    Negative,
}

/// Classify the sentiment of a movie review.
#[derive(Signature)]
pub struct Classify {
    #[input]
    pub review: String,
    #[output]
    pub sentiment: Sentiment,
}

/// One labeled review.
pub type Ex = Example<ClassifyInput, ClassifyOutput>;

/// Accuracy: the predicted label is the gold one.
pub fn metric(ex: &Ex, out: &ClassifyOutput, _: Option<&Trace>) -> bool {
    out.sentiment == ex.label.sentiment
}

/// The classifier every example compiles: one `Predict`, answers capped at 48 tokens (a
/// label needs about 15; a model that rambles is cut short instead of running on).
pub fn classifier() -> Predict<Classify> {
    Predict::new().with_config(LmConfig::default().with_max_tokens(48))
}

/// `data/movie_sentiment.jsonl` split 20/80 into train and dev, as DSPy recommends for
/// prompt optimizers; `DSPY_DEV` caps the dev set.
pub fn movie_data(default_dev: usize) -> Result<(Vec<Ex>, Vec<Ex>), Box<dyn std::error::Error>> {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/movie_sentiment.jsonl");
    let all: Vec<Ex> = examples(&read_jsonl(data, &FieldMap::new())?)?;
    let (train, mut dev) = split(all, 0.2, 7);
    let cap = std::env::var("DSPY_DEV")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_dev);
    dev.truncate(cap);
    println!(
        "Data: {} training and {} dev examples (data/movie_sentiment.jsonl)",
        train.len(),
        dev.len()
    );
    Ok((train, dev))
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

/// The LM the examples run on.
pub struct Chosen {
    /// The LM.
    pub lm: Arc<dyn LM>,
    /// How many calls to run at once: one for the in-process model (it serves one call at
    /// a time), eight for a server.
    pub concurrency: usize,
    /// The stand-in server, when that is what answers (alive as long as this is).
    pub server: Option<StubServer>,
}

/// Picks the LM, says which, and configures it as the default.
pub async fn choose_lm() -> Result<Chosen, Box<dyn std::error::Error>> {
    let chosen = pick().await?;
    dspy::settings::configure_arc(Arc::clone(&chosen.lm));
    Ok(chosen)
}

async fn pick() -> Result<Chosen, Box<dyn std::error::Error>> {
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
            return Ok(Chosen {
                lm: Arc::new(lm),
                concurrency: 1,
                server: None,
            });
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
        return Ok(Chosen {
            lm: Arc::new(lm.with_temperature(0.0)),
            concurrency: 8,
            server: None,
        });
    }
    let server =
        StubServer::start(|request| Reply::completion(keyword_rule(request.last_message())))
            .await?;
    println!(
        "LM: none configured; a keyword-rule stand-in answers at {} (scores mean nothing)",
        server.url()
    );
    Ok(Chosen {
        lm: Arc::new(OpenAiCompatible::new(server.url(), "keyword-stand-in")),
        concurrency: 8,
        server: Some(server),
    })
}

/// One line: accuracy, its interval, failures, time.
pub fn summary<O>(report: &EvalReport<O>) -> String {
    let (lo, hi) = report.ci95();
    format!(
        "accuracy {:.1}% (95% CI {:.1}–{:.1}) on {} examples, {} failed, {:.1}s",
        100.0 * report.mean(),
        100.0 * lo,
        100.0 * hi,
        report.rows.len(),
        report.failures(),
        report.elapsed.as_secs_f64()
    )
}

/// The header of the optimizer tables in BENCHMARKS.md.
pub const TABLE_HEADER: &str = "| program | dev accuracy | 95% CI | failed | compile LM calls | compile time | dev LM calls | dev time |\n|---|---|---|---|---|---|---|---|";

/// One row of those tables: a program's dev score, what compiling it cost, what the dev
/// evaluation cost.
pub fn table_row<O>(
    name: &str,
    compile: Option<&dspy::optimizers::CompileReport>,
    eval: &EvalReport<O>,
    eval_calls: u64,
) -> String {
    let (lo, hi) = eval.ci95();
    let (calls, secs) = compile.map_or((0, 0.0), |r| (r.usage.calls, r.wall_seconds));
    format!(
        "| {name} | {:.1}% | {:.1}–{:.1}% | {} | {calls} | {secs:.1} s | {eval_calls} | {:.1} s |",
        100.0 * eval.mean(),
        100.0 * lo,
        100.0 * hi,
        eval.failures(),
        eval.elapsed.as_secs_f64()
    )
}

/// Evaluates `program` on `dev` and counts the LM calls it made.
pub async fn score_on<P>(
    dev: &[Ex],
    program: &P,
    concurrency: usize,
) -> (EvalReport<ClassifyOutput>, u64)
where
    P: Program<Input = ClassifyInput, Output = ClassifyOutput>,
{
    let evaluate = dspy::Evaluate::new(dev, metric).concurrency(concurrency);
    let (report, usage) = dspy::usage::tracked(evaluate.run(program)).await;
    (report, usage.calls)
}
