//! Optimizers (DSPy's teleprompters) for dspy-rs.
//!
//! An optimizer compiles a program: it rewrites the program's optimizable state (each
//! predictor's instructions and demos) to maximise a metric on a training set, and says
//! what it did in a [`CompileReport`].
//!
//! - [`LabeledFewShot`]: labeled training examples as demos; no LM calls.
//! - [`BootstrapFewShot`]: runs a teacher over the training set and keeps the traces of the
//!   runs that pass the metric as demos, for every predictor of the program.
//! - [`BootstrapFewShotWithRandomSearch`]: DSPy's schedule of zero-shot, labeled-only and
//!   bootstrapped candidates, each scored on a validation set; the best is kept.
//! - [`KnnFewShot`]: at inference time, the training examples nearest the input (by an
//!   [`Embedder`](dspy_core::Embedder)) become the demos.
//! - [`Ensemble`]: several programs run side by side, their outputs reduced to one.
//! - [`Copro`]: LM-proposed instructions per predictor, improved from their scores.
//! - [`MiproV2`]: instructions from a grounded proposer and bootstrapped demo sets,
//!   searched jointly by a [`TpeSampler`] over minibatch scores.
//! - [`Simba`]: stochastic introspective mini-batch ascent: demos and LM-written rules
//!   drawn from the examples where sampled runs disagree most.
//! - [`Gepa`]: instructions rewritten by a reflection LM from the metric's textual
//!   feedback ([`FeedbackMetric`]), kept on a per-example Pareto front, with merges.
//!
//! Every optimizer implements [`Optimizer`], so they are interchangeable:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//! use dspy::{Example, Trace};
//! use dspy::optimizers::{BootstrapFewShot, Optimizer};
//!
//! #[derive(Signature)]
//! struct QA {
//!     #[input] question: String,
//!     #[output] answer: String,
//! }
//!
//! let trainset: Vec<Example<QAInput, QAOutput>> = (0..6)
//!     .map(|i| Example::split(QA { question: format!("{i} + 1?"), answer: format!("{}", i + 1) }))
//!     .collect();
//! // An LM that can add one (and reads the question from the last message).
//! dspy::configure(ScriptedLm::from_fn(|req| {
//!     let q = &req.messages.last().unwrap().content;
//!     let n: i64 = q.split("[[ ## question ## ]]\n").nth(1).unwrap()
//!         .split(' ').next().unwrap().parse().unwrap();
//!     Ok(format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", n + 1))
//! }));
//! let metric = |ex: &Example<QAInput, QAOutput>, out: &QAOutput, _: Option<&Trace>| {
//!     out.answer == ex.label.answer
//! };
//! let optimizer = BootstrapFewShot::new().max_bootstrapped_demos(2).max_labeled_demos(3);
//! let (compiled, report) = optimizer.compile(Predict::<QA>::new(), &trainset, &metric).await.unwrap();
//! assert_eq!(compiled.demos().len(), 3); // 2 bootstrapped + 1 labeled
//! assert_eq!(report.bootstrap.as_ref().unwrap().successes, 2);
//! println!("{report}");
//! # });
//! ```

#![warn(missing_docs)]

mod bootstrap;
mod copro;
mod ensemble;
mod gepa;
mod knn;
mod labeled;
mod mipro;
mod proposer;
mod random_search;
mod report;
mod runs;
mod simba;
mod tpe;

pub use bootstrap::BootstrapFewShot;
pub use copro::Copro;
pub use ensemble::{Ensemble, Reduce, majority};
pub use gepa::{FeedbackMetric, Gepa, ScoreWithFeedback, Selection};
pub use knn::{Knn, KnnFewShot, KnnProgram};
pub use labeled::LabeledFewShot;
pub use mipro::{Auto, MiproV2};
pub use random_search::BootstrapFewShotWithRandomSearch;
pub use report::{BootstrapStats, Candidate, CompileReport};
pub use simba::Simba;
pub use tpe::TpeSampler;

use dspy_core::evaluate::Progress;
use dspy_core::{Example, Metric, Program, Result, Trace};
use serde::Serialize;
use std::future::Future;
use std::io::IsTerminal;

/// What every optimizer does: compile a program against a metric on a training set
/// (and, for optimizers that score candidates, a validation set).
///
/// The compiled program is returned with a [`CompileReport`]. The same seed with a
/// deterministic (or cached) LM gives the same program.
pub trait Optimizer: Send + Sync {
    /// Compiles `program` on `trainset`, scoring candidates on `valset` (the trainset when
    /// `None`, for optimizers that score candidates).
    fn compile_with_valset<'d, P, I, L, M>(
        &self,
        program: P,
        trainset: &'d [Example<I, L>],
        valset: Option<&'d [Example<I, L>]>,
        metric: &M,
    ) -> impl Future<Output = Result<(P, CompileReport)>> + Send
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>;

    /// Compiles `program` on `trainset` (DSPy's `compile(student, trainset=...)`).
    fn compile<P, I, L, M>(
        &self,
        program: P,
        trainset: &[Example<I, L>],
        metric: &M,
    ) -> impl Future<Output = Result<(P, CompileReport)>> + Send
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        self.compile_with_valset(program, trainset, None, metric)
    }
}

/// A metric borrowed, so that one metric serves many evaluations.
pub(crate) struct ByRef<'m, M>(pub(crate) &'m M);

impl<I, L, O, M: Metric<I, L, O>> Metric<I, L, O> for ByRef<'_, M> {
    fn score(&self, example: &Example<I, L>, output: &O, trace: Option<&Trace>) -> f64 {
        self.0.score(example, output, trace)
    }
}

/// A progress bar over `len` steps, drawn only when asked and standard error is a terminal.
pub(crate) fn progress_bar(
    progress: Progress,
    len: usize,
    what: &str,
) -> Option<indicatif::ProgressBar> {
    if progress == Progress::Never || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}}] {{msg}}"
    )) {
        bar.set_style(style);
    }
    Some(bar)
}
