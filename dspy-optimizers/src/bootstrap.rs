//! `BootstrapFewShot`: demos from the teacher's own successful runs.

use crate::labeled::{LabeledFewShot, record};
use crate::report::{BootstrapStats, CompileReport};
use crate::{Optimizer, progress_bar};
use dspy_core::evaluate::Progress;
use dspy_core::lm::Configured;
use dspy_core::rng::{PyRandom, Rng};
use dspy_core::usage::{PriceTable, UsageSummary, tracked, tracked_with_budget};
use dspy_core::{Error, Example, Fields, LM, LmConfig, Metric, Module, Program, Result, traced};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// Runs a teacher program over the training set, and for every run that passes the metric
/// turns each predictor's call into a demo for that predictor (DSPy's `BootstrapFewShot`).
///
/// - The teacher is the program itself unless given ([`compile_with_teacher`]
///   (BootstrapFewShot::compile_with_teacher)); a teacher without demos first gets
///   `max_labeled_demos` labeled ones, as in DSPy, minus the example it is running on.
/// - Examples are tried in training-set order until `max_bootstrapped_demos` of them have
///   passed. A failed example is retried up to `max_rounds` times; rounds after the first
///   run at temperature 1.0 with a per-round seed, so they sample fresh answers.
/// - The metric sees the run's [`Trace`](dspy_core::Trace), and passes when its score is at
///   least `metric_threshold` (when set) or non-zero.
/// - Each predictor gets its bootstrapped demos (marked `"augmented": true`), then labeled
///   examples from those not bootstrapped, up to `max_labeled_demos` in all.
/// - Runs go `num_threads` at a time; results are taken in training-set order, so the demos
///   chosen do not depend on the concurrency.
///
/// A multi-predictor program gets demos for every predictor from the same successful runs.
#[derive(Clone)]
pub struct BootstrapFewShot {
    pub(crate) max_bootstrapped_demos: usize,
    pub(crate) max_labeled_demos: usize,
    pub(crate) max_rounds: usize,
    pub(crate) metric_threshold: Option<f64>,
    pub(crate) max_errors: usize,
    pub(crate) num_threads: usize,
    pub(crate) teacher_lm: Option<Arc<dyn LM>>,
    pub(crate) seed: u64,
    pub(crate) max_lm_calls: Option<u64>,
    pub(crate) prices: Option<PriceTable>,
    pub(crate) progress: Progress,
}

impl fmt::Debug for BootstrapFewShot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapFewShot")
            .field("max_bootstrapped_demos", &self.max_bootstrapped_demos)
            .field("max_labeled_demos", &self.max_labeled_demos)
            .field("max_rounds", &self.max_rounds)
            .field("metric_threshold", &self.metric_threshold)
            .field("max_errors", &self.max_errors)
            .field("num_threads", &self.num_threads)
            .field("teacher_lm", &self.teacher_lm.as_ref().map(|lm| lm.model()))
            .field("seed", &self.seed)
            .field("max_lm_calls", &self.max_lm_calls)
            .finish()
    }
}

impl Default for BootstrapFewShot {
    fn default() -> Self {
        BootstrapFewShot::new()
    }
}

impl BootstrapFewShot {
    /// DSPy's defaults: 4 bootstrapped and 16 labeled demos at most, one round, stop after
    /// 10 errors; 8 runs at a time.
    pub fn new() -> Self {
        BootstrapFewShot {
            max_bootstrapped_demos: 4,
            max_labeled_demos: 16,
            max_rounds: 1,
            metric_threshold: None,
            max_errors: 10,
            num_threads: 8,
            teacher_lm: None,
            seed: 0,
            max_lm_calls: None,
            prices: None,
            progress: Progress::Auto,
        }
    }

    /// At most `n` bootstrapped demos per predictor (examples stop being tried once `n`
    /// have passed).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped_demos = n;
        self
    }

    /// At most `n` demos per predictor in all, labeled ones filling what bootstrapping left.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.max_labeled_demos = n;
        self
    }

    /// Tries each example up to `n` times (at least 1).
    pub fn max_rounds(mut self, n: usize) -> Self {
        self.max_rounds = n.max(1);
        self
    }

    /// A run passes when the metric scores it at least `threshold`.
    pub fn metric_threshold(mut self, threshold: f64) -> Self {
        self.metric_threshold = Some(threshold);
        self
    }

    /// Gives up (with an error) once `n` teacher runs have failed (default 10).
    pub fn max_errors(mut self, n: usize) -> Self {
        self.max_errors = n.max(1);
        self
    }

    /// Runs at most `n` examples at a time (default 8).
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = n.max(1);
        self
    }

    /// Runs the teacher with this LM (its predictors' own LMs still win), e.g. a stronger
    /// model teaching a smaller one.
    pub fn teacher_lm(mut self, lm: Arc<dyn LM>) -> Self {
        self.teacher_lm = Some(lm);
        self
    }

    /// The seed of the labeled-demo samples, the teacher's and the student's (default 0, as
    /// DSPy's `random.Random(0)`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Stops bootstrapping once `n` LM calls have been made, and compiles with what it has.
    pub fn max_lm_calls(mut self, n: u64) -> Self {
        self.max_lm_calls = Some(n);
        self
    }

    /// Prices by model, so that the report shows the cost.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = Some(prices);
        self
    }

    /// Whether to draw a progress bar (default: when standard error is a terminal).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Compiles `student` with `teacher` (the student itself when `None`) running the
    /// training set. The teacher must have the same predictor paths as the student.
    pub async fn compile_with_teacher<P, I, L, M>(
        &self,
        student: P,
        teacher: Option<&P>,
        trainset: &[Example<I, L>],
        metric: &M,
    ) -> Result<(P, CompileReport)>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        let started = Instant::now();
        let mut report = CompileReport::new("BootstrapFewShot", self.seed);
        let examples: Vec<&Example<I, L>> = trainset.iter().collect();
        let work = self.bootstrap_into(student, teacher, &examples, metric, &mut report);
        let (result, usage) = budgeted(self.max_lm_calls, work).await;
        let program = result?;
        finish(&mut report, usage, self.prices.as_ref(), started);
        tracing::info!(report = %report, "BootstrapFewShot finished");
        Ok((program, report))
    }

    /// The whole algorithm, adding what it did to `report`; usage is counted by the caller.
    pub(crate) async fn bootstrap_into<P, I, L, M>(
        &self,
        student: P,
        teacher: Option<&P>,
        trainset: &[&Example<I, L>],
        metric: &M,
        report: &mut CompileReport,
    ) -> Result<P>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        let records = trainset
            .iter()
            .map(|e| record(e))
            .collect::<Result<Vec<_>>>()?;
        let mut student = student;
        for (_, predictor) in student.named_predictors_mut() {
            predictor.set_demos(Vec::new());
        }
        let teacher = self.prepare_teacher(&student, teacher, &records)?;

        let mut stats = BootstrapStats::default();
        let mut bootstrapped: BTreeSet<usize> = BTreeSet::new();
        let mut traces: BTreeMap<String, Vec<Fields>> = BTreeMap::new();
        let mut errors = 0usize;
        let bar = progress_bar(self.progress, trainset.len(), "bootstrap");
        let mut next = 0;
        'windows: while next < trainset.len() && bootstrapped.len() < self.max_bootstrapped_demos {
            let wanted = self.max_bootstrapped_demos - bootstrapped.len();
            let end = (next + self.num_threads.min(wanted)).min(trainset.len());
            let runs =
                futures::future::join_all((next..end).map(|i| {
                    self.run_example(&teacher, trainset[i], &records[i], metric, i as u64)
                }))
                .await;
            for (i, run) in (next..end).zip(runs) {
                if bootstrapped.len() >= self.max_bootstrapped_demos {
                    break 'windows;
                }
                stats.examples_tried += 1;
                stats.attempts += run.rounds;
                stats.errors += run.errors.len();
                for error in &run.errors {
                    report.note_error(error);
                    errors += 1;
                    if errors >= self.max_errors {
                        return Err(Error::Optimizer {
                            optimizer: "BootstrapFewShot".into(),
                            message: format!(
                                "{errors} teacher runs failed (max_errors {}); last: {error}",
                                self.max_errors
                            ),
                        });
                    }
                }
                if let Some(by_path) = run.demos {
                    bootstrapped.insert(i);
                    stats.successes += 1;
                    for (path, demo) in by_path {
                        traces.entry(path).or_default().push(demo);
                    }
                }
                if let Some(bar) = &bar {
                    bar.inc(1);
                    bar.set_message(format!("{} bootstrapped", bootstrapped.len()));
                }
                if let Some(limit) = run.budget {
                    report.stopped_early = Some(format!("the LM call budget ({limit}) is spent"));
                    break 'windows;
                }
            }
            next = end;
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        report.add_bootstrap(&stats);

        // Labeled demos come from the examples that were not bootstrapped, shuffled, then
        // sampled: each with a fresh `random.Random(seed)`, as DSPy draws them, so that a
        // single-predictor program gets DSPy's labeled demos. (DSPy samples a predictor's
        // from the previous predictor's sample; here each samples the whole pool.)
        let mut pool: Vec<usize> = (0..trainset.len())
            .filter(|i| !bootstrapped.contains(i))
            .collect();
        PyRandom::new(self.seed).shuffle(&mut pool);
        let mut rng = PyRandom::new(self.seed);
        for (path, predictor) in student.named_predictors_mut() {
            let mut demos: Vec<Fields> = traces
                .get(&path)
                .map(|t| {
                    t.iter()
                        .take(self.max_bootstrapped_demos)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let labeled = self
                .max_labeled_demos
                .saturating_sub(demos.len())
                .min(pool.len());
            demos.extend(
                rng.sample_indices(pool.len(), labeled)
                    .into_iter()
                    .map(|j| records[pool[j]].clone()),
            );
            tracing::debug!(path = %path, demos = demos.len(), "BootstrapFewShot demos");
            predictor.set_demos(demos);
        }
        Ok(student)
    }

    /// The teacher: a copy of the given one, or of the student; with labeled demos when it
    /// has none, as DSPy does.
    fn prepare_teacher<P>(&self, student: &P, teacher: Option<&P>, records: &[Fields]) -> Result<P>
    where
        P: Module + Clone,
    {
        let teacher = teacher.cloned().unwrap_or_else(|| student.clone());
        let paths = |m: &P| -> Vec<String> {
            m.named_predictors()
                .into_iter()
                .map(|(path, _)| path)
                .collect()
        };
        if paths(&teacher) != paths(student) {
            return Err(Error::Optimizer {
                optimizer: "BootstrapFewShot".into(),
                message: format!(
                    "the teacher's predictors {:?} are not the student's {:?}",
                    paths(&teacher),
                    paths(student)
                ),
            });
        }
        let has_demos = teacher
            .named_predictors()
            .iter()
            .any(|(_, p)| !p.demos().is_empty());
        if self.max_labeled_demos > 0 && !has_demos {
            return Ok(LabeledFewShot::new(self.max_labeled_demos)
                .seed(self.seed)
                .compile_records(teacher, records));
        }
        Ok(teacher)
    }

    /// The LM of round `round`: the teacher LM (or the one in scope), hotter after round 0.
    fn round_lm(&self, round: usize) -> Option<Arc<dyn LM>> {
        if round == 0 {
            return self.teacher_lm.clone();
        }
        let base = self
            .teacher_lm
            .clone()
            .or_else(dspy_core::settings::current_lm)?;
        // As DSPy's `lm.copy(rollout_id=round, temperature=1.0)`: the rollout keeps a
        // cached LM from answering with round 0's text; the seed varies the sampling.
        let hot = LmConfig::default()
            .with_temperature(1.0)
            .with_seed(round as u64)
            .with_rollout_id(round as u64);
        Some(Arc::new(Configured::new(base, hot)))
    }

    /// Runs the teacher on one example, up to `max_rounds` times, until the metric passes.
    async fn run_example<P, I, L, M>(
        &self,
        teacher: &P,
        example: &Example<I, L>,
        record: &Fields,
        metric: &M,
        index: u64,
    ) -> ExampleRun
    where
        P: Program<Input = I> + Clone,
        I: Clone + Send + Sync + 'static,
        M: Metric<I, L, P::Output>,
    {
        let mut run = ExampleRun::default();
        for round in 0..self.max_rounds {
            run.rounds += 1;
            // The teacher must not see the example it is answering among its demos.
            let mut teacher = teacher.clone();
            for (_, predictor) in teacher.named_predictors_mut() {
                let demos: Vec<Fields> = predictor
                    .demos()
                    .iter()
                    .filter(|d| *d != record)
                    .cloned()
                    .collect();
                predictor.set_demos(demos);
            }
            let fut = traced(teacher.forward(example.input.clone()));
            let (output, trace) = match self.round_lm(round) {
                Some(lm) => dspy_core::with_lm(lm, fut).await,
                None => fut.await,
            };
            let output = match output {
                Ok(output) => output,
                Err(Error::BudgetExhausted { limit }) => {
                    run.budget = Some(limit);
                    break;
                }
                Err(e) => {
                    run.errors.push(e.to_string());
                    continue;
                }
            };
            let score = metric.score(example, &output, Some(&trace));
            let passed = match self.metric_threshold {
                Some(threshold) => score >= threshold,
                None => score != 0.0 && !score.is_nan(),
            };
            if !passed {
                continue;
            }
            let mut by_path: BTreeMap<String, Vec<Fields>> = BTreeMap::new();
            for (path, entry) in trace.with_paths(&teacher) {
                if let Some(path) = path {
                    let mut demo = Fields::new();
                    demo.insert("augmented".into(), Value::Bool(true));
                    demo.extend(entry.fields());
                    by_path.entry(path).or_default().push(demo);
                }
            }
            // A predictor called several times in one run gives one demo: the last call or
            // one of the others, even odds (as DSPy does).
            let mut rng = Rng::new(self.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            run.demos = Some(
                by_path
                    .into_iter()
                    .filter_map(|(path, mut demos)| {
                        let n = demos.len();
                        let pick = if n > 1 && rng.next_f64() < 0.5 {
                            rng.below(n - 1)
                        } else {
                            n.checked_sub(1)?
                        };
                        Some((path, demos.swap_remove(pick)))
                    })
                    .collect(),
            );
            break;
        }
        run
    }
}

/// What running the teacher on one example gave.
#[derive(Default)]
struct ExampleRun {
    rounds: usize,
    errors: Vec<String>,
    /// One demo per predictor path, when a round passed the metric.
    demos: Option<Vec<(String, Fields)>>,
    /// The budget that stopped the run, if one did.
    budget: Option<u64>,
}

/// Fills in the usage, cost and wall time of a finished compile.
/// Runs a compile's `work` counting its LM calls, within `max_lm_calls` when given.
pub(crate) async fn budgeted<F: std::future::Future>(
    max_lm_calls: Option<u64>,
    work: F,
) -> (F::Output, UsageSummary) {
    match max_lm_calls {
        Some(n) => tracked_with_budget(n, work).await,
        None => tracked(work).await,
    }
}

pub(crate) fn finish(
    report: &mut CompileReport,
    usage: UsageSummary,
    prices: Option<&PriceTable>,
    started: Instant,
) {
    report.cost = prices.and_then(|p| usage.cost(p));
    report.usage = usage;
    report.wall_seconds = started.elapsed().as_secs_f64();
}

impl Optimizer for BootstrapFewShot {
    async fn compile_with_valset<'d, P, I, L, M>(
        &self,
        program: P,
        trainset: &'d [Example<I, L>],
        _valset: Option<&'d [Example<I, L>]>,
        metric: &M,
    ) -> Result<(P, CompileReport)>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        self.compile_with_teacher(program, None, trainset, metric)
            .await
    }
}
