//! The instruction optimizers on the few-shot bench's task and split: the second
//! optimizer table of BENCHMARKS.md.
//!
//! ```text
//! cargo run --features local --example compare_instruction_optimizers
//! DSPY_OPTIMIZERS=mipro,gepa DSPY_DEV=160 cargo run --features local --example compare_instruction_optimizers
//! ```
//!
//! The movie-review classifier compiled by COPRO, MIPROv2 (`auto` light), SIMBA and GEPA
//! on the same 80 training examples as `compare_optimizers`, each scored on the same dev
//! set. Sizes are cut from DSPy's defaults where a default would take hours on two CPU
//! cores (each row's label says how); MIPROv2 light runs as DSPy sets it (GEPA's light
//! budget would be 700 metric calls). `DSPY_OPTIMIZERS` picks
//! which run (default: all four; `uncompiled` adds the program as given); each prints its
//! row as soon as it is done.

mod common;

use common::{TABLE_HEADER, classifier, metric, movie_data, score_on, table_row};
use dspy::optimizers::{CompileReport, Copro, Gepa, MiproV2, Optimizer, Simba};
use dspy::prelude::*;
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let chosen = common::choose_lm().await?;
    let (train, dev) = movie_data(usize::MAX)?;
    let threads = chosen.concurrency;
    let wanted =
        std::env::var("DSPY_OPTIMIZERS").unwrap_or_else(|_| "copro,mipro,simba,gepa".into());
    let mut rows = Vec::new();
    for name in wanted.split(',').map(str::trim) {
        if name == "uncompiled" {
            let (eval, calls) = score_on(&dev, &classifier(), threads).await;
            let row = table_row("uncompiled (zero-shot)", None, &eval, calls);
            println!("{TABLE_HEADER}\n{row}");
            rows.push(row);
            continue;
        }
        let (label, compiled, report): (&str, Predict<common::Classify>, CompileReport) = match name
        {
            "copro" => {
                let copro = Copro::new().breadth(3).depth(2).num_threads(threads);
                let (p, r) = copro
                    .compile_with_valset(classifier(), &train, Some(&train[40..]), &metric)
                    .await?;
                ("COPRO(breadth 3, depth 2; scored on 40 of the train)", p, r)
            }
            "mipro" => {
                let mipro = MiproV2::new().proposal_max_tokens(160).num_threads(threads);
                let (p, r) = mipro.compile(classifier(), &train, &metric).await?;
                ("MIPROv2(auto light: 16 train / 64 val, 10 trials)", p, r)
            }
            "simba" => {
                let simba = Simba::new()
                    .bsize(8)
                    .num_candidates(3)
                    .max_steps(2)
                    .max_demos(4)
                    .num_threads(threads);
                let (p, r) = simba.compile(classifier(), &train, &metric).await?;
                ("SIMBA(bsize 8, 3 candidates, 2 steps)", p, r)
            }
            "gepa" => {
                let gepa = Gepa::new()
                    .max_metric_calls(300)
                    .reflection_max_tokens(200)
                    .num_threads(threads);
                let (p, r) = gepa
                    .compile_with_valset(classifier(), &train[..40], Some(&train[40..]), &metric)
                    .await?;
                ("GEPA(300 metric calls; 40 train / 40 val)", p, r)
            }
            other => {
                eprintln!("unknown optimizer {other:?} (uncompiled, copro, mipro, simba, gepa)");
                continue;
            }
        };
        println!("{label}:\n{report}");
        println!("instructions: {:?}", compiled.instructions());
        let (eval, calls) = score_on(&dev, &compiled, threads).await;
        let row = table_row(label, Some(&report), &eval, calls);
        println!("{TABLE_HEADER}\n{row}");
        std::io::stdout().flush()?;
        let out = std::env::temp_dir().join(format!("dspy-{name}-report.json"));
        report.save(&out)?;
        println!("report: {}", out.display());
        rows.push(row);
    }
    println!("\n{TABLE_HEADER}");
    for row in &rows {
        println!("{row}");
    }
    println!(
        "\nTotal wall time {:.0} s on {} dev examples",
        started.elapsed().as_secs_f64(),
        dev.len()
    );
    Ok(())
}
