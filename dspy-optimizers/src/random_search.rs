//! `BootstrapFewShotWithRandomSearch`: many few-shot candidates, the best one kept.

use crate::bootstrap::{BootstrapFewShot, budgeted, finish};
use crate::labeled::LabeledFewShot;
use crate::report::{Candidate, CompileReport};
use crate::{ByRef, Optimizer, progress_bar};
use dspy_core::evaluate::Progress;
use dspy_core::rng::PyRandom;
use dspy_core::usage::PriceTable;
use dspy_core::{Error, Evaluate, Example, LM, Metric, Program, Result};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// DSPy's `BootstrapFewShotWithRandomSearch`: builds candidate programs in DSPy's order and
/// scores each on the validation set, keeping the best.
///
/// The candidates, by DSPy's seed numbers:
/// - `-3`: zero-shot (the program without demos);
/// - `-2`: labeled only ([`LabeledFewShot`] with `max_labeled_demos`);
/// - `-1`: [`BootstrapFewShot`] over the training set in its order;
/// - `0..num_candidate_programs`: [`BootstrapFewShot`] over the training set shuffled by
///   the seed, with between 1 and `max_bootstrapped_demos` bootstrapped demos, drawn by the
///   seed.
///
/// Every score is in the report; ties keep the earlier candidate. The search stops early at
/// `stop_at_score` or when the LM call budget is spent (a candidate whose evaluation the
/// budget cut short is not considered).
#[derive(Debug, Clone)]
pub struct BootstrapFewShotWithRandomSearch {
    bootstrap: BootstrapFewShot,
    num_candidate_programs: usize,
    stop_at_score: Option<f64>,
}

impl Default for BootstrapFewShotWithRandomSearch {
    fn default() -> Self {
        BootstrapFewShotWithRandomSearch::new()
    }
}

impl BootstrapFewShotWithRandomSearch {
    /// DSPy's defaults: 16 shuffled candidates (19 in all), up to 4 bootstrapped and 16
    /// labeled demos, one round.
    pub fn new() -> Self {
        BootstrapFewShotWithRandomSearch {
            bootstrap: BootstrapFewShot::new(),
            num_candidate_programs: 16,
            stop_at_score: None,
        }
    }

    /// `n` shuffled bootstrap candidates after the three fixed ones.
    pub fn num_candidate_programs(mut self, n: usize) -> Self {
        self.num_candidate_programs = n;
        self
    }

    /// At most `n` bootstrapped demos per predictor (shuffled candidates draw 1 to `n`).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.bootstrap = self.bootstrap.max_bootstrapped_demos(n);
        self
    }

    /// At most `n` demos per predictor in all.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.bootstrap = self.bootstrap.max_labeled_demos(n);
        self
    }

    /// Bootstrap rounds per example.
    pub fn max_rounds(mut self, n: usize) -> Self {
        self.bootstrap = self.bootstrap.max_rounds(n);
        self
    }

    /// A bootstrap run passes when the metric scores it at least `threshold`.
    pub fn metric_threshold(mut self, threshold: f64) -> Self {
        self.bootstrap = self.bootstrap.metric_threshold(threshold);
        self
    }

    /// Runs (bootstrap and evaluation) at most `n` at a time (default 8).
    pub fn num_threads(mut self, n: usize) -> Self {
        self.bootstrap = self.bootstrap.num_threads(n);
        self
    }

    /// Gives up once `n` teacher runs of one bootstrap have failed (default 10).
    pub fn max_errors(mut self, n: usize) -> Self {
        self.bootstrap = self.bootstrap.max_errors(n);
        self
    }

    /// Runs the teacher with this LM.
    pub fn teacher_lm(mut self, lm: Arc<dyn LM>) -> Self {
        self.bootstrap = self.bootstrap.teacher_lm(lm);
        self
    }

    /// Stops as soon as a candidate scores at least `score`.
    pub fn stop_at_score(mut self, score: f64) -> Self {
        self.stop_at_score = Some(score);
        self
    }

    /// The seed (default 0, DSPy's): candidate `s` shuffles the training set and draws
    /// its number of bootstrapped demos with `random.Random(seed + s)` ([`PyRandom`]); the
    /// labeled demos of every candidate are drawn with the seed itself.
    pub fn seed(mut self, seed: u64) -> Self {
        self.bootstrap = self.bootstrap.seed(seed);
        self
    }

    /// Stops once `n` LM calls have been made (bootstrap and evaluation together).
    pub fn max_lm_calls(mut self, n: u64) -> Self {
        self.bootstrap = self.bootstrap.max_lm_calls(n);
        self
    }

    /// Prices by model, so that the report shows the cost.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.bootstrap = self.bootstrap.prices(prices);
        self
    }

    /// Whether to draw a progress bar.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.bootstrap = self.bootstrap.progress(progress);
        self
    }

    /// Compiles `student` with an optional `teacher`, scoring candidates on `valset` (the
    /// trainset when `None`).
    pub async fn compile_with_teacher<P, I, L, M>(
        &self,
        student: P,
        teacher: Option<&P>,
        trainset: &[Example<I, L>],
        valset: Option<&[Example<I, L>]>,
        metric: &M,
    ) -> Result<(P, CompileReport)>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        let started = Instant::now();
        let seed = self.bootstrap.seed;
        let mut report = CompileReport::new("BootstrapFewShotWithRandomSearch", seed);
        let work = self.search(student, teacher, trainset, valset, metric, &mut report);
        let (result, usage) = budgeted(self.bootstrap.max_lm_calls, work).await;
        let best = result?;
        finish(&mut report, usage, self.bootstrap.prices.as_ref(), started);
        tracing::info!(report = %report, "random search finished");
        Ok((best, report))
    }

    async fn search<P, I, L, M>(
        &self,
        student: P,
        teacher: Option<&P>,
        trainset: &[Example<I, L>],
        valset: Option<&[Example<I, L>]>,
        metric: &M,
        report: &mut CompileReport,
    ) -> Result<P>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        let valset = valset.unwrap_or(trainset);
        let mut reset = student;
        for (_, predictor) in reset.named_predictors_mut() {
            predictor.set_demos(Vec::new());
        }
        let evaluate = Evaluate::new(valset, ByRef(metric))
            .concurrency(self.bootstrap.num_threads)
            .progress(Progress::Never);
        let total = self.num_candidate_programs + 3;
        let bar = progress_bar(self.bootstrap.progress, total, "candidates");
        let mut best: Option<(f64, P)> = None;
        for s in -3..self.num_candidate_programs as i64 {
            let (label, program) = few_shot_candidate(
                &self.bootstrap,
                s,
                &reset,
                teacher,
                trainset,
                metric,
                report,
            )
            .await?;
            if report.stopped_early.is_some() {
                break;
            }
            let result = evaluate.run(&program).await;
            if result
                .errors()
                .any(|(_, e)| matches!(e, Error::BudgetExhausted { .. }))
            {
                report.stopped_early = Some(format!(
                    "the LM call budget was spent while scoring candidate `{label}`"
                ));
                break;
            }
            for (_, e) in result.errors().take(3) {
                report.note_error(e);
            }
            let score = result.mean();
            report.candidates.push(Candidate {
                label: label.clone(),
                score,
                ci95: result.ci95(),
                failures: result.failures(),
                demos: program
                    .named_predictors()
                    .iter()
                    .map(|(path, p)| (path.clone(), p.demos().len()))
                    .collect(),
                ..Candidate::default()
            });
            tracing::info!(candidate = %label, score, "candidate scored");
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, program));
                report.best = Some(report.candidates.len() - 1);
            }
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!(
                    "best {:.1}%",
                    100.0 * best.as_ref().map_or(0.0, |(b, _)| *b)
                ));
            }
            if self.stop_at_score.is_some_and(|target| score >= target) {
                report.stopped_early =
                    Some(format!("candidate `{label}` reached the target score"));
                break;
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match best {
            Some((_, program)) => Ok(program),
            None => Err(Error::Optimizer {
                optimizer: "BootstrapFewShotWithRandomSearch".into(),
                message: report
                    .stopped_early
                    .clone()
                    .unwrap_or_else(|| "no candidate was scored".into()),
            }),
        }
    }
}

/// DSPy's few-shot candidate number `s` (see [`BootstrapFewShotWithRandomSearch`]) built
/// from `reset` (the program without demos), with its label.
pub(crate) async fn few_shot_candidate<P, I, L, M>(
    bootstrap: &BootstrapFewShot,
    s: i64,
    reset: &P,
    teacher: Option<&P>,
    trainset: &[Example<I, L>],
    metric: &M,
    report: &mut CompileReport,
) -> Result<(String, P)>
where
    P: Program<Input = I> + Clone,
    I: Clone + Serialize + Send + Sync + 'static,
    L: Serialize + Send + Sync,
    M: Metric<I, L, P::Output>,
{
    let seed = bootstrap.seed;
    let max_samples = bootstrap.max_bootstrapped_demos;
    Ok(match s {
        -3 => ("zero-shot".to_string(), reset.clone()),
        -2 => (
            format!("labeled ({})", bootstrap.max_labeled_demos),
            LabeledFewShot::new(bootstrap.max_labeled_demos)
                .seed(seed)
                .compile(reset.clone(), trainset)?,
        ),
        -1 => {
            let in_order: Vec<&Example<I, L>> = trainset.iter().collect();
            (
                format!("bootstrap, training order ({max_samples})"),
                bootstrap
                    .bootstrap_into(reset.clone(), teacher, &in_order, metric, report)
                    .await?,
            )
        }
        s => {
            let s = s as u64;
            // As DSPy: `random.Random(s).shuffle(trainset)` and
            // `random.Random(s).randint(1, max_bootstrapped_demos)`, then a BootstrapFewShot
            // with its own seed (DSPy's 0), so that candidate `s` is DSPy's candidate `s`.
            let mut order: Vec<usize> = (0..trainset.len()).collect();
            PyRandom::new(seed.wrapping_add(s)).shuffle(&mut order);
            let size = PyRandom::new(seed.wrapping_add(s))
                .randint(1, max_samples)
                .min(max_samples);
            let shuffled: Vec<&Example<I, L>> = order.iter().map(|&i| &trainset[i]).collect();
            let optimizer = bootstrap.clone().max_bootstrapped_demos(size);
            let program = optimizer
                .bootstrap_into(reset.clone(), teacher, &shuffled, metric, report)
                .await?;
            (format!("bootstrap, seed {s} ({size})"), program)
        }
    })
}

impl Optimizer for BootstrapFewShotWithRandomSearch {
    async fn compile_with_valset<'d, P, I, L, M>(
        &self,
        program: P,
        trainset: &'d [Example<I, L>],
        valset: Option<&'d [Example<I, L>]>,
        metric: &M,
    ) -> Result<(P, CompileReport)>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        self.compile_with_teacher(program, None, trainset, valset, metric)
            .await
    }
}
