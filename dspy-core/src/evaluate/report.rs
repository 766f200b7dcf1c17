//! What an evaluation found: every row, the mean and its interval, the failures.

use super::stats::{Comparison, ci95, compare_paired, mean};
use crate::error::{Error, clip};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// One example's result.
#[derive(Debug)]
#[non_exhaustive]
pub struct EvalRow<O> {
    /// The example's position in the dev set.
    pub index: usize,
    /// The example's input, as JSON.
    pub input: Value,
    /// The example's label, as JSON.
    pub label: Value,
    /// The program's output, or why it failed.
    pub output: Result<O, Error>,
    /// The metric's score (the failure score for a failed call).
    pub score: f64,
}

/// The result of [`Evaluate::run`](super::Evaluate::run): one row per example, in dev-set
/// order, failures included.
#[derive(Debug)]
pub struct EvalReport<O> {
    /// Every example's result.
    pub rows: Vec<EvalRow<O>>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl<O> EvalReport<O> {
    pub(super) fn new(rows: Vec<EvalRow<O>>, elapsed: Duration) -> Self {
        EvalReport { rows, elapsed }
    }

    /// Every score, in dev-set order.
    pub fn scores(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.score).collect()
    }

    /// The mean score (0 to 1 for 0/1 metrics).
    pub fn mean(&self) -> f64 {
        mean(&self.scores())
    }

    /// DSPy's headline number: the mean as a percentage, rounded to two decimals.
    pub fn percent(&self) -> f64 {
        (10_000.0 * self.mean()).round() / 100.0
    }

    /// The 95% confidence interval of the mean.
    pub fn ci95(&self) -> (f64, f64) {
        ci95(&self.scores())
    }

    /// How many examples failed (the program returned an error).
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| r.output.is_err()).count()
    }

    /// The failed rows and their errors.
    pub fn errors(&self) -> impl Iterator<Item = (usize, &Error)> {
        self.rows
            .iter()
            .filter_map(|r| r.output.as_ref().err().map(|e| (r.index, e)))
    }

    /// Compares this run (as the baseline) with `other` on the same dev set, pair by pair:
    /// the difference, its 95% bootstrap interval and a permutation-test p-value.
    pub fn compare<P>(&self, other: &EvalReport<P>) -> Comparison {
        compare_paired(&self.scores(), &other.scores())
    }

    /// The first `max_rows` rows as a text table.
    pub fn table(&self, max_rows: usize) -> String
    where
        O: Serialize,
    {
        let mut out = format!(
            "{:>5}  {:<40}  {:<40}  {:>6}\n",
            "#", "input", "output", "score"
        );
        for row in self.rows.iter().take(max_rows) {
            out.push_str(&format!(
                "{:>5}  {:<40}  {:<40}  {:>6.3}\n",
                row.index,
                cell(&compact(&row.input), 40),
                cell(&output_text(&row.output), 40),
                row.score
            ));
        }
        if self.rows.len() > max_rows {
            out.push_str(&format!("  … {} more rows\n", self.rows.len() - max_rows));
        }
        out
    }

    /// Every row as a JSON object (index, input, label, output or error, score).
    pub fn row_values(&self) -> Vec<Value>
    where
        O: Serialize,
    {
        self.rows
            .iter()
            .map(|row| {
                let (output, error) = match &row.output {
                    Ok(o) => (serde_json::to_value(o).unwrap_or_default(), Value::Null),
                    Err(e) => (Value::Null, Value::String(e.to_string())),
                };
                json!({
                    "index": row.index,
                    "input": row.input,
                    "label": row.label,
                    "output": output,
                    "error": error,
                    "score": row.score,
                })
            })
            .collect()
    }

    /// Writes every row to a JSON Lines file (atomically).
    pub fn to_jsonl(&self, path: impl AsRef<Path>) -> std::io::Result<()>
    where
        O: Serialize,
    {
        let mut text = String::new();
        for row in self.row_values() {
            text.push_str(&row.to_string());
            text.push('\n');
        }
        crate::state::write_atomic(path.as_ref(), text.as_bytes())
    }

    /// Writes every row to a CSV file (atomically): index, input, label, output, error,
    /// score, with JSON in the input/label/output cells.
    pub fn to_csv(&self, path: impl AsRef<Path>) -> std::io::Result<()>
    where
        O: Serialize,
    {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["index", "input", "label", "output", "error", "score"])?;
        for row in self.row_values() {
            let text = |key: &str| match &row[key] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writer.write_record([
                text("index"),
                text("input"),
                text("label"),
                text("output"),
                text("error"),
                text("score"),
            ])?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        crate::state::write_atomic(path.as_ref(), &bytes)
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::Object(map) if map.len() == 1 => {
            map.values().next().map(compact).unwrap_or_default()
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn output_text<O: Serialize>(output: &Result<O, Error>) -> String {
    match output {
        Ok(o) => compact(&serde_json::to_value(o).unwrap_or_default()),
        Err(e) => format!("ERROR {e}"),
    }
}

fn cell(text: &str, width: usize) -> String {
    clip(
        &text.replace(['\n', '\r', '\t'], " "),
        width.saturating_sub(1),
    )
}

impl<O: Serialize> fmt::Display for EvalReport<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = self.ci95();
        writeln!(
            f,
            "{} examples in {:.2?}: score {:.2}% (95% CI {:.1}–{:.1}), {} failed",
            self.rows.len(),
            self.elapsed,
            self.percent(),
            100.0 * lo,
            100.0 * hi,
            self.failures()
        )?;
        write!(f, "{}", self.table(20))
    }
}
