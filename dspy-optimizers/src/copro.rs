//! `Copro`: coordinate ascent over each predictor's instruction, with candidates proposed
//! by an LM (DSPy's COPRO).

use crate::bootstrap::{budgeted, finish};
use crate::report::{Candidate, CompileReport};
use crate::{ByRef, Optimizer, progress_bar};
use dspy_core::evaluate::Progress;
use dspy_core::lm::Configured;
use dspy_core::signature::{FieldRole, FieldSpec, Fields, SignatureSpec};
use dspy_core::usage::PriceTable;
use dspy_core::{
    Dynamic, Error, Evaluate, Example, LM, LmConfig, Metric, Predict, Program, Result,
    SignatureError,
};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// DSPy's COPRO: for each predictor, an LM proposes `breadth` instructions (with a prefix
/// for the last output field); each is scored on the trainset with the others held at
/// their best so far (coordinate ascent); then, for `depth` rounds, the LM sees the
/// attempts so far with their scores, in increasing order, and proposes better ones.
/// The program returned holds each predictor's best instruction.
///
/// Proposals are sampled at `init_temperature` (1.4) under distinct `rollout_id`s, one
/// call each (DSPy asks for `n` completions of one call). A candidate already scored is
/// not scored again.
#[derive(Clone)]
pub struct Copro {
    breadth: usize,
    depth: usize,
    init_temperature: f32,
    prompt_lm: Option<Arc<dyn LM>>,
    num_threads: usize,
    progress: Progress,
    max_lm_calls: Option<u64>,
    prices: Option<PriceTable>,
}

impl std::fmt::Debug for Copro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copro")
            .field("breadth", &self.breadth)
            .field("depth", &self.depth)
            .field("init_temperature", &self.init_temperature)
            .field(
                "prompt_lm",
                &self.prompt_lm.as_ref().map(|lm| lm.model().to_string()),
            )
            .finish()
    }
}

impl Default for Copro {
    fn default() -> Self {
        Copro::new()
    }
}

impl Copro {
    /// DSPy's defaults: breadth 10, depth 3, temperature 1.4, the LM in scope proposing.
    pub fn new() -> Self {
        Copro {
            breadth: 10,
            depth: 3,
            init_temperature: 1.4,
            prompt_lm: None,
            num_threads: 8,
            progress: Progress::Auto,
            max_lm_calls: None,
            prices: None,
        }
    }

    /// Candidates per predictor per round (at least 2: the current one and a proposal).
    pub fn breadth(mut self, n: usize) -> Self {
        self.breadth = n.max(2);
        self
    }

    /// Rounds of proposals (at least 1).
    pub fn depth(mut self, n: usize) -> Self {
        self.depth = n.max(1);
        self
    }

    /// The temperature proposals are sampled at.
    pub fn init_temperature(mut self, t: f32) -> Self {
        self.init_temperature = t;
        self
    }

    /// The LM that proposes instructions (default: the one in scope).
    pub fn prompt_lm(mut self, lm: Arc<dyn LM>) -> Self {
        self.prompt_lm = Some(lm);
        self
    }

    /// Examples evaluated at once.
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = n.max(1);
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

    /// `n` proposals from `proposer` given `inputs`, each at the initial temperature under
    /// its own rollout; proposals that fail are skipped.
    async fn propose(
        &self,
        lm: &Arc<dyn LM>,
        proposer: &Predict<Dynamic>,
        inputs: &Fields,
        n: usize,
        round: usize,
    ) -> Vec<(String, String)> {
        let mut proposals = Vec::new();
        for i in 0..n {
            let hot = LmConfig::default()
                .with_temperature(self.init_temperature)
                .with_rollout_id((round * 1000 + i) as u64);
            let sampled = Configured::new(Arc::clone(lm), hot);
            match proposer.forward_fields(&sampled, inputs.clone()).await {
                Ok(out) => {
                    let text = |key: &str| {
                        out.get(key)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .trim()
                            .to_string()
                    };
                    let instruction = text("proposed_instruction");
                    if !instruction.is_empty() {
                        proposals.push((instruction, text("proposed_prefix_for_output_field")));
                    }
                }
                Err(error) => tracing::warn!(%error, "an instruction proposal failed"),
            }
        }
        proposals
    }

    async fn search<P, I, L, M>(
        &self,
        student: P,
        trainset: &[Example<I, L>],
        metric: &M,
        report: &mut CompileReport,
    ) -> Result<P>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        let lm = match &self.prompt_lm {
            Some(lm) => Arc::clone(lm),
            None => dspy_core::settings::current_lm().ok_or(Error::NoLm)?,
        };
        let basic = Predict::from_spec(basic_generate_instruction()?);
        let given_attempts = Predict::from_spec(generate_instruction_given_attempts()?);
        let evaluate = Evaluate::new(trainset, ByRef(metric))
            .concurrency(self.num_threads)
            .progress(Progress::Never);
        let mut program = student;
        let paths: Vec<String> = program
            .named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        // Candidates to score next, and everything scored, per predictor.
        let mut next: Vec<Vec<(String, String)>> = Vec::new();
        let mut scored: Vec<Vec<(String, String, f64)>> = vec![Vec::new(); paths.len()];
        for (path, predictor) in program.named_predictors() {
            let current = (
                predictor.signature().instructions.clone(),
                last_prefix(predictor.signature()),
            );
            let mut inputs = Fields::new();
            inputs.insert("basic_instruction".into(), current.0.clone().into());
            let mut candidates = self
                .propose(&lm, &basic, &inputs, self.breadth - 1, 0)
                .await;
            tracing::info!(predictor = %path, proposals = candidates.len(), "initial instructions proposed");
            candidates.push(current);
            next.push(candidates);
        }
        let total = paths.len() * self.breadth * self.depth;
        let bar = progress_bar(self.progress, total, "instructions");
        let mut best_score = f64::NEG_INFINITY;
        'rounds: for depth in 0..self.depth {
            for (index, path) in paths.iter().enumerate() {
                for (instruction, prefix) in std::mem::take(&mut next[index]) {
                    if scored[index]
                        .iter()
                        .any(|(i, p, _)| *i == instruction && *p == prefix)
                    {
                        continue;
                    }
                    let mut trial = program.clone();
                    apply(&mut trial, path, &instruction, &prefix);
                    let result = evaluate.run(&trial).await;
                    if result
                        .errors()
                        .any(|(_, e)| matches!(e, Error::BudgetExhausted { .. }))
                    {
                        report.stopped_early = Some(
                            "the LM call budget was spent while scoring an instruction".into(),
                        );
                        break 'rounds;
                    }
                    for (_, e) in result.errors().take(3) {
                        report.note_error(e);
                    }
                    let score = result.mean();
                    report.candidates.push(Candidate {
                        label: if path.is_empty() {
                            format!("depth {depth}")
                        } else {
                            format!("{path}, depth {depth}")
                        },
                        score,
                        ci95: result.ci95(),
                        failures: result.failures(),
                        demos: Vec::new(),
                        instructions: trial
                            .named_predictors()
                            .iter()
                            .map(|(p, pred)| (p.clone(), pred.signature().instructions.clone()))
                            .collect(),
                        ..Candidate::default()
                    });
                    if score > best_score {
                        best_score = score;
                        report.best = Some(report.candidates.len() - 1);
                    }
                    scored[index].push((instruction, prefix, score));
                    if let Some(bar) = &bar {
                        bar.inc(1);
                        bar.set_message(format!("best {:.1}%", 100.0 * best_score.max(0.0)));
                    }
                }
                // Coordinate ascent: this predictor keeps its best so far, the first of
                // equal scores (Python's `max`, and the candidate the report marks best).
                if let Some((instruction, prefix, _)) = scored[index]
                    .iter()
                    .reduce(|best, next| if next.2 > best.2 { next } else { best })
                    .cloned()
                {
                    apply(&mut program, path, &instruction, &prefix);
                }
            }
            if depth + 1 == self.depth {
                break;
            }
            for (index, path) in paths.iter().enumerate() {
                let mut attempts = scored[index].clone();
                attempts.sort_by(|a, b| a.2.total_cmp(&b.2));
                let shown = attempts.len().saturating_sub(self.breadth);
                let lines: Vec<Value> = attempts[shown..]
                    .iter()
                    .enumerate()
                    .flat_map(|(i, (instruction, prefix, score))| {
                        [
                            Value::from(format!("Instruction #{}: {instruction}", i + 1)),
                            Value::from(format!("Prefix #{}: {prefix}", i + 1)),
                            Value::from(format!("Resulting Score #{}: {score}", i + 1)),
                        ]
                    })
                    .collect();
                let mut inputs = Fields::new();
                inputs.insert("attempted_instructions".into(), Value::Array(lines));
                next[index] = self
                    .propose(&lm, &given_attempts, &inputs, self.breadth, depth + 1)
                    .await;
                tracing::info!(predictor = %path, depth = depth + 1, proposals = next[index].len(), "instructions proposed from attempts");
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if report.best.is_none() {
            return Err(Error::Optimizer {
                optimizer: "COPRO".into(),
                message: report
                    .stopped_early
                    .clone()
                    .unwrap_or_else(|| "no instruction was scored".into()),
            });
        }
        Ok(program)
    }
}

/// The prefix of a signature's last output field.
fn last_prefix(signature: &SignatureSpec) -> String {
    signature
        .outputs
        .last()
        .map(|f| f.prefix.clone())
        .unwrap_or_default()
}

/// Sets `path`'s instruction, and its last output field's prefix when one is given.
fn apply<P: Program>(program: &mut P, path: &str, instruction: &str, prefix: &str) {
    for (p, predictor) in program.named_predictors_mut() {
        if p != path {
            continue;
        }
        predictor.set_instructions(instruction.to_string());
        let signature = predictor.signature();
        let index = signature.inputs.len() + signature.outputs.len();
        if let Some(last) = signature.outputs.last()
            && !prefix.is_empty()
        {
            let desc = last.desc.clone();
            predictor.set_field_text(index - 1, prefix.to_string(), desc);
        }
    }
}

fn output(name: &str, desc: &str) -> FieldSpec {
    FieldSpec::string(name, FieldRole::Output).with_desc(desc)
}

/// DSPy's `BasicGenerateInstruction`.
fn basic_generate_instruction() -> std::result::Result<SignatureSpec, SignatureError> {
    SignatureSpec::new(
        "BasicGenerateInstruction",
        Some("You are an instruction optimizer for large language models. I will give you a ``signature`` of fields (inputs and outputs) in English. Your task is to propose an instruction that will lead a good language model to perform the task well. Don't be afraid to be creative.".into()),
        vec![FieldSpec::string("basic_instruction", FieldRole::Input)
            .with_desc("The initial instructions before optimization")],
        vec![
            output("proposed_instruction", "The improved instructions for the language model"),
            output(
                "proposed_prefix_for_output_field",
                "The string at the end of the prompt, which will help the model start solving the task",
            ),
        ],
    )
}

/// DSPy's `GenerateInstructionGivenAttempts`.
fn generate_instruction_given_attempts() -> std::result::Result<SignatureSpec, SignatureError> {
    SignatureSpec::new(
        "GenerateInstructionGivenAttempts",
        Some("You are an instruction optimizer for large language models. I will give some task instructions I've tried, along with their corresponding validation scores. The instructions are arranged in increasing order based on their scores, where higher scores indicate better quality.\n\nYour task is to propose a new instruction that will lead a good language model to perform the task even better. Don't be afraid to be creative.".into()),
        vec![FieldSpec::typed::<Vec<String>>(
            "attempted_instructions",
            FieldRole::Input,
            "list[str]",
        )],
        vec![
            output("proposed_instruction", "The improved instructions for the language model"),
            output(
                "proposed_prefix_for_output_field",
                "The string at the end of the prompt, which will help the model start solving the task",
            ),
        ],
    )
}

impl Optimizer for Copro {
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
        let mut report = CompileReport::new("COPRO", 0);
        // DSPy scores on the trainset; a valset, when given, is used instead.
        let scored_on = valset.unwrap_or(trainset);
        let work = self.search(program, scored_on, metric, &mut report);
        let (result, usage) = budgeted(self.max_lm_calls, work).await;
        let best = result?;
        finish(&mut report, usage, self.prices.as_ref(), started);
        tracing::info!(report = %report, "COPRO finished");
        Ok((best, report))
    }
}
