//! `MiproV2`: instructions and demo sets searched jointly, per predictor, by a
//! Tree-structured Parzen Estimator over minibatch scores (DSPy's MIPROv2).

use crate::bootstrap::{BootstrapFewShot, budgeted, finish};
use crate::proposer::{Grounding, Proposer};
use crate::random_search::few_shot_candidate;
use crate::report::{Candidate, CompileReport};
use crate::runs::{Run, mean_score, run_many, scored_candidate};
use crate::tpe::TpeSampler;
use crate::{Optimizer, progress_bar};
use dspy_core::evaluate::Progress;
use dspy_core::rng::Rng;
use dspy_core::usage::PriceTable;
use dspy_core::{Error, Example, Fields, LM, Metric, Program, Result};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A preset of MIPROv2's sizes, as DSPy's `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Auto {
    /// 6 candidates, a validation set of at most 100.
    Light,
    /// 12 candidates, at most 300.
    Medium,
    /// 18 candidates, at most 1000.
    Heavy,
}

impl Auto {
    /// DSPy's `n` and `val_size` of the preset.
    pub(crate) fn sizes(self) -> (usize, usize) {
        match self {
            Auto::Light => (6, 100),
            Auto::Medium => (12, 300),
            Auto::Heavy => (18, 1000),
        }
    }
}

/// A validation set larger than this is scored in minibatches under `auto`.
const MIN_MINIBATCH_SIZE: usize = 50;

/// DSPy's MIPROv2:
///
/// 1. **Demo candidates.** DSPy's few-shot schedule (zero-shot, labeled, bootstrapped in
///    training order, then bootstrapped from shuffles with 1 to `max_bootstrapped_demos`
///    demos), `num_candidates` sets in all, each giving every predictor a demo set.
/// 2. **Instruction candidates.** A grounded proposer LM sees a summary of the training
///    data, an outline of the program and of the predictor's role, bootstrapped demos, and
///    a random prompting tip; the original instruction is candidate 0.
/// 3. **Search.** Each trial, a [`TpeSampler`] picks an instruction and a demo set for
///    every predictor; the program is scored on a random minibatch of the validation set
///    (`minibatch_size`), and every `minibatch_full_eval_steps` trials the combination with
///    the best mean minibatch score is scored on the whole validation set. The program
///    returned is the best fully scored one (the original program is trial 1).
///
/// `auto` ([`Auto::Light`] by default) sets the sizes as DSPy does: `num_candidates` demo
/// sets, half as many instructions (all of them in zero-shot mode), a validation set of at
/// most 100/300/1000 sampled from the one given, minibatches when it holds more than 50,
/// and `max(2·v·log2(n), 1.5·n)` trials for `v` parameters. With `auto(None)`, set
/// `num_candidates` and `num_trials`. With `max_bootstrapped_demos(0)` and
/// `max_labeled_demos(0)` only instructions are searched (zero-shot mode).
///
/// Without a validation set, as DSPy: the last 80% of the trainset (at most 1000) is the
/// validation set and the rest the trainset.
///
/// Differences from DSPy, each saving calls: the proposal DSPy makes and then replaces by
/// the original instruction is not made; identical proposals are kept once; a full
/// evaluation with no new combination to score is skipped rather than repeated.
#[derive(Clone)]
pub struct MiproV2 {
    auto: Option<Auto>,
    num_candidates: Option<usize>,
    num_trials: Option<usize>,
    minibatch: bool,
    minibatch_size: usize,
    minibatch_full_eval_steps: usize,
    bootstrap: BootstrapFewShot,
    max_bootstrapped_demos: usize,
    max_labeled_demos: usize,
    init_temperature: f32,
    prompt_lm: Option<Arc<dyn LM>>,
    proposal_max_tokens: Option<u32>,
    grounding: Grounding,
    seed: u64,
    num_threads: usize,
    progress: Progress,
    max_lm_calls: Option<u64>,
    prices: Option<PriceTable>,
}

impl std::fmt::Debug for MiproV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiproV2")
            .field("auto", &self.auto)
            .field("num_candidates", &self.num_candidates)
            .field("num_trials", &self.num_trials)
            .field("minibatch", &self.minibatch)
            .field("minibatch_size", &self.minibatch_size)
            .field("minibatch_full_eval_steps", &self.minibatch_full_eval_steps)
            .field("max_bootstrapped_demos", &self.max_bootstrapped_demos)
            .field("max_labeled_demos", &self.max_labeled_demos)
            .field(
                "prompt_lm",
                &self.prompt_lm.as_ref().map(|lm| lm.model().to_string()),
            )
            .field("seed", &self.seed)
            .finish()
    }
}

impl Default for MiproV2 {
    fn default() -> Self {
        MiproV2::new()
    }
}

impl MiproV2 {
    /// DSPy's defaults: `auto` light, 4 bootstrapped and 4 labeled demos at most,
    /// minibatches of 35 with a full evaluation every 5 trials, proposals at temperature
    /// 1.0, seed 9; 8 runs at a time.
    pub fn new() -> Self {
        MiproV2 {
            auto: Some(Auto::Light),
            num_candidates: None,
            num_trials: None,
            minibatch: true,
            minibatch_size: 35,
            minibatch_full_eval_steps: 5,
            bootstrap: BootstrapFewShot::new().progress(Progress::Never),
            max_bootstrapped_demos: 4,
            max_labeled_demos: 4,
            init_temperature: 1.0,
            prompt_lm: None,
            proposal_max_tokens: None,
            grounding: Grounding {
                data_aware: true,
                program_aware: true,
                tip_aware: true,
                fewshot_aware: true,
                view_data_batch_size: 10,
            },
            seed: 9,
            num_threads: 8,
            progress: Progress::Auto,
            max_lm_calls: None,
            prices: None,
        }
    }

    /// The preset sizes, or `None` to set `num_candidates` and `num_trials` yourself.
    pub fn auto(mut self, auto: Option<Auto>) -> Self {
        self.auto = auto;
        self
    }

    /// Demo sets and instructions per predictor (only with `auto(None)`).
    pub fn num_candidates(mut self, n: usize) -> Self {
        self.num_candidates = Some(n.max(1));
        self
    }

    /// Search trials (only with `auto(None)`).
    pub fn num_trials(mut self, n: usize) -> Self {
        self.num_trials = Some(n);
        self
    }

    /// Whether trials are scored on minibatches (default true; `auto` decides by the size
    /// of the validation set).
    pub fn minibatch(mut self, on: bool) -> Self {
        self.minibatch = on;
        self
    }

    /// Examples per minibatch (default 35).
    pub fn minibatch_size(mut self, n: usize) -> Self {
        self.minibatch_size = n.max(1);
        self
    }

    /// Minibatch trials between full evaluations (default 5).
    pub fn minibatch_full_eval_steps(mut self, n: usize) -> Self {
        self.minibatch_full_eval_steps = n.max(1);
        self
    }

    /// At most `n` bootstrapped demos per predictor (default 4).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped_demos = n;
        self
    }

    /// At most `n` demos per predictor in all (default 4).
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.max_labeled_demos = n;
        self
    }

    /// A bootstrap run passes when the metric scores it at least `threshold`.
    pub fn metric_threshold(mut self, threshold: f64) -> Self {
        self.bootstrap = self.bootstrap.metric_threshold(threshold);
        self
    }

    /// Gives up once `n` teacher runs of one bootstrap have failed (default 10).
    pub fn max_errors(mut self, n: usize) -> Self {
        self.bootstrap = self.bootstrap.max_errors(n);
        self
    }

    /// Runs the bootstrap teacher with this LM.
    pub fn teacher_lm(mut self, lm: Arc<dyn LM>) -> Self {
        self.bootstrap = self.bootstrap.teacher_lm(lm);
        self
    }

    /// The temperature proposals are sampled at (default 1.0).
    pub fn init_temperature(mut self, t: f32) -> Self {
        self.init_temperature = t;
        self
    }

    /// The LM that proposes instructions (default: the one in scope).
    pub fn prompt_lm(mut self, lm: Arc<dyn LM>) -> Self {
        self.prompt_lm = Some(lm);
        self
    }

    /// Caps each proposer call at `n` tokens (default: the LM's own limit).
    pub fn proposal_max_tokens(mut self, n: u32) -> Self {
        self.proposal_max_tokens = Some(n);
        self
    }

    /// Whether the proposer sees a summary of the training data (default true).
    pub fn data_aware_proposer(mut self, on: bool) -> Self {
        self.grounding.data_aware = on;
        self
    }

    /// Whether the proposer sees an outline of the program (default true).
    pub fn program_aware_proposer(mut self, on: bool) -> Self {
        self.grounding.program_aware = on;
        self
    }

    /// Whether the proposer gets a random prompting tip (default true).
    pub fn tip_aware_proposer(mut self, on: bool) -> Self {
        self.grounding.tip_aware = on;
        self
    }

    /// Whether the proposer sees bootstrapped demos (default true).
    pub fn fewshot_aware_proposer(mut self, on: bool) -> Self {
        self.grounding.fewshot_aware = on;
        self
    }

    /// Records per batch shown to the dataset summarizer (default 10).
    pub fn view_data_batch_size(mut self, n: usize) -> Self {
        self.grounding.view_data_batch_size = n.max(1);
        self
    }

    /// The seed (default 9, DSPy's): minibatches, tips, the sampler, the demo sets.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs at most `n` examples at a time (default 8).
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = n.max(1);
        self.bootstrap = self.bootstrap.num_threads(n);
        self
    }

    /// Whether to show a progress bar.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// At most `n` LM calls in all; the search stops and keeps the best found.
    pub fn max_lm_calls(mut self, n: u64) -> Self {
        self.max_lm_calls = Some(n);
        self
    }

    /// Prices for the report's cost.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = Some(prices);
        self
    }

    /// DSPy's number of trials for `n` candidates: `max(2·v·log2(n), 1.5·n)`, where `v` is
    /// the number of parameters (an instruction, and a demo set unless zero-shot, per
    /// predictor).
    pub fn trials_for(predictors: usize, zero_shot: bool, n: usize) -> usize {
        let vars = if zero_shot {
            predictors
        } else {
            2 * predictors
        };
        let log = (n.max(1) as f64).log2();
        (2.0 * vars as f64 * log).max(1.5 * n as f64) as usize
    }

    async fn search<P, I, L, M>(
        &self,
        student: P,
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
        let fail = |message: String| Error::Optimizer {
            optimizer: "MIPROv2".into(),
            message,
        };
        if trainset.is_empty() {
            return Err(fail("the trainset is empty".into()));
        }
        // DSPy: without a valset, the last 80% of the trainset (at most 1000) is held out.
        let (trainset, valset) = match valset {
            Some([]) => return Err(fail("the valset is empty".into())),
            Some(v) => (trainset, v),
            None => {
                if trainset.len() < 2 {
                    return Err(fail(
                        "without a valset the trainset needs at least 2 examples".into(),
                    ));
                }
                let size = ((trainset.len() as f64 * 0.8) as usize).clamp(1, 1000);
                trainset.split_at(trainset.len() - size)
            }
        };
        let zero_shot = self.max_bootstrapped_demos == 0 && self.max_labeled_demos == 0;
        let predictors = student.named_predictors().len();
        let mut rng = Rng::new(self.seed);
        let mut valset: Vec<&Example<I, L>> = valset.iter().collect();
        let mut minibatch = self.minibatch;
        let (num_instructions, num_demo_sets, num_trials) = match (
            self.auto,
            self.num_candidates,
            self.num_trials,
        ) {
            (Some(auto), None, None) => {
                let (n, val_size) = auto.sizes();
                if valset.len() > val_size {
                    valset = rng
                        .sample_indices(valset.len(), val_size)
                        .into_iter()
                        .map(|i| valset[i])
                        .collect();
                }
                minibatch = valset.len() > MIN_MINIBATCH_SIZE;
                let instructions = if zero_shot { n } else { n / 2 };
                (instructions, n, Self::trials_for(predictors, zero_shot, n))
            }
            (Some(_), _, _) => {
                return Err(fail(
                    "with `auto`, num_candidates and num_trials are set by the preset; use auto(None) to set them".into(),
                ));
            }
            (None, Some(n), Some(trials)) => (n, n, trials),
            (None, _, _) => {
                return Err(fail(
                    "with auto(None), set both num_candidates and num_trials".into(),
                ));
            }
        };
        if minibatch && self.minibatch_size > valset.len() {
            return Err(fail(format!(
                "the minibatch size ({}) exceeds the validation set ({} examples)",
                self.minibatch_size,
                valset.len()
            )));
        }
        tracing::info!(
            num_trials,
            minibatch,
            num_demo_sets,
            num_instructions,
            valset = valset.len(),
            "MIPROv2 settings"
        );

        // 1. Demo candidates: a demo set per predictor from each few-shot candidate.
        let mut reset = student.clone();
        for (_, predictor) in reset.named_predictors_mut() {
            predictor.set_demos(Vec::new());
        }
        let bootstrap = if zero_shot {
            // DSPy still bootstraps a few, to show the proposer.
            self.bootstrap
                .clone()
                .max_bootstrapped_demos(3)
                .max_labeled_demos(0)
        } else {
            self.bootstrap
                .clone()
                .max_bootstrapped_demos(self.max_bootstrapped_demos)
                .max_labeled_demos(self.max_labeled_demos)
        }
        .seed(self.seed);
        let labeled = !zero_shot && self.max_labeled_demos > 0;
        let mut demo_sets: Vec<Vec<Vec<Fields>>> = vec![Vec::new(); predictors];
        let mut demo_labels: Vec<String> = Vec::new();
        let first_shuffle = num_demo_sets as i64 - 3;
        for s in -3..first_shuffle.max(0) {
            if s == -2 && !labeled {
                continue;
            }
            let (label, program) =
                few_shot_candidate(&bootstrap, s, &reset, None, trainset, metric, report).await?;
            if report.stopped_early.is_some() {
                break;
            }
            for (i, (_, predictor)) in program.named_predictors().iter().enumerate() {
                demo_sets[i].push(predictor.demos().to_vec());
            }
            demo_labels.push(label);
        }

        // 2. Instruction candidates: the original first, then the proposals.
        let prompt_lm = match &self.prompt_lm {
            Some(lm) => Arc::clone(lm),
            None => dspy_core::settings::current_lm().ok_or(Error::NoLm)?,
        };
        let mut proposer = Proposer::new(
            prompt_lm,
            self.init_temperature,
            self.proposal_max_tokens,
            self.grounding,
            self.seed,
        );
        if self.grounding.data_aware {
            let records: Vec<Fields> = trainset
                .iter()
                .filter_map(|e| crate::labeled::record(e).ok())
                .collect();
            if let Err(e) = proposer.summarize_data(&records).await {
                tracing::warn!(error = %e, "the dataset summary failed; proposing without it");
                report.note_error(&format!("dataset summary: {e}"));
            }
        }
        let mut instructions: Vec<Vec<String>> = Vec::new();
        for (i, (path, predictor)) in student.named_predictors().iter().enumerate() {
            let mut candidates = vec![predictor.signature().instructions.clone()];
            for text in proposer
                .propose_for(&student, i, &demo_sets[i], num_instructions)
                .await
            {
                if !candidates.contains(&text) {
                    candidates.push(text);
                }
            }
            tracing::info!(predictor = %path, candidates = candidates.len(), "instruction candidates");
            instructions.push(candidates);
        }
        for e in &proposer.errors {
            report.note_error(&format!("proposer: {e}"));
        }
        let search_demos = !zero_shot && demo_sets.iter().all(|sets| !sets.is_empty());

        // 3. The search.
        let paths: Vec<String> = student
            .named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let mut choices = Vec::new();
        for i in 0..predictors {
            choices.push(instructions[i].len());
            if search_demos {
                choices.push(demo_sets[i].len());
            }
        }
        let build = |params: &[usize]| -> (P, Vec<(String, usize)>) {
            let mut program = student.clone();
            let mut sets = Vec::new();
            let per = if search_demos { 2 } else { 1 };
            for (i, (_, predictor)) in program.named_predictors_mut().into_iter().enumerate() {
                let chosen = params.get(i * per).copied().unwrap_or(0);
                if let Some(text) = instructions[i].get(chosen) {
                    predictor.set_instructions(text.clone());
                }
                if search_demos {
                    let set = params.get(i * per + 1).copied().unwrap_or(0);
                    if let Some(demos) = demo_sets[i].get(set) {
                        predictor.set_demos(demos.clone());
                    }
                    sets.push((paths[i].clone(), set));
                }
            }
            (program, sets)
        };
        let mut sampler = TpeSampler::new(choices.clone(), self.seed);
        let steps = self.minibatch_full_eval_steps;
        let adjusted = if minibatch {
            num_trials + num_trials / steps + 1 + usize::from(num_trials % steps != 0)
        } else {
            num_trials
        };
        let bar = progress_bar(self.progress, num_trials, "trials");
        let full: Vec<&Example<I, L>> = valset.clone();

        // Trial 1: the program as given, on the whole validation set.
        let runs = run_many(&student, &full, metric, self.num_threads).await;
        if let Some(why) = self.budget_hit(&runs) {
            report.stopped_early = Some(why);
            return Ok(student);
        }
        let default_score = mean_score(&runs);
        let defaults = vec![0; choices.len()];
        sampler.tell(defaults.clone(), default_score);
        let default_sets = if search_demos {
            paths.iter().map(|p| (p.clone(), 0)).collect()
        } else {
            Vec::new()
        };
        self.record(
            report,
            "trial 1: the program as given (full)",
            &student,
            default_sets,
            &runs,
            None,
        );
        let mut best = (default_score, student.clone(), report.candidates.len() - 1);
        report.best = Some(best.2);
        // Minibatch scores by combination, and the combinations already fully scored.
        let mut by_combo: BTreeMap<Vec<usize>, Vec<f64>> = BTreeMap::new();
        let mut fully_scored: BTreeMap<Vec<usize>, f64> = BTreeMap::new();
        fully_scored.insert(defaults, default_score);
        let mut trial_number = 1; // Optuna's trial number; the default was 0.
        for done in 0..num_trials {
            let trial_num = trial_number + 1;
            trial_number += 1;
            let params = sampler.suggest();
            let (candidate, sets) = build(&params);
            let batch: Vec<&Example<I, L>> = if minibatch && self.minibatch_size < full.len() {
                rng.sample_indices(full.len(), self.minibatch_size)
                    .into_iter()
                    .map(|i| full[i])
                    .collect()
            } else {
                full.clone()
            };
            let runs = run_many(&candidate, &batch, metric, self.num_threads).await;
            if let Some(why) = self.budget_hit(&runs) {
                report.stopped_early = Some(why);
                break;
            }
            let score = mean_score(&runs);
            sampler.tell(params.clone(), score);
            let is_full = batch.len() >= full.len();
            let label = format!(
                "trial {trial_num}: {} ({})",
                describe(&params, search_demos),
                if is_full {
                    "full".to_string()
                } else {
                    format!("minibatch of {}", batch.len())
                }
            );
            self.record(
                report,
                &label,
                &candidate,
                sets,
                &runs,
                (!is_full).then_some(batch.len()),
            );
            if is_full {
                fully_scored.insert(params.clone(), score);
                if score > best.0 {
                    best = (score, candidate.clone(), report.candidates.len() - 1);
                    report.best = Some(best.2);
                }
            } else {
                by_combo.entry(params.clone()).or_default().push(score);
            }
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!("best {:.1}%", 100.0 * best.0.max(0.0)));
            }
            let due = trial_num % (steps + 1) == 0 || trial_num == adjusted.saturating_sub(1);
            let last = done + 1 == num_trials;
            if minibatch && (due || last) {
                // The combination with the best mean minibatch score not yet fully scored.
                let pick = by_combo
                    .iter()
                    .filter(|(k, _)| !fully_scored.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.iter().sum::<f64>() / v.len() as f64))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                let Some((params, mean)) = pick else {
                    continue;
                };
                trial_number += 1;
                let (candidate, sets) = build(&params);
                let runs = run_many(&candidate, &full, metric, self.num_threads).await;
                if let Some(why) = self.budget_hit(&runs) {
                    report.stopped_early = Some(why);
                    break;
                }
                let score = mean_score(&runs);
                sampler.tell(params.clone(), score);
                fully_scored.insert(params.clone(), score);
                let label = format!(
                    "full evaluation of {} (minibatch mean {:.1}%)",
                    describe(&params, search_demos),
                    100.0 * mean
                );
                self.record(report, &label, &candidate, sets, &runs, None);
                tracing::info!(score, minibatch_mean = mean, "full evaluation");
                if score > best.0 {
                    best = (score, candidate, report.candidates.len() - 1);
                    report.best = Some(best.2);
                }
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        report.details = Some(json!({
            "settings": {
                "auto": self.auto,
                "num_trials": num_trials,
                "minibatch": minibatch,
                "minibatch_size": self.minibatch_size,
                "minibatch_full_eval_steps": steps,
                "valset_size": full.len(),
                "trainset_size": trainset.len(),
                "zero_shot": zero_shot,
            },
            "dataset_summary": proposer.data_summary,
            "instruction_candidates": paths.iter().zip(&instructions)
                .map(|(p, c)| (p.clone(), Value::from(c.clone())))
                .collect::<serde_json::Map<_, _>>(),
            "demo_candidates": paths.iter().zip(&demo_sets)
                .map(|(p, sets)| (p.clone(), Value::from(
                    sets.iter().zip(&demo_labels)
                        .map(|(set, label)| json!({"label": label, "demos": set}))
                        .collect::<Vec<_>>())))
                .collect::<serde_json::Map<_, _>>(),
        }));
        Ok(best.1)
    }

    /// Why the runs say the budget is spent, if they do.
    fn budget_hit<O>(&self, runs: &[Run<O>]) -> Option<String> {
        runs.iter()
            .any(Run::out_of_budget)
            .then(|| "the LM call budget was spent during the search".to_string())
    }

    fn record<P: Program, O>(
        &self,
        report: &mut CompileReport,
        label: &str,
        program: &P,
        demo_sets: Vec<(String, usize)>,
        runs: &[Run<O>],
        examples: Option<usize>,
    ) {
        for error in runs.iter().filter_map(|r| r.error.as_ref()).take(2) {
            report.note_error(error);
        }
        report.candidates.push(Candidate {
            demo_sets,
            examples,
            ..scored_candidate(label, program, runs)
        });
    }
}

/// `instruction 2, demo set 1; instruction 0, …` for a combination.
fn describe(params: &[usize], demos: bool) -> String {
    if demos {
        params
            .chunks(2)
            .map(|c| {
                format!(
                    "instruction {}, demo set {}",
                    c[0],
                    c.get(1).copied().unwrap_or(0)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        params
            .iter()
            .map(|i| format!("instruction {i}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Optimizer for MiproV2 {
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
        let mut report = CompileReport::new("MIPROv2", self.seed);
        let work = self.search(program, trainset, valset, metric, &mut report);
        let (result, usage) = budgeted(self.max_lm_calls, work).await;
        let best = result?;
        finish(&mut report, usage, self.prices.as_ref(), started);
        tracing::info!(report = %report, "MIPROv2 finished");
        Ok((best, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trials_follow_dspy() {
        // One predictor, light (n = 6): max(2·2·log2 6, 9) = 10; zero-shot: max(5.2, 9) = 9.
        assert_eq!(MiproV2::trials_for(1, false, 6), 10);
        assert_eq!(MiproV2::trials_for(1, true, 6), 9);
        // Two predictors, medium (n = 12): 2·4·3.585 = 28.
        assert_eq!(MiproV2::trials_for(2, false, 12), 28);
    }

    #[test]
    fn combinations_read_as_text() {
        assert_eq!(describe(&[2, 1], true), "instruction 2, demo set 1");
        assert_eq!(describe(&[0, 3], false), "instruction 0; instruction 3");
    }
}
