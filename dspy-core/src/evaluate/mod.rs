//! Evaluation: run a program over a dev set, score each output with a metric, and report
//! the mean with its confidence interval, every row, and every failure.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//! use dspy::{Evaluate, Example};
//!
//! #[derive(Signature)]
//! struct QA {
//!     #[input] question: String,
//!     #[output] answer: String,
//! }
//!
//! let devset = vec![
//!     Example::split(QA { question: "Capital of France?".into(), answer: "Paris".into() }),
//!     Example::split(QA { question: "Capital of Italy?".into(), answer: "Rome".into() }),
//! ];
//! let lm = ScriptedLm::from_fn(|req| {
//!     let q = &req.messages.last().unwrap().content;
//!     Ok(format!("[[ ## answer ## ]]\n{}", if q.contains("France") { "Paris" } else { "Milan" }))
//! });
//! dspy::configure(lm);
//! let metric = |ex: &Example<QAInput, QAOutput>, out: &QAOutput, _: Option<&dspy::Trace>| {
//!     dspy::metrics::normalized_match(&out.answer, &ex.label.answer)
//! };
//! let report = Evaluate::new(&devset, metric).concurrency(4).run(&Predict::<QA>::new()).await;
//! assert_eq!(report.mean(), 0.5);
//! println!("{report}");
//! # });
//! ```

pub mod metrics;
mod report;
mod stats;

pub use report::{EvalReport, EvalRow};
pub use stats::{Comparison, ci95, compare_paired, mean};

use crate::example::Example;
use crate::module::Program;
use crate::trace::Trace;
use serde::Serialize;
use std::io::IsTerminal;
use std::time::Instant;

/// What a metric may return: a score, or pass/fail.
pub trait MetricValue {
    /// The value as a score (`true` is 1.0).
    fn into_score(self) -> f64;
}

impl MetricValue for f64 {
    fn into_score(self) -> f64 {
        self
    }
}

impl MetricValue for f32 {
    fn into_score(self) -> f64 {
        f64::from(self)
    }
}

impl MetricValue for bool {
    fn into_score(self) -> f64 {
        f64::from(u8::from(self))
    }
}

/// Scores one output against its example. Closures
/// `Fn(&Example<I, L>, &O, Option<&Trace>) -> f64` (or `-> bool`) are metrics. The trace is
/// `None` in evaluation and `Some` while an optimizer bootstraps, so a metric may be
/// stricter there, as in DSPy.
pub trait Metric<I, L, O>: Send + Sync {
    /// The score.
    fn score(&self, example: &Example<I, L>, output: &O, trace: Option<&Trace>) -> f64;
}

impl<I, L, O, F, R> Metric<I, L, O> for F
where
    F: Fn(&Example<I, L>, &O, Option<&Trace>) -> R + Send + Sync,
    R: MetricValue,
{
    fn score(&self, example: &Example<I, L>, output: &O, trace: Option<&Trace>) -> f64 {
        self(example, output, trace).into_score()
    }
}

/// Whether to draw a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// When standard error is a terminal (the default).
    Auto,
    /// Never.
    Never,
}

/// Runs a program over a dev set and scores it (DSPy's `Evaluate`).
pub struct Evaluate<'d, I, L, M> {
    devset: &'d [Example<I, L>],
    metric: M,
    concurrency: usize,
    failure_score: f64,
    progress: Progress,
}

impl<'d, I, L, M> Evaluate<'d, I, L, M> {
    /// An evaluation of `devset` with `metric`, 8 examples at a time.
    pub fn new(devset: &'d [Example<I, L>], metric: M) -> Self {
        Evaluate {
            devset,
            metric,
            concurrency: 8,
            failure_score: 0.0,
            progress: Progress::Auto,
        }
    }

    /// Runs at most `n` examples at a time.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The score of an example whose program call failed (default 0). The error is kept
    /// in the report either way.
    pub fn failure_score(mut self, score: f64) -> Self {
        self.failure_score = score;
        self
    }

    /// Whether to draw a progress bar.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Runs `program` on every example and scores it. Failed calls are rows too: they get
    /// the failure score and keep their error.
    pub async fn run<P>(&self, program: &P) -> EvalReport<P::Output>
    where
        P: Program<Input = I>,
        I: Clone + Serialize + Send + Sync,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        let started = Instant::now();
        let bar = self.progress_bar();
        // Progress: the running total and count, for the bar.
        let tally = std::sync::Mutex::new((0.0f64, 0usize));
        let rows = crate::pool::run_pooled(
            self.devset.len(),
            self.concurrency,
            |index| self.row(program, index, &self.devset[index]),
            |row: &EvalRow<P::Output>| {
                if let Some(bar) = &bar
                    && let Ok(mut tally) = tally.lock()
                {
                    tally.0 += row.score;
                    tally.1 += 1;
                    bar.inc(1);
                    bar.set_message(format!("{:.1}%", 100.0 * tally.0 / tally.1 as f64));
                }
            },
        )
        .await;
        if let Some(bar) = bar {
            bar.finish();
        }
        let report = EvalReport::new(rows, started.elapsed());
        tracing::info!(
            examples = report.rows.len(),
            failures = report.failures(),
            score = report.mean(),
            "evaluation finished"
        );
        report
    }

    /// One example's row: run, score, keep the error if any.
    async fn row<P>(&self, program: &P, index: usize, example: &Example<I, L>) -> EvalRow<P::Output>
    where
        P: Program<Input = I>,
        I: Clone + Serialize,
        L: Serialize,
        M: Metric<I, L, P::Output>,
    {
        let output = program.forward(example.input.clone()).await;
        let score = match &output {
            Ok(out) => self.metric.score(example, out, None),
            Err(_) => self.failure_score,
        };
        EvalRow {
            index,
            input: serde_json::to_value(&example.input).unwrap_or_default(),
            label: serde_json::to_value(&example.label).unwrap_or_default(),
            output,
            score,
        }
    }

    fn progress_bar(&self) -> Option<indicatif::ProgressBar> {
        if self.progress == Progress::Never || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(self.devset.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] score {msg}",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    }
}
