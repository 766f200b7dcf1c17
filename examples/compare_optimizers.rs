//! Every few-shot optimizer on one task, side by side: the table in BENCHMARKS.md.
//!
//! ```text
//! cargo run --features local --example compare_optimizers     # on the local model
//! DSPY_DEV=100 cargo run --features local --example compare_optimizers   # a shorter run
//! ```
//!
//! The movie-review classifier, uncompiled and compiled by LabeledFewShot,
//! BootstrapFewShot, BootstrapFewShotWithRandomSearch and KnnFewShot, each scored on the
//! same dev set (80% of the data; the optimizers see only the other 20%). Printed: dev
//! accuracy with its 95% interval, LM calls and wall time of compiling and of evaluating.

mod common;

use common::{Classify, ClassifyInput, ClassifyOutput, classifier, metric, movie_data};
use dspy::embed::HashingEmbedder;
use dspy::optimizers::{
    BootstrapFewShot, BootstrapFewShotWithRandomSearch, CompileReport, KnnFewShot, LabeledFewShot,
    Optimizer,
};
use dspy::usage::tracked;
use dspy::{EvalReport, Evaluate, Metric, Predict, Program};
use std::sync::Arc;

struct Row {
    name: String,
    compile: Option<CompileReport>,
    eval: EvalReport<ClassifyOutput>,
    eval_calls: u64,
}

/// Evaluates `program` and counts the LM calls it made.
async fn score<P, M>(
    evaluate: &Evaluate<'_, ClassifyInput, ClassifyOutput, M>,
    program: &P,
) -> (EvalReport<ClassifyOutput>, u64)
where
    P: Program<Input = ClassifyInput, Output = ClassifyOutput>,
    M: Metric<ClassifyInput, ClassifyOutput, ClassifyOutput>,
{
    let (report, usage) = tracked(evaluate.run(program)).await;
    (report, usage.calls)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(usize::MAX)?;
    let threads = chosen.concurrency;
    let evaluate = Evaluate::new(&dev, metric).concurrency(threads);
    let mut rows = Vec::new();

    let zero: Predict<Classify> = classifier();
    let (eval, eval_calls) = score(&evaluate, &zero).await;
    println!("uncompiled: {:.1}%", eval.percent());
    rows.push(Row {
        name: "uncompiled (zero-shot)".into(),
        compile: None,
        eval,
        eval_calls,
    });

    let (p, report) = Optimizer::compile(
        &LabeledFewShot::new(8).seed(1),
        classifier(),
        &train,
        &metric,
    )
    .await?;
    let (eval, eval_calls) = score(&evaluate, &p).await;
    println!("LabeledFewShot: {:.1}%", eval.percent());
    rows.push(Row {
        name: "LabeledFewShot(k=8)".into(),
        compile: Some(report),
        eval,
        eval_calls,
    });

    let bootstrap = BootstrapFewShot::new()
        .max_bootstrapped_demos(4)
        .max_labeled_demos(8)
        .num_threads(threads)
        .max_errors(40)
        .seed(1);
    let (p, report) = bootstrap.compile(classifier(), &train, &metric).await?;
    let (eval, eval_calls) = score(&evaluate, &p).await;
    println!("BootstrapFewShot: {:.1}%\n{report}", eval.percent());
    rows.push(Row {
        name: "BootstrapFewShot(4 boot, 8 max)".into(),
        compile: Some(report),
        eval,
        eval_calls,
    });

    let search = BootstrapFewShotWithRandomSearch::new()
        .num_candidate_programs(4)
        .max_bootstrapped_demos(4)
        .max_labeled_demos(8)
        .num_threads(threads)
        .max_errors(40)
        .seed(1);
    let (p, report) = search.compile(classifier(), &train, &metric).await?;
    let (eval, eval_calls) = score(&evaluate, &p).await;
    println!("random search: {:.1}%\n{report}", eval.percent());
    rows.push(Row {
        name: "RandomSearch(7 candidates, val = train)".into(),
        compile: Some(report),
        eval,
        eval_calls,
    });

    let (p, report) = KnnFewShot::new(8, Arc::new(HashingEmbedder::default()))
        .compile(classifier(), &train)
        .await?;
    let (eval, eval_calls) = score(&evaluate, &p).await;
    println!("KNN: {:.1}%", eval.percent());
    rows.push(Row {
        name: "KnnFewShot(k=8, hashing embedder)".into(),
        compile: Some(report),
        eval,
        eval_calls,
    });

    println!("\n{}", common::TABLE_HEADER);
    for row in &rows {
        println!(
            "{}",
            common::table_row(&row.name, row.compile.as_ref(), &row.eval, row.eval_calls)
        );
    }
    let baseline = &rows[0].eval;
    for row in &rows[1..] {
        println!(
            "{} vs uncompiled: {}",
            row.name,
            baseline.compare(&row.eval)
        );
    }
    println!(
        "\nTotal wall time {:.0} s on {} dev examples",
        started.elapsed().as_secs_f64(),
        dev.len()
    );
    Ok(())
}
