//! `Simba`: stochastic introspective mini-batch ascent (DSPy's SIMBA). Each step samples
//! the best programs so far on a minibatch under hot LMs, finds the examples whose runs
//! differ most, and turns the contrast between a good and a bad run into a new demo or a
//! new rule in a predictor's instructions.

use crate::bootstrap::{budgeted, finish};
use crate::report::{Candidate, CompileReport};
use crate::runs::{Run, run_many, run_one, scored_candidate};
use crate::{Optimizer, progress_bar};
use dspy_core::evaluate::{Progress, mean};
use dspy_core::lm::Configured;
use dspy_core::rng::Rng;
use dspy_core::signature::Fields;
use dspy_core::usage::PriceTable;
use dspy_core::{Dynamic, Error, Example, LM, LmConfig, Metric, Module, Predict, Program, Result};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

mod feedback;
mod sampling;

use feedback::{module_name, offer_feedback, rule_inputs};
use sampling::{
    Bucket, buckets, drop_demos, percentile, softmax_sample, top_k_plus_baseline, winner_schedule,
};

/// Errors noted in the report per step, at most.
const ERRORS_PER_STEP: usize = 3;

/// DSPy's SIMBA optimizer.
///
/// Each of `max_steps` steps takes the next `bsize` training examples (the trainset is
/// shuffled with the seed, and reshuffled when fewer than `bsize` remain) and:
///
/// 1. runs, for each of `num_candidates` hot copies of the LM in scope (temperature 1.0,
///    `rollout_id` 0, 1, …), each example through a program drawn by softmax
///    (`temperature_for_sampling`) from the best `num_candidates` programs so far, the
///    original always among them;
/// 2. groups the runs by example and orders the groups by how much their scores differ
///    (max − min, then max, then max − mean);
/// 3. for each group in that order, until `num_candidates + 1` candidates are built:
///    copies a program drawn by softmax (`temperature_for_candidates`), drops some of its
///    demos at random (more the more it has, relative to `max_demos`), and applies one
///    strategy drawn at random:
///    - *append a demo*: the best run's predictor calls become demos (`"augmented": true`,
///      inputs longer than `demo_input_field_maxlen` characters truncated);
///    - *append a rule*: the prompt LM compares the best and the worst run (DSPy's
///      `OfferFeedback`) and writes advice for each predictor, appended to its
///      instructions;
///
///    (only rules when `max_demos` is 0). A strategy that declines (the runs are too
///    alike against the batch's 10th and 90th percentiles) still yields its candidate; one
///    that fails (the prompt LM's answer did not parse) yields none;
/// 4. scores every candidate on the batch with the LM in scope; all join the pool, and the
///    best joins the winners.
///
/// At the end up to `num_candidates + 1` winners, evenly spaced over the steps (the
/// original first), are scored on the whole trainset — or on the valset, when
/// [`compile_with_valset`](Optimizer::compile_with_valset) is given one — and the best
/// is returned.
///
/// Predictors that hold an LM of their own are sampled hot too (their LM under the same
/// temperature and rollout), where DSPy would replace their LM by the hot one.
///
/// ```no_run
/// # async fn demo() -> dspy_core::Result<()> {
/// use dspy::prelude::*;
/// use dspy::Example;
/// use dspy::optimizers::{Optimizer, Simba};
///
/// #[derive(Signature)]
/// struct QA {
///     #[input] question: String,
///     #[output] answer: String,
/// }
///
/// # let trainset: Vec<Example<QAInput, QAOutput>> = Vec::new();
/// let metric = |ex: &Example<QAInput, QAOutput>, out: &QAOutput, _: Option<&dspy::Trace>| {
///     out.answer == ex.label.answer
/// };
/// let simba = Simba::new().bsize(16).max_steps(4).seed(7);
/// let (compiled, report) = simba.compile(Predict::<QA>::new(), &trainset, &metric).await?;
/// println!("{report}");
/// # let _ = compiled;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Simba {
    bsize: usize,
    num_candidates: usize,
    max_steps: usize,
    max_demos: usize,
    prompt_lm: Option<Arc<dyn LM>>,
    demo_input_field_maxlen: usize,
    num_threads: usize,
    temperature_for_sampling: f64,
    temperature_for_candidates: f64,
    seed: u64,
    progress: Progress,
    max_lm_calls: Option<u64>,
    prices: Option<PriceTable>,
}

impl std::fmt::Debug for Simba {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simba")
            .field("bsize", &self.bsize)
            .field("num_candidates", &self.num_candidates)
            .field("max_steps", &self.max_steps)
            .field("max_demos", &self.max_demos)
            .field(
                "prompt_lm",
                &self.prompt_lm.as_ref().map(|lm| lm.model().to_string()),
            )
            .field("demo_input_field_maxlen", &self.demo_input_field_maxlen)
            .field("num_threads", &self.num_threads)
            .field("temperature_for_sampling", &self.temperature_for_sampling)
            .field(
                "temperature_for_candidates",
                &self.temperature_for_candidates,
            )
            .field("seed", &self.seed)
            .field("max_lm_calls", &self.max_lm_calls)
            .finish()
    }
}

impl Default for Simba {
    fn default() -> Self {
        Simba::new()
    }
}

impl Simba {
    /// DSPy's defaults: batches of 32, 6 candidates, 8 steps, 4 demos, the LM in scope
    /// writing rules, both softmax temperatures 0.2, seed 0; 8 runs at a time.
    pub fn new() -> Self {
        Simba {
            bsize: 32,
            num_candidates: 6,
            max_steps: 8,
            max_demos: 4,
            prompt_lm: None,
            demo_input_field_maxlen: 100_000,
            num_threads: 8,
            temperature_for_sampling: 0.2,
            temperature_for_candidates: 0.2,
            seed: 0,
            progress: Progress::Auto,
            max_lm_calls: None,
            prices: None,
        }
    }

    /// Examples per minibatch (at least 1); the trainset must have at least this many.
    pub fn bsize(mut self, n: usize) -> Self {
        self.bsize = n.max(1);
        self
    }

    /// Hot LMs per step, programs sampled from, and (plus one) candidates built per step
    /// (at least 1).
    pub fn num_candidates(mut self, n: usize) -> Self {
        self.num_candidates = n.max(1);
        self
    }

    /// Steps (minibatches).
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n;
        self
    }

    /// The demo count per predictor around which demos start being dropped; 0 builds
    /// rules only.
    pub fn max_demos(mut self, n: usize) -> Self {
        self.max_demos = n;
        self
    }

    /// The LM that writes rules (default: the one in scope).
    pub fn prompt_lm(mut self, lm: Arc<dyn LM>) -> Self {
        self.prompt_lm = Some(lm);
        self
    }

    /// Demo inputs longer than `n` characters are truncated (default 100 000).
    pub fn demo_input_field_maxlen(mut self, n: usize) -> Self {
        self.demo_input_field_maxlen = n;
        self
    }

    /// Runs at most `n` examples at a time (default 8).
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = n.max(1);
        self
    }

    /// The softmax temperature programs are drawn at for the sampling runs (default 0.2;
    /// 0 or less always draws the best).
    pub fn temperature_for_sampling(mut self, t: f64) -> Self {
        self.temperature_for_sampling = t;
        self
    }

    /// The softmax temperature source programs of candidates are drawn at (default 0.2;
    /// 0 or less always draws the best).
    pub fn temperature_for_candidates(mut self, t: f64) -> Self {
        self.temperature_for_candidates = t;
        self
    }

    /// The seed of every random choice (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether to draw a progress bar (default: when standard error is a terminal).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// At most `n` LM calls in all; the search stops and keeps the best found.
    pub fn max_lm_calls(mut self, n: u64) -> Self {
        self.max_lm_calls = Some(n);
        self
    }

    /// Prices by model, so that the report shows the cost.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = Some(prices);
        self
    }

    fn error(message: impl Into<String>) -> Error {
        Error::Optimizer {
            optimizer: "SIMBA".into(),
            message: message.into(),
        }
    }

    async fn search<P, I, L, M>(
        &self,
        student: P,
        trainset: &[Example<I, L>],
        finalset: &[Example<I, L>],
        metric: &M,
        report: &mut CompileReport,
    ) -> Result<P>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        if trainset.len() < self.bsize {
            return Err(Self::error(format!(
                "the trainset has {} examples, fewer than the batch size {}",
                trainset.len(),
                self.bsize
            )));
        }
        // Every run would fail: say so once rather than note it bsize × num_candidates times.
        if dspy_core::settings::current_lm().is_none()
            && student
                .named_predictors()
                .iter()
                .any(|(_, p)| p.lm().is_none())
        {
            return Err(Error::NoLm);
        }
        let feedback = Predict::<Dynamic>::from_spec(offer_feedback()?);
        let mut rng = Rng::new(self.seed);
        // DSPy draws Poisson numbers from a second generator (numpy's), seeded alike.
        let mut poisson_rng = Rng::new(self.seed ^ 0x5EED_F00D_D3A5);
        let mut pool = Pool {
            programs: vec![student],
            scores: vec![Vec::new()],
            report_index: vec![None],
        };
        // Pool indices of each step's best candidate, the original first, with its step.
        let mut winners: Vec<(usize, Option<usize>)> = vec![(0, None)];
        let mut order: Vec<usize> = (0..trainset.len()).collect();
        rng.shuffle(&mut order);
        let mut next = 0;
        let mut steps_log = Vec::new();
        let bar = progress_bar(self.progress, self.max_steps, "SIMBA steps");
        let nc = self.num_candidates;

        'steps: for step in 1..=self.max_steps {
            if next + self.bsize > order.len() {
                rng.shuffle(&mut order);
                next = 0;
            }
            let batch: Vec<usize> = order[next..next + self.bsize].to_vec();
            next += self.bsize;
            let examples: Vec<&Example<I, L>> = batch.iter().map(|&i| &trainset[i]).collect();
            let mut step_errors = 0;

            // 1. Sampling runs: model-major, example-minor, as DSPy lays them out.
            let base = dspy_core::settings::current_lm();
            let hot: Vec<LmConfig> = (0..nc)
                .map(|i| {
                    LmConfig::default()
                        .with_temperature(1.0)
                        .with_rollout_id(i as u64)
                })
                .collect();
            let models: Vec<Option<Arc<dyn LM>>> = hot
                .iter()
                .map(|config| {
                    base.as_ref().map(|lm| {
                        Arc::new(Configured::new(Arc::clone(lm), config.clone())) as Arc<dyn LM>
                    })
                })
                .collect();
            let top = pool.top_k_plus_baseline(nc);
            let hot_programs: Vec<Vec<P>> = hot
                .iter()
                .map(|config| {
                    top.iter()
                        .map(|&p| hot_copy(&pool.programs[p], config))
                        .collect()
                })
                .collect();
            let averages = pool.averages();
            let mut sampled = Vec::with_capacity(nc * examples.len());
            for model in 0..nc {
                for _ in &examples {
                    let pick =
                        softmax_sample(&mut rng, &top, &averages, self.temperature_for_sampling);
                    let position = top.iter().position(|&p| p == pick).unwrap_or(0);
                    sampled.push((model, position));
                }
            }
            let calls: Vec<_> = sampled
                .iter()
                .enumerate()
                .map(|(k, &(model, position))| {
                    run_one(
                        &hot_programs[model][position],
                        examples[k % examples.len()],
                        metric,
                        models[model].clone(),
                    )
                })
                .collect();
            let runs: Vec<Run<P::Output>> = futures::stream::iter(calls)
                .buffered(self.num_threads)
                .collect()
                .await;
            for error in runs.iter().filter_map(|r| r.error.as_ref()) {
                if step_errors < ERRORS_PER_STEP {
                    report.note_error(error);
                    step_errors += 1;
                }
            }
            if runs.iter().any(Run::out_of_budget) {
                report.stopped_early = Some(format!(
                    "the LM call budget was spent while sampling step {step}"
                ));
                break 'steps;
            }

            // 2. Buckets, hardest first, and the batch's percentiles.
            let run_scores: Vec<f64> = runs.iter().map(|r| r.score).collect();
            let ordered = buckets(&run_scores, examples.len());
            let p10 = percentile(&run_scores, 10.0);
            let p90 = percentile(&run_scores, 90.0);
            let baseline = mean(&run_scores);
            tracing::info!(step, baseline, p10, p90, "SIMBA sampled the batch");

            // 3. Candidates.
            let mut built: Vec<Built<P>> = Vec::new();
            for bucket in &ordered {
                let sources = pool.top_k_plus_baseline(nc);
                let averages = pool.averages();
                let source = softmax_sample(
                    &mut rng,
                    &sources,
                    &averages,
                    self.temperature_for_candidates,
                );
                let mut candidate = pool.programs[source].clone();
                drop_demos(&mut candidate, self.max_demos, &mut rng, &mut poisson_rng);
                let strategy = if self.max_demos > 0 && rng.below(2) == 0 {
                    Strategy::AppendADemo
                } else {
                    Strategy::AppendARule
                };
                let outcome = match strategy {
                    Strategy::AppendADemo => {
                        Ok(self.append_a_demo(&mut candidate, &runs, bucket, p10))
                    }
                    Strategy::AppendARule => {
                        let example = examples[bucket.example];
                        let inputs = rule_inputs(&candidate, example, &runs, bucket, p10, p90);
                        match inputs {
                            None => Ok(false),
                            Some(fields) => {
                                self.append_a_rule(&mut candidate, &feedback, fields).await
                            }
                        }
                    }
                };
                match outcome {
                    Ok(applied) => built.push(Built {
                        program: candidate,
                        strategy,
                        source,
                        applied,
                    }),
                    Err(error) => {
                        if matches!(error, Error::BudgetExhausted { .. }) {
                            report.stopped_early = Some(format!(
                                "the LM call budget was spent while building step {step}'s candidates"
                            ));
                            break 'steps;
                        }
                        tracing::warn!(step, %error, strategy = strategy.name(), "a SIMBA strategy failed; its candidate is skipped");
                        if step_errors < ERRORS_PER_STEP {
                            report.note_error(&error);
                            step_errors += 1;
                        }
                        continue;
                    }
                }
                if built.len() > nc {
                    break;
                }
            }

            // 4. Score the candidates on the batch with the LM in scope.
            let calls: Vec<_> = built
                .iter()
                .flat_map(|c| {
                    examples
                        .iter()
                        .map(move |example| run_one(&c.program, example, metric, None))
                })
                .collect();
            let runs: Vec<Run<P::Output>> = futures::stream::iter(calls)
                .buffered(self.num_threads)
                .collect()
                .await;
            let mut logged = Vec::new();
            let mut best: Option<(usize, f64)> = None;
            let mut out_of_budget = false;
            let per = examples.len();
            for (c, (built, runs)) in built.into_iter().zip(runs.chunks(per)).enumerate() {
                for error in runs.iter().filter_map(|r| r.error.as_ref()) {
                    if step_errors < ERRORS_PER_STEP
                        && !matches!(error, Error::BudgetExhausted { .. })
                    {
                        report.note_error(error);
                        step_errors += 1;
                    }
                }
                if runs.iter().any(Run::out_of_budget) {
                    out_of_budget = true;
                    continue;
                }
                let scores: Vec<f64> = runs.iter().map(|r| r.score).collect();
                let score = mean(&scores);
                let label = format!(
                    "step {step}, candidate {}: {}",
                    c + 1,
                    built.strategy.name()
                );
                report.candidates.push(Candidate {
                    examples: Some(per),
                    ..scored_candidate(label, &built.program, runs)
                });
                let index = pool.programs.len();
                logged.push(json!({
                    "strategy": built.strategy.name(),
                    "applied": built.applied,
                    "source": built.source,
                    "program": index,
                    "score": score,
                }));
                pool.programs.push(built.program);
                pool.scores.push(scores);
                pool.report_index.push(Some(report.candidates.len() - 1));
                if best.is_none_or(|(_, s)| score > s) {
                    best = Some((index, score));
                }
            }
            if let Some((index, score)) = best {
                tracing::info!(step, program = index, score, "SIMBA step winner");
                winners.push((index, Some(step)));
            }
            steps_log.push(json!({
                "step": step,
                "batch": batch,
                "baseline": baseline,
                "p10": p10,
                "p90": p90,
                "candidates": logged,
                "winner": best.map(|(i, _)| i),
            }));
            if let Some(bar) = &bar {
                bar.inc(1);
                let top = winners
                    .iter()
                    .map(|&(i, _)| pool.average(i))
                    .fold(0.0f64, f64::max);
                bar.set_message(format!("best batch {:.1}%", 100.0 * top));
            }
            if out_of_budget {
                report.stopped_early = Some(format!(
                    "the LM call budget was spent while scoring step {step}'s candidates"
                ));
                break 'steps;
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }

        // 5. The final choice among evenly spaced winners, on the whole set.
        let mut finals = Vec::new();
        let mut chosen: Option<(usize, f64, usize)> = None;
        if report.stopped_early.is_none() {
            let examples: Vec<&Example<I, L>> = finalset.iter().collect();
            for w in winner_schedule(winners.len() - 1, nc + 1) {
                let (index, step) = winners[w];
                let program = &pool.programs[index];
                let runs = run_many(program, &examples, metric, self.num_threads).await;
                if runs.iter().any(Run::out_of_budget) {
                    report.stopped_early =
                        Some("the LM call budget was spent while scoring the winners".into());
                    break;
                }
                for error in runs
                    .iter()
                    .filter_map(|r| r.error.as_ref())
                    .take(ERRORS_PER_STEP)
                {
                    report.note_error(error);
                }
                let scores: Vec<f64> = runs.iter().map(|r| r.score).collect();
                let score = mean(&scores);
                tracing::info!(
                    program = index,
                    score,
                    "SIMBA scored a winner on the whole set"
                );
                let label = match step {
                    Some(s) => format!("winner of step {s}"),
                    None => "baseline (the student)".into(),
                };
                report
                    .candidates
                    .push(scored_candidate(label, program, &runs));
                finals.push(json!({"program": index, "step": step, "score": score}));
                if chosen.is_none_or(|(_, s, _)| score > s) {
                    chosen = Some((index, score, report.candidates.len() - 1));
                }
            }
        }
        let returned = match chosen {
            Some((index, _, candidate)) => {
                report.best = Some(candidate);
                index
            }
            None => {
                // Nothing scored on the whole set (the budget ran out): the winner with the
                // best batch score, the original on ties (its own average is 0).
                let mut pick = 0;
                for &(index, _) in &winners {
                    if pool.average(index) > pool.average(pick) {
                        pick = index;
                    }
                }
                report.best = pool.report_index[pick];
                pick
            }
        };
        report.details = Some(json!({
            "steps": steps_log,
            "winning_programs": winners.iter().map(|&(i, _)| i).collect::<Vec<_>>(),
            "final": finals,
            "returned": returned,
        }));
        let Pool { mut programs, .. } = pool;
        Ok(programs.swap_remove(returned))
    }

    /// DSPy's `append_a_demo`: the best run of the bucket gives each predictor it called a
    /// demo (its last call). Declines when that run is no better than the batch's 10th
    /// percentile.
    fn append_a_demo<P: Module, O>(
        &self,
        candidate: &mut P,
        runs: &[Run<O>],
        bucket: &Bucket,
        p10: f64,
    ) -> bool {
        let Some(good) = bucket.runs.first().map(|&i| &runs[i]) else {
            return false;
        };
        if good.score <= p10 {
            tracing::debug!(
                score = good.score,
                p10,
                "no demo: the best run is at or below the 10th percentile"
            );
            return false;
        }
        let mut by_path: BTreeMap<&str, Fields> = BTreeMap::new();
        for step in &good.steps {
            let mut demo = Fields::new();
            demo.insert("augmented".into(), Value::Bool(true));
            for (name, value) in &step.inputs {
                demo.insert(name.clone(), truncated(value, self.demo_input_field_maxlen));
            }
            for (name, value) in &step.outputs {
                demo.insert(name.clone(), value.clone());
            }
            by_path.insert(&step.path, demo);
        }
        for (path, predictor) in candidate.named_predictors_mut() {
            if let Some(demo) = by_path.remove(path.as_str()) {
                let mut demos = predictor.demos().to_vec();
                demos.push(demo);
                predictor.set_demos(demos);
            }
        }
        true
    }

    /// DSPy's `append_a_rule`, given the feedback inputs ([`rule_inputs`]): the prompt LM
    /// advises each predictor, and the advice is appended to its instructions.
    async fn append_a_rule<P: Module>(
        &self,
        candidate: &mut P,
        feedback: &Predict<Dynamic>,
        fields: Fields,
    ) -> Result<bool> {
        let lm = match &self.prompt_lm {
            Some(lm) => Arc::clone(lm),
            None => dspy_core::settings::current_lm().ok_or(Error::NoLm)?,
        };
        let out = feedback.forward_fields(&*lm, fields).await?;
        let advice: BTreeMap<String, String> = match out.get("module_advice") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), text)
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        for (path, predictor) in candidate.named_predictors_mut() {
            if let Some(advice) = advice.get(&module_name(&path)) {
                tracing::info!(module = %module_name(&path), %advice, "SIMBA rule");
                let instructions = format!("{}\n\n{advice}", predictor.signature().instructions);
                predictor.set_instructions(instructions);
            }
        }
        Ok(true)
    }
}

impl Optimizer for Simba {
    /// Compiles on `trainset`; the final choice among the winners is scored on `valset`
    /// when given (DSPy's SIMBA takes no valset and scores it on the trainset).
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
        let started = Instant::now();
        let mut report = CompileReport::new("SIMBA", self.seed);
        let finalset = valset.unwrap_or(trainset);
        let work = self.search(program, trainset, finalset, metric, &mut report);
        let (result, usage) = budgeted(self.max_lm_calls, work).await;
        let best = result?;
        finish(&mut report, usage, self.prices.as_ref(), started);
        tracing::info!(report = %report, "SIMBA finished");
        Ok((best, report))
    }
}

/// Every program built so far, with its per-example batch scores (none for the original).
struct Pool<P> {
    programs: Vec<P>,
    scores: Vec<Vec<f64>>,
    /// The program's candidate in the report.
    report_index: Vec<Option<usize>>,
}

impl<P> Pool<P> {
    fn average(&self, index: usize) -> f64 {
        self.scores.get(index).map_or(0.0, |s| mean(s))
    }

    fn averages(&self) -> Vec<f64> {
        (0..self.programs.len()).map(|i| self.average(i)).collect()
    }

    fn top_k_plus_baseline(&self, k: usize) -> Vec<usize> {
        top_k_plus_baseline(&self.averages(), k)
    }
}

/// The two ways SIMBA changes a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    AppendADemo,
    AppendARule,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::AppendADemo => "append_a_demo",
            Strategy::AppendARule => "append_a_rule",
        }
    }
}

/// A candidate of a step, before it is scored.
struct Built<P> {
    program: P,
    strategy: Strategy,
    /// The pool index of the program it was copied from.
    source: usize,
    /// Whether the strategy changed it (a declined one is still a candidate, as in DSPy).
    applied: bool,
}

/// `program` with every predictor's own LM (if any) sampled under `config`; the LM in
/// scope is made hot by the caller.
fn hot_copy<P: Module + Clone>(program: &P, config: &LmConfig) -> P {
    let mut copy = program.clone();
    for (_, predictor) in copy.named_predictors_mut() {
        if let Some(own) = predictor.lm() {
            predictor.set_lm(Some(Arc::new(Configured::new(own, config.clone()))));
        }
    }
    copy
}

/// A demo input, truncated past `maxlen` characters as DSPy does (strings only).
fn truncated(value: &Value, maxlen: usize) -> Value {
    match value {
        Value::String(s) if s.chars().count() > maxlen => {
            let head: String = s.chars().take(maxlen).collect();
            Value::String(format!("{head}\n\t\t... <TRUNCATED FOR BREVITY>"))
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::sampling::poisson;
    use super::*;

    #[test]
    fn percentile_interpolates_linearly_as_numpy() {
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 10.0) - 1.3).abs() < 1e-12);
        assert!((percentile(&[4.0, 1.0, 3.0, 2.0], 90.0) - 3.7).abs() < 1e-12);
        assert_eq!(percentile(&[0.0, 0.0, 1.0, 1.0], 10.0), 0.0);
        assert_eq!(percentile(&[0.0, 0.0, 1.0, 1.0], 90.0), 1.0);
        assert_eq!(percentile(&[5.0], 50.0), 5.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[1.0, 2.0], 100.0), 2.0);
    }

    #[test]
    fn top_k_keeps_the_baseline_in_the_last_place() {
        // Program 0 is worst: it replaces the last of the top 2.
        assert_eq!(top_k_plus_baseline(&[0.0, 0.9, 0.5, 0.7], 2), [1, 0]);
        assert_eq!(top_k_plus_baseline(&[0.0, 0.9, 0.5, 0.7], 3), [1, 3, 0]);
        // Already among the top: unchanged; ties keep pool order.
        assert_eq!(top_k_plus_baseline(&[0.8, 0.9, 0.8], 2), [1, 0]);
        assert_eq!(top_k_plus_baseline(&[0.0], 6), [0]);
        assert_eq!(top_k_plus_baseline(&[0.0, 0.5], 6), [1, 0]);
        // k = 1 and a better program: the baseline takes the only place.
        assert_eq!(top_k_plus_baseline(&[0.0, 0.5], 1), [0]);
    }

    #[test]
    fn softmax_draws_in_proportion_to_exp_score_over_temperature() {
        let averages = [0.0, 0.2, 0.0];
        let mut rng = Rng::new(11);
        let mut counts = [0usize; 3];
        let n = 100_000;
        for _ in 0..n {
            counts[softmax_sample(&mut rng, &[0, 1, 2], &averages, 0.2)] += 1;
        }
        // e^1 : 1 : 1.
        let e = std::f64::consts::E;
        let expected = [1.0 / (e + 2.0), e / (e + 2.0), 1.0 / (e + 2.0)];
        for (c, p) in counts.iter().zip(expected) {
            let freq = *c as f64 / n as f64;
            assert!((freq - p).abs() < 0.01, "{counts:?}");
        }
        // Only the candidates listed are drawn; a cold temperature takes the best.
        let mut rng = Rng::new(1);
        for _ in 0..100 {
            assert_ne!(softmax_sample(&mut rng, &[0, 2], &averages, 0.2), 1);
        }
        assert_eq!(softmax_sample(&mut rng, &[0, 1, 2], &averages, 0.0), 1);
        // Huge scores do not overflow.
        let big = [1e6, 1e6 + 1.0];
        assert!(softmax_sample(&mut rng, &[0, 1], &big, 0.2) <= 1);
    }

    #[test]
    fn winners_are_spaced_evenly_with_pythons_rounding() {
        assert_eq!(winner_schedule(0, 7), [0]);
        assert_eq!(winner_schedule(1, 7), [0, 1]);
        assert_eq!(winner_schedule(8, 7), [0, 1, 3, 4, 5, 7, 8]);
        // 0.5 → 0, 1.5 → 2, 2.5 → 2: half to even.
        assert_eq!(winner_schedule(3, 7), [0, 1, 2, 3]);
        assert_eq!(winner_schedule(2, 3), [0, 1, 2]);
        assert_eq!(winner_schedule(12, 3), [0, 6, 12]);
    }

    #[test]
    fn poisson_has_the_right_mean() {
        let mut rng = Rng::new(5);
        for lambda in [0.25, 1.0, 4.0, 75.0] {
            let n = 40_000;
            let total: usize = (0..n).map(|_| poisson(&mut rng, lambda)).sum();
            let m = total as f64 / n as f64;
            assert!((m - lambda).abs() < 0.05 * lambda.max(1.0), "{lambda}: {m}");
        }
        assert_eq!(poisson(&mut rng, 0.0), 0);
        assert_eq!(poisson(&mut rng, f64::NAN), 0);
    }

    #[test]
    fn buckets_put_the_widest_gaps_first() {
        // Two models over three examples: runs 0..3 are model 0, 3..6 model 1.
        let scores = [1.0, 0.5, 1.0, 0.0, 0.5, 1.0];
        let b = buckets(&scores, 3);
        assert_eq!(b.iter().map(|b| b.example).collect::<Vec<_>>(), [0, 2, 1]);
        assert_eq!(b[0].runs, [0, 3]);
        assert_eq!(b[0].stats, (1.0, 1.0, 0.5));
        // Equal scores keep model order.
        assert_eq!(b[1].runs, [2, 5]);
        assert_eq!(b[2].stats, (0.0, 0.5, 0.0));
    }

    #[test]
    fn long_demo_inputs_are_truncated() {
        assert_eq!(
            truncated(&Value::from("abcdef"), 3),
            Value::from("abc\n\t\t... <TRUNCATED FOR BREVITY>")
        );
        assert_eq!(truncated(&Value::from("abc"), 3), Value::from("abc"));
        assert_eq!(truncated(&Value::from(12345), 2), Value::from(12345));
    }

    #[test]
    fn the_feedback_signature_is_dspys() {
        let spec = offer_feedback().expect("valid");
        assert!(
            spec.instructions
                .starts_with("You will be given two trajectories")
        );
        assert_eq!(spec.inputs.len(), 13);
        assert_eq!(spec.outputs[1].name, "module_advice");
        assert_eq!(spec.outputs[1].type_label(), "dict[str, str]");
        assert_eq!(spec.inputs[6].type_label(), "float");
    }
}
