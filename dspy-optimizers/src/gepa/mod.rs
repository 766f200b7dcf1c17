//! `Gepa`: reflective evolution of instructions, guided by textual feedback and a
//! per-example Pareto front (DSPy's GEPA, after the `gepa` engine it wraps).

use crate::bootstrap::{budgeted, finish};
use crate::mipro::Auto;
use crate::report::{Candidate, CompileReport};
use crate::runs::{Run, instructions_of, run_many, scored_candidate};
use crate::{Optimizer, progress_bar};
use dspy_core::evaluate::Progress;
use dspy_core::rng::Rng;
use dspy_core::usage::PriceTable;
use dspy_core::{ChatRequest, Error, Example, LM, LmConfig, Message, Metric, Program, Result};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

mod pareto;
mod reflection;

use pareto::{dominators, merge_subsample, plan_merge, select_from_front};
pub use reflection::{FeedbackMetric, ScoreWithFeedback};
use reflection::{Plain, ScoreOf, extract_instruction, reflection_prompt, reflective_records};

/// How GEPA picks the candidate to improve next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// From the per-example Pareto front, in proportion to how many validation examples
    /// each non-dominated candidate is best on (DSPy's default).
    Pareto,
    /// The candidate with the best mean validation score.
    CurrentBest,
}

/// DSPy's GEPA (Genetic-Pareto reflective prompt evolution):
///
/// 1. The program as given is scored on the validation set; each validation example's
///    best score and the candidates that reach it form the **Pareto front**.
/// 2. Each iteration **selects** a candidate ([`Selection::Pareto`]: among candidates
///    best on some example and not dominated, in proportion to how many examples they are
///    best on), takes its next predictor in turn, and runs it on a **minibatch** of the
///    trainset (`reflection_minibatch_size`, epochs shuffled by the seed).
/// 3. A **reflection LM** reads the predictor's instruction and, for each example, the
///    predictor's inputs, outputs and the metric's feedback, and writes a new instruction.
/// 4. The new candidate runs the same minibatch; if its total is strictly higher it is
///    **accepted**, scored on the validation set, and joins the front (its parent is kept
///    as its lineage); otherwise it is dropped.
/// 5. With `use_merge`, after an accepted candidate, two front candidates that improved
///    different predictors of a common ancestor are **merged** (each predictor from the
///    one that changed it), and the merge is kept when it does at least as well as both
///    on validation examples where they differ.
///
/// The search stops when the metric-call budget is spent (`auto`, `max_metric_calls` or
/// `max_full_evals`); the candidate with the best mean validation score is returned. The
/// report lists every candidate with its parents, and `details` holds the Pareto front.
///
/// [`compile_with_feedback`](Gepa::compile_with_feedback) takes a [`FeedbackMetric`];
/// through [`Optimizer`], a plain metric's feedback is DSPy's "This trajectory got a
/// score of …".
#[derive(Clone)]
pub struct Gepa {
    auto: Option<Auto>,
    max_metric_calls: Option<usize>,
    max_full_evals: Option<usize>,
    reflection_lm: Option<Arc<dyn LM>>,
    reflection_max_tokens: Option<u32>,
    reflection_minibatch_size: usize,
    selection: Selection,
    skip_perfect_score: bool,
    perfect_score: f64,
    use_merge: bool,
    max_merge_invocations: usize,
    seed: u64,
    num_threads: usize,
    progress: Progress,
    max_lm_calls: Option<u64>,
    prices: Option<PriceTable>,
}

impl std::fmt::Debug for Gepa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gepa")
            .field("auto", &self.auto)
            .field("max_metric_calls", &self.max_metric_calls)
            .field("max_full_evals", &self.max_full_evals)
            .field(
                "reflection_lm",
                &self.reflection_lm.as_ref().map(|lm| lm.model().to_string()),
            )
            .field("reflection_minibatch_size", &self.reflection_minibatch_size)
            .field("selection", &self.selection)
            .field("use_merge", &self.use_merge)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Default for Gepa {
    fn default() -> Self {
        Gepa::new()
    }
}

/// One candidate of the search.
struct Cand {
    instructions: Vec<String>,
    parents: Vec<usize>,
    /// Scores on the validation set, by example.
    val: Vec<f64>,
    /// The index of its entry in the report.
    entry: usize,
    /// The next predictor to improve when this candidate is selected (round robin).
    next_component: usize,
}

impl Cand {
    fn mean(&self) -> f64 {
        if self.val.is_empty() {
            0.0
        } else {
            self.val.iter().sum::<f64>() / self.val.len() as f64
        }
    }
}

impl Gepa {
    /// DSPy's defaults: `auto` light, minibatches of 3, Pareto selection, perfect
    /// minibatches skipped, merges on (at most 5), seed 0; the reflection LM is the one in
    /// scope unless given; 8 runs at a time.
    pub fn new() -> Self {
        Gepa {
            auto: Some(Auto::Light),
            max_metric_calls: None,
            max_full_evals: None,
            reflection_lm: None,
            reflection_max_tokens: None,
            reflection_minibatch_size: 3,
            selection: Selection::Pareto,
            skip_perfect_score: true,
            perfect_score: 1.0,
            use_merge: true,
            max_merge_invocations: 5,
            seed: 0,
            num_threads: 8,
            progress: Progress::Auto,
            max_lm_calls: None,
            prices: None,
        }
    }

    /// A preset budget (`None` to give `max_metric_calls` or `max_full_evals`).
    pub fn auto(mut self, auto: Option<Auto>) -> Self {
        self.auto = auto;
        self
    }

    /// The budget in program runs (each scored by the metric); clears `auto`.
    pub fn max_metric_calls(mut self, n: usize) -> Self {
        self.max_metric_calls = Some(n);
        self.auto = None;
        self
    }

    /// The budget as full passes over train and validation sets; clears `auto`.
    pub fn max_full_evals(mut self, n: usize) -> Self {
        self.max_full_evals = Some(n);
        self.auto = None;
        self
    }

    /// The LM that reads feedback and writes instructions (default: the one in scope).
    pub fn reflection_lm(mut self, lm: Arc<dyn LM>) -> Self {
        self.reflection_lm = Some(lm);
        self
    }

    /// Caps each reflection call at `n` tokens.
    pub fn reflection_max_tokens(mut self, n: u32) -> Self {
        self.reflection_max_tokens = Some(n);
        self
    }

    /// Training examples per reflection step (default 3).
    pub fn reflection_minibatch_size(mut self, n: usize) -> Self {
        self.reflection_minibatch_size = n.max(1);
        self
    }

    /// How the candidate to improve is picked (default [`Selection::Pareto`]).
    pub fn candidate_selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    /// Whether a minibatch already perfect is skipped (default true).
    pub fn skip_perfect_score(mut self, on: bool) -> Self {
        self.skip_perfect_score = on;
        self
    }

    /// The best score the metric gives (default 1.0).
    pub fn perfect_score(mut self, score: f64) -> Self {
        self.perfect_score = score;
        self
    }

    /// Whether to merge candidates (default true).
    pub fn use_merge(mut self, on: bool) -> Self {
        self.use_merge = on;
        self
    }

    /// Merges tried at most (default 5).
    pub fn max_merge_invocations(mut self, n: usize) -> Self {
        self.max_merge_invocations = n;
        self
    }

    /// The seed (default 0): minibatches, selection, merges.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs at most `n` examples at a time (default 8).
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = n.max(1);
        self
    }

    /// Whether to show a progress bar.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// At most `n` LM calls in all (program runs and reflection together).
    pub fn max_lm_calls(mut self, n: u64) -> Self {
        self.max_lm_calls = Some(n);
        self
    }

    /// Prices for the report's cost.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = Some(prices);
        self
    }

    /// DSPy's budget for a preset: the metric calls MIPROv2 would make with `n`
    /// candidates (a full evaluation, 5 bootstrap runs per candidate, minibatches of 35,
    /// and a full evaluation every 5 trials).
    pub fn auto_budget(predictors: usize, n: usize, valset: usize) -> usize {
        let trials = crate::mipro::MiproV2::trials_for(predictors.max(1), false, n);
        let (v, m, steps) = (valset, 35, 5);
        let mut total = v + n * 5 + trials * m;
        if trials == 0 {
            return total;
        }
        let periodic = (trials + 1) / steps + 1;
        let extra = usize::from(trials < steps);
        total += (periodic + extra) * v;
        total
    }

    /// Compiles `program` with a metric that explains its scores. Reflection runs on
    /// `trainset`; the Pareto front is kept on `valset` (the trainset when `None`).
    pub async fn compile_with_feedback<P, I, L, F>(
        &self,
        program: P,
        trainset: &[Example<I, L>],
        valset: Option<&[Example<I, L>]>,
        metric: &F,
    ) -> Result<(P, CompileReport)>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        F: FeedbackMetric<I, L, P::Output>,
    {
        let started = Instant::now();
        let mut report = CompileReport::new("GEPA", self.seed);
        let work = self.search(program, trainset, valset, metric, &mut report);
        let (result, usage) = budgeted(self.max_lm_calls, work).await;
        let best = result?;
        finish(&mut report, usage, self.prices.as_ref(), started);
        tracing::info!(report = %report, "GEPA finished");
        Ok((best, report))
    }

    /// The budget in metric calls; `val` is the size of the valset when one was given.
    fn budget<P: Program>(&self, program: &P, train: usize, val: Option<usize>) -> Result<usize> {
        if let Some(auto) = self.auto {
            let n = auto.sizes().0;
            let scored = val.unwrap_or(train);
            return Ok(Self::auto_budget(
                program.named_predictors().len(),
                n,
                scored,
            ));
        }
        if let Some(n) = self.max_metric_calls {
            return Ok(n);
        }
        if let Some(n) = self.max_full_evals {
            return Ok(n * (train + val.unwrap_or(0)));
        }
        Err(Error::Optimizer {
            optimizer: "GEPA".into(),
            message: "set a budget: auto, max_metric_calls or max_full_evals".into(),
        })
    }

    async fn search<P, I, L, F>(
        &self,
        student: P,
        trainset: &[Example<I, L>],
        valset: Option<&[Example<I, L>]>,
        metric: &F,
        report: &mut CompileReport,
    ) -> Result<P>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        F: FeedbackMetric<I, L, P::Output>,
    {
        let fail = |message: String| Error::Optimizer {
            optimizer: "GEPA".into(),
            message,
        };
        if trainset.is_empty() {
            return Err(fail("the trainset is empty".into()));
        }
        let budget = self.budget(&student, trainset.len(), valset.map(<[_]>::len))?;
        let valset: Vec<&Example<I, L>> = valset.unwrap_or(trainset).iter().collect();
        if valset.is_empty() {
            return Err(fail("the valset is empty".into()));
        }
        let reflection_lm = match &self.reflection_lm {
            Some(lm) => Arc::clone(lm),
            None => dspy_core::settings::current_lm().ok_or(Error::NoLm)?,
        };
        let scorer = ScoreOf(metric);
        let paths: Vec<String> = student
            .named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        if paths.is_empty() {
            return Err(fail("the program has no predictors".into()));
        }
        let build = |instructions: &[String]| -> P {
            let mut program = student.clone();
            for ((_, predictor), text) in
                program.named_predictors_mut().into_iter().zip(instructions)
            {
                predictor.set_instructions(text.clone());
            }
            program
        };
        let mut rng = Rng::new(self.seed);
        let mut calls = 0usize;
        let bar = progress_bar(self.progress, budget, "metric calls");
        let mut lineage: Vec<Value> = Vec::new();

        // The seed candidate.
        let seed_instructions: Vec<String> = instructions_of(&student)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let runs = run_many(&student, &valset, &scorer, self.num_threads).await;
        calls += runs.len();
        if runs.iter().any(Run::out_of_budget) {
            report.stopped_early =
                Some("the LM call budget was spent scoring the program as given".into());
            return Ok(student);
        }
        self.record(
            report,
            "seed: the program as given",
            &student,
            &runs,
            None,
            Vec::new(),
        );
        let mut cands = vec![Cand {
            instructions: seed_instructions,
            parents: Vec::new(),
            val: runs.iter().map(|r| r.score).collect(),
            entry: 0,
            next_component: 0,
        }];
        lineage.push(json!({"candidate": 0, "entry": 0, "parents": [], "kind": "seed", "val_mean": cands[0].mean()}));
        report.best = Some(0);
        // The front: per validation example, its best score and who reaches it.
        let mut front: Vec<(f64, BTreeSet<usize>)> = cands[0]
            .val
            .iter()
            .map(|&s| (s, BTreeSet::from([0])))
            .collect();
        let mut sampler = EpochSampler::new(trainset.len(), self.seed);
        let mut merges_due = 0usize;
        let mut merges_tested = 0usize;
        let mut merges_seen: BTreeSet<(usize, usize, Vec<usize>)> = BTreeSet::new();
        let mut last_found_new = false;
        let mut iteration = 0usize;
        'search: while calls < budget {
            iteration += 1;
            if let Some(bar) = &bar {
                bar.set_position(calls.min(budget) as u64);
                let best = cands.iter().map(Cand::mean).fold(0.0, f64::max);
                bar.set_message(format!(
                    "{} candidates, best {:.1}%",
                    cands.len(),
                    100.0 * best
                ));
            }
            // A merge, when one is due after a new candidate.
            if self.use_merge
                && merges_due > 0
                && last_found_new
                && merges_tested < self.max_merge_invocations
            {
                last_found_new = false;
                let means: Vec<f64> = cands.iter().map(Cand::mean).collect();
                let fronts: Vec<BTreeSet<usize>> = front.iter().map(|(_, s)| s.clone()).collect();
                let dominators = dominators(&fronts, &means);
                let parents: Vec<Vec<usize>> = cands.iter().map(|c| c.parents.clone()).collect();
                let texts: Vec<Vec<String>> =
                    cands.iter().map(|c| c.instructions.clone()).collect();
                if let Some((a, b, merged, desc)) = plan_merge(
                    &mut rng,
                    &dominators,
                    &parents,
                    &texts,
                    &means,
                    &merges_seen,
                ) {
                    merges_seen.insert((a, b, desc));
                    merges_tested += 1;
                    merges_due -= 1;
                    let ids = merge_subsample(&cands[a].val, &cands[b].val, 5);
                    let program = build(&merged);
                    let subset: Vec<&Example<I, L>> = ids.iter().map(|&i| valset[i]).collect();
                    let runs = run_many(&program, &subset, &scorer, self.num_threads).await;
                    calls += runs.len();
                    if runs.iter().any(Run::out_of_budget) {
                        report.stopped_early = Some("the LM call budget was spent".into());
                        break 'search;
                    }
                    let merged_sum: f64 = runs.iter().map(|r| r.score).sum();
                    let sum_of = |c: &Cand| ids.iter().map(|&i| c.val[i]).sum::<f64>();
                    let bar_to_pass = sum_of(&cands[a]).max(sum_of(&cands[b]));
                    if merged_sum >= bar_to_pass {
                        if !self
                            .accept(
                                &build,
                                merged,
                                vec![a, b],
                                "merge",
                                &valset,
                                &scorer,
                                &mut cands,
                                &mut front,
                                &mut calls,
                                &mut lineage,
                                report,
                            )
                            .await
                        {
                            break 'search;
                        }
                    } else {
                        self.record(
                            report,
                            &format!(
                                "merge of {} and {} (rejected)",
                                cands[a].entry, cands[b].entry
                            ),
                            &program,
                            &runs,
                            Some(runs.len()),
                            vec![cands[a].entry, cands[b].entry],
                        );
                    }
                    continue;
                }
            }
            last_found_new = false;

            // Reflective mutation of one predictor of a selected candidate.
            let parent = match self.selection {
                Selection::CurrentBest => best_index(&cands),
                Selection::Pareto => {
                    let means: Vec<f64> = cands.iter().map(Cand::mean).collect();
                    let fronts: Vec<BTreeSet<usize>> =
                        front.iter().map(|(_, s)| s.clone()).collect();
                    select_from_front(&fronts, &means, &mut rng)
                }
            };
            let component = cands[parent].next_component % paths.len();
            cands[parent].next_component += 1;
            let batch: Vec<&Example<I, L>> = sampler
                .next(self.reflection_minibatch_size, &mut rng)
                .into_iter()
                .map(|i| &trainset[i])
                .collect();
            let program = build(&cands[parent].instructions);
            let runs = run_many(&program, &batch, &scorer, self.num_threads).await;
            calls += runs.len();
            if runs.iter().any(Run::out_of_budget) {
                report.stopped_early = Some("the LM call budget was spent".into());
                break;
            }
            if self.skip_perfect_score && runs.iter().all(|r| r.score >= self.perfect_score) {
                tracing::debug!(iteration, "minibatch already perfect; skipped");
                continue;
            }
            let path = &paths[component];
            let records = reflective_records(&batch, &runs, path, metric);
            if records.is_empty() {
                continue;
            }
            let current = &cands[parent].instructions[component];
            let proposal = match self.reflect(&reflection_lm, current, &records).await {
                Ok(text) => text,
                Err(e @ Error::BudgetExhausted { .. }) => {
                    report.stopped_early = Some(e.to_string());
                    break;
                }
                Err(e) => {
                    report.note_error(&format!("reflection: {e}"));
                    continue;
                }
            };
            let mut texts = cands[parent].instructions.clone();
            texts[component] = proposal;
            let child = build(&texts);
            let child_runs = run_many(&child, &batch, &scorer, self.num_threads).await;
            calls += child_runs.len();
            if child_runs.iter().any(Run::out_of_budget) {
                report.stopped_early = Some("the LM call budget was spent".into());
                break;
            }
            let old: f64 = runs.iter().map(|r| r.score).sum();
            let new: f64 = child_runs.iter().map(|r| r.score).sum();
            tracing::info!(iteration, parent, predictor = %path, old, new, "reflective mutation");
            if new > old {
                if !self
                    .accept(
                        &build,
                        texts,
                        vec![parent],
                        "mutation",
                        &valset,
                        &scorer,
                        &mut cands,
                        &mut front,
                        &mut calls,
                        &mut lineage,
                        report,
                    )
                    .await
                {
                    break;
                }
                if self.use_merge && merges_tested < self.max_merge_invocations {
                    merges_due += 1;
                }
                last_found_new = true;
            } else {
                let entry = cands[parent].entry;
                self.record(
                    report,
                    &format!(
                        "mutation of {entry} at `{path}` (rejected: minibatch {new} vs {old})"
                    ),
                    &child,
                    &child_runs,
                    Some(child_runs.len()),
                    vec![entry],
                );
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let best = best_index(&cands);
        report.best = Some(cands[best].entry);
        let entries: Vec<usize> = cands.iter().map(|c| c.entry).collect();
        report.details = Some(json!({
            "budget": budget,
            "metric_calls": calls,
            "iterations": iteration,
            "merges_tested": merges_tested,
            "lineage": lineage,
            "pareto_front": front.iter().enumerate().map(|(i, (score, who))| json!({
                "example": i,
                "score": score,
                "candidates": who.iter().map(|&c| entries[c]).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
        Ok(build(&cands[best].instructions))
    }

    /// Scores an accepted candidate on the validation set and adds it to the pool and
    /// the front. `false` when the budget ran out.
    #[allow(clippy::too_many_arguments)]
    async fn accept<P, I, L, M, B>(
        &self,
        build: &B,
        instructions: Vec<String>,
        parents: Vec<usize>,
        kind: &str,
        valset: &[&Example<I, L>],
        scorer: &M,
        cands: &mut Vec<Cand>,
        front: &mut [(f64, BTreeSet<usize>)],
        calls: &mut usize,
        lineage: &mut Vec<Value>,
        report: &mut CompileReport,
    ) -> bool
    where
        P: Program<Input = I>,
        I: Clone + Send + Sync + 'static,
        L: Send + Sync,
        M: Metric<I, L, P::Output>,
        B: Fn(&[String]) -> P,
    {
        let program = build(&instructions);
        let runs = run_many(&program, valset, scorer, self.num_threads).await;
        *calls += runs.len();
        if runs.iter().any(Run::out_of_budget) {
            report.stopped_early = Some("the LM call budget was spent".into());
            return false;
        }
        let id = cands.len();
        let parent_entries: Vec<usize> = parents.iter().map(|&p| cands[p].entry).collect();
        let label = format!(
            "{kind} of {}",
            parent_entries
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        );
        self.record(
            report,
            &label,
            &program,
            &runs,
            None,
            parent_entries.clone(),
        );
        let cand = Cand {
            instructions,
            parents,
            val: runs.iter().map(|r| r.score).collect(),
            entry: report.candidates.len() - 1,
            next_component: 0,
        };
        for (i, &score) in cand.val.iter().enumerate() {
            if let Some((best, who)) = front.get_mut(i) {
                if score > *best {
                    *best = score;
                    who.clear();
                    who.insert(id);
                } else if score == *best {
                    who.insert(id);
                }
            }
        }
        lineage.push(json!({"candidate": id, "entry": cand.entry, "parents": parent_entries, "kind": kind, "val_mean": cand.mean()}));
        tracing::info!(
            candidate = id,
            score = cand.mean(),
            kind,
            "candidate accepted"
        );
        cands.push(cand);
        true
    }

    /// The reflection: the current instruction and the examples with feedback, in the
    /// `gepa` engine's prompt; the new instruction is what the LM puts in ``` blocks.
    async fn reflect(&self, lm: &Arc<dyn LM>, current: &str, records: &[Value]) -> Result<String> {
        let prompt = reflection_prompt(current, records);
        let mut config = LmConfig::default();
        if let Some(n) = self.reflection_max_tokens {
            config = config.with_max_tokens(n);
        }
        let request = ChatRequest::new(vec![Message::user(prompt)]).with_config(config);
        let response = dspy_core::predict::call_lm(&**lm, request).await?;
        let text = response.text().unwrap_or_default();
        let instruction = extract_instruction(text);
        if instruction.is_empty() {
            return Err(Error::Optimizer {
                optimizer: "GEPA".into(),
                message: format!("the reflection LM proposed no instruction; it said: {text:?}"),
            });
        }
        Ok(instruction)
    }

    fn record<P: Program, O>(
        &self,
        report: &mut CompileReport,
        label: &str,
        program: &P,
        runs: &[Run<O>],
        examples: Option<usize>,
        parents: Vec<usize>,
    ) {
        for error in runs.iter().filter_map(|r| r.error.as_ref()).take(2) {
            report.note_error(error);
        }
        report.candidates.push(Candidate {
            examples,
            parents,
            ..scored_candidate(label, program, runs)
        });
    }
}

/// The index of the candidate with the best mean (the first of ties).
fn best_index(cands: &[Cand]) -> usize {
    let mut best = 0;
    for (i, c) in cands.iter().enumerate() {
        if c.mean() > cands[best].mean() {
            best = i;
        }
    }
    best
}

/// Training indices in shuffled epochs, `k` at a time.
struct EpochSampler {
    n: usize,
    order: Vec<usize>,
    at: usize,
}

impl EpochSampler {
    fn new(n: usize, seed: u64) -> Self {
        let mut order: Vec<usize> = (0..n).collect();
        Rng::new(seed ^ 0x6e9a).shuffle(&mut order);
        EpochSampler { n, order, at: 0 }
    }

    fn next(&mut self, k: usize, rng: &mut Rng) -> Vec<usize> {
        let mut batch = Vec::with_capacity(k);
        let k = k.min(self.n);
        while batch.len() < k {
            if self.at >= self.order.len() {
                rng.shuffle(&mut self.order);
                self.at = 0;
            }
            let i = self.order[self.at];
            self.at += 1;
            if !batch.contains(&i) {
                batch.push(i);
            }
        }
        batch
    }
}

impl Optimizer for Gepa {
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
        self.compile_with_feedback(program, trainset, valset, &Plain(metric))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::pareto::prune_dominated;
    use super::*;
    use serde_json::json;

    fn set(xs: &[usize]) -> BTreeSet<usize> {
        xs.iter().copied().collect()
    }

    #[test]
    fn the_front_keeps_an_instance_winner_that_the_mean_drops() {
        // Candidate 0 is best on average (ties everywhere but example 2); candidate 1 is
        // the only one best on example 3.
        let fronts = vec![set(&[0, 1]), set(&[0, 2]), set(&[0]), set(&[1])];
        let means = [0.75, 0.5, 0.25];
        let pruned = prune_dominated(&fronts, &means);
        // Candidate 2 is best only where 0 also is: dominated. 1 stays for example 3.
        assert_eq!(dominators(&fronts, &means), vec![0, 1]);
        assert_eq!(pruned[3], set(&[1]));
        let mut rng = Rng::new(1);
        let mut picks = [0usize; 3];
        for _ in 0..3000 {
            picks[select_from_front(&fronts, &means, &mut rng)] += 1;
        }
        // Pool: 0 on examples 0, 1, 2; 1 on examples 0 and 3 → 3 : 2.
        assert_eq!(picks[2], 0);
        assert!((1050..1350).contains(&picks[1]), "{picks:?}");
        // A mean-based selector never picks candidate 1.
        let cands: Vec<Cand> = means
            .iter()
            .map(|&m| Cand {
                instructions: vec![],
                parents: vec![],
                val: vec![m],
                entry: 0,
                next_component: 0,
            })
            .collect();
        assert_eq!(best_index(&cands), 0);
    }

    #[test]
    fn merges_take_each_predictor_from_the_candidate_that_changed_it() {
        // 0 is the seed; 1 changed predictor 0, 2 changed predictor 1.
        let texts = vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["A".to_string(), "b".to_string()],
            vec!["a".to_string(), "B".to_string()],
        ];
        let parents = vec![vec![], vec![0], vec![0]];
        let means = [0.2, 0.5, 0.6];
        let mut rng = Rng::new(0);
        let (a, b, merged, desc) = plan_merge(
            &mut rng,
            &[1, 2],
            &parents,
            &texts,
            &means,
            &BTreeSet::new(),
        )
        .expect("a merge");
        assert_eq!((a, b), (1, 2));
        assert_eq!(merged, ["A", "B"]);
        assert_eq!(desc, [1, 2]);
        // Tried once, never again.
        let seen = BTreeSet::from([(1, 2, vec![1, 2])]);
        assert!(plan_merge(&mut rng, &[1, 2], &parents, &texts, &means, &seen).is_none());
        // A descendant and its ancestor do not merge.
        let chain = vec![vec![], vec![0], vec![1]];
        assert!(plan_merge(&mut rng, &[1, 2], &chain, &texts, &means, &BTreeSet::new()).is_none());
    }

    #[test]
    fn the_reflection_is_read_from_its_fences() {
        assert_eq!(
            extract_instruction("Sure.\n```\nAdd one.\n```\nDone."),
            "Add one."
        );
        assert_eq!(
            extract_instruction("```text\nAdd one.\nCarefully.\n```"),
            "Add one.\nCarefully."
        );
        assert_eq!(
            extract_instruction("```\nAdd one, unclosed"),
            "Add one, unclosed"
        );
        assert_eq!(extract_instruction("No fences here."), "No fences here.");
        let prompt = reflection_prompt(
            "Add one.",
            &[
                json!({"Inputs": {"question": "1 plus one"}, "Generated Outputs": {"answer": "3"}, "Feedback": "Wrong: 2."}),
            ],
        );
        assert!(prompt.starts_with("I provided an assistant with the following instructions to perform a task for me:\n```\nAdd one.\n```"));
        assert!(prompt.contains("# Example 1\n## Inputs\n### question\n1 plus one\n\n## Generated Outputs\n### answer\n3\n\n## Feedback\nWrong: 2.\n\n"), "{prompt}");
    }

    #[test]
    fn budgets_follow_dspy() {
        // One predictor, light: 10 trials; 80 + 30 + 350 + (11 / 5 + 1) · 80 = 700.
        assert_eq!(Gepa::auto_budget(1, 6, 80), 700);
        assert_eq!(
            merge_subsample(&[1.0, 0.0, 1.0, 0.0], &[0.0, 1.0, 1.0, 0.0], 5),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn epochs_cover_the_trainset_before_repeating() {
        let mut sampler = EpochSampler::new(6, 3);
        let mut rng = Rng::new(3);
        let mut seen: Vec<usize> = sampler.next(3, &mut rng);
        seen.extend(sampler.next(3, &mut rng));
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        assert_eq!(sampler.next(10, &mut rng).len(), 6);
    }
}
