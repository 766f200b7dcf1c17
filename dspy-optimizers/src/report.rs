//! What a compile did: the candidates it tried and their scores, what bootstrapping found,
//! the LM calls and tokens it spent, what that cost, and how long it took.

use dspy_core::state::{StateError, write_json};
use dspy_core::usage::UsageSummary;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// One program an optimizer built and scored.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Candidate {
    /// What the candidate is (`zero-shot`, `labeled`, `bootstrap seed 3 (2 demos)`).
    pub label: String,
    /// Its mean score on the validation set (0 to 1 for 0/1 metrics).
    pub score: f64,
    /// The 95% confidence interval of that mean.
    pub ci95: (f64, f64),
    /// Validation examples whose program call failed.
    pub failures: usize,
    /// The number of demos of each predictor, by path.
    pub demos: Vec<(String, usize)>,
    /// Each predictor's instructions, by path (instruction optimizers fill this).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instructions: Vec<(String, String)>,
    /// Which candidate demo set each predictor holds, by path (MIPROv2: the index into
    /// the report's `details.demo_candidates`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub demo_sets: Vec<(String, usize)>,
    /// How many examples the score is over, when that is not the whole validation set
    /// (a minibatch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<usize>,
    /// The candidates this one was made from, by index in the report (GEPA's lineage).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<usize>,
}

/// What bootstrapping did over the training set.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct BootstrapStats {
    /// Training examples the teacher was run on.
    pub examples_tried: usize,
    /// Teacher runs, all rounds counted.
    pub attempts: usize,
    /// Examples whose run passed the metric (their traces became demos).
    pub successes: usize,
    /// Teacher runs that failed with an error.
    pub errors: usize,
}

/// The report of one compile.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CompileReport {
    /// The optimizer's name.
    pub optimizer: String,
    /// The seed it ran with.
    pub seed: u64,
    /// Every candidate scored, in the order tried (empty for optimizers that score none).
    pub candidates: Vec<Candidate>,
    /// The index in `candidates` of the program returned.
    pub best: Option<usize>,
    /// Bootstrapping, summed over every bootstrap run.
    pub bootstrap: Option<BootstrapStats>,
    /// The first errors met (at most 10), as text.
    pub errors: Vec<String>,
    /// LM calls and tokens, compile and evaluations together.
    pub usage: UsageSummary,
    /// What those calls cost, when the optimizer was given prices for every model used.
    pub cost: Option<f64>,
    /// Wall time, in seconds.
    pub wall_seconds: f64,
    /// Why the search stopped before trying everything (a budget, a target score).
    pub stopped_early: Option<String>,
    /// What only this optimizer records (MIPROv2's instruction and demo candidates,
    /// GEPA's Pareto front, SIMBA's steps), as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl CompileReport {
    pub(crate) fn new(optimizer: &str, seed: u64) -> Self {
        CompileReport {
            optimizer: optimizer.to_string(),
            seed,
            candidates: Vec::new(),
            best: None,
            bootstrap: None,
            errors: Vec::new(),
            usage: UsageSummary::default(),
            cost: None,
            wall_seconds: 0.0,
            stopped_early: None,
            details: None,
        }
    }

    /// The best candidate's score, if any candidate was scored.
    pub fn best_score(&self) -> Option<f64> {
        self.best
            .and_then(|i| self.candidates.get(i))
            .map(|c| c.score)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Saves the report as JSON, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), StateError> {
        write_json(path, &self.to_json())
    }

    pub(crate) fn note_error(&mut self, error: &dyn fmt::Display) {
        if self.errors.len() < 10 {
            self.errors.push(error.to_string());
        }
    }

    pub(crate) fn add_bootstrap(&mut self, stats: &BootstrapStats) {
        let total = self.bootstrap.get_or_insert_with(BootstrapStats::default);
        total.examples_tried += stats.examples_tried;
        total.attempts += stats.attempts;
        total.successes += stats.successes;
        total.errors += stats.errors;
    }
}

impl fmt::Display for CompileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} (seed {}): {:.1}s, {}",
            self.optimizer, self.seed, self.wall_seconds, self.usage
        )?;
        if let Some(cost) = self.cost {
            writeln!(f, "cost: ${cost:.4}")?;
        }
        if let Some(b) = &self.bootstrap {
            writeln!(
                f,
                "bootstrap: {} of {} examples passed the metric ({} runs, {} errors)",
                b.successes, b.examples_tried, b.attempts, b.errors
            )?;
        }
        if !self.candidates.is_empty() {
            writeln!(
                f,
                "  # | score  | 95% CI          | fail | demos | candidate"
            )?;
            for (i, c) in self.candidates.iter().enumerate() {
                let demos: usize = c.demos.iter().map(|(_, n)| n).sum();
                writeln!(
                    f,
                    "{}{:>2} | {:>5.1}% | {:>5.1}% – {:>5.1}% | {:>4} | {:>5} | {}",
                    if Some(i) == self.best { "*" } else { " " },
                    i,
                    100.0 * c.score,
                    100.0 * c.ci95.0,
                    100.0 * c.ci95.1,
                    c.failures,
                    demos,
                    c.label
                )?;
            }
        }
        if let Some(why) = &self.stopped_early {
            writeln!(f, "stopped early: {why}")?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}
