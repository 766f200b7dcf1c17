//! Examples and datasets: labeled inputs for evaluation and optimization.

use crate::adapter::coerce::conform;
use crate::signature::{Fields, TypeShape};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// One example: what a program is given (`input`) and what it should give (`label`).
///
/// With a derived signature, `Example<ClassifyInput, ClassifyOutput>`; the label type may
/// also be a subset of the output, or anything a metric compares against.
///
/// ```
/// use dspy::prelude::*;
/// use dspy::Example;
///
/// #[derive(Signature)]
/// struct QA {
///     #[input] question: String,
///     #[output] answer: String,
/// }
///
/// // From a whole example of the signature…
/// let ex: Example<QAInput, QAOutput> =
///     Example::split(QA { question: "Capital of France?".into(), answer: "Paris".into() });
/// assert_eq!(ex.label.answer, "Paris");
/// // …or from a record (a JSON object), keys matched to field names.
/// let record = serde_json::json!({"question": "2+2?", "answer": "4", "source": "quiz"});
/// let ex: Example<QAInput, QAOutput> = Example::from_record(record.as_object().unwrap()).unwrap();
/// assert_eq!(ex.input.question, "2+2?");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example<I, L = I> {
    /// What the program is given.
    pub input: I,
    /// What the program should give.
    pub label: L,
}

impl<I, L> Example<I, L> {
    /// An example from its parts.
    pub fn new(input: I, label: L) -> Self {
        Example { input, label }
    }

    /// An example from a whole signature struct (`#[derive(Signature)]` writes the split).
    pub fn split(whole: impl Into<(I, L)>) -> Self {
        let (input, label) = whole.into();
        Example { input, label }
    }

    /// Reads the input and the label from one record: each takes the keys it has fields
    /// for, with values made to fit the field types (a CSV `"3"` for an integer, `"yes"`
    /// for a boolean…).
    pub fn from_record(record: &Fields) -> Result<Self, DataError>
    where
        I: DeserializeOwned + JsonSchema,
        L: DeserializeOwned + JsonSchema,
    {
        Ok(Example {
            input: typed_from_record(record)?,
            label: typed_from_record(record)?,
        })
    }
}

impl Example<Fields, Fields> {
    /// A dynamic example: the keys in `inputs` are the input, the rest the label
    /// (DSPy's `Example(...).with_inputs(...)`).
    pub fn with_inputs(record: Fields, inputs: &[&str]) -> Self {
        let (input, label) = record
            .into_iter()
            .partition(|(k, _)| inputs.contains(&k.as_str()));
        Example { input, label }
    }
}

fn typed_from_record<T: DeserializeOwned + JsonSchema>(record: &Fields) -> Result<T, DataError> {
    let schema = schemars::SchemaGenerator::default()
        .into_root_schema_for::<T>()
        .to_value();
    let mut values = record.clone();
    if let TypeShape::Object { properties, .. } = TypeShape::from_schema(&schema) {
        for (name, shape) in &properties {
            if let Some(value) = values.remove(name) {
                let value = match (&value, shape) {
                    (Value::String(s), shape)
                        if !matches!(shape, TypeShape::Str | TypeShape::Any) =>
                    {
                        crate::adapter::coerce::from_text(s, shape).unwrap_or(value)
                    }
                    _ => conform(value.clone(), shape).unwrap_or(value),
                };
                values.insert(name.clone(), value);
            }
        }
    }
    serde_json::from_value(Value::Object(values)).map_err(|e| DataError {
        file: String::new(),
        line: None,
        message: format!("record does not fit `{}`: {e}", std::any::type_name::<T>()),
    })
}

/// A dataset that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}{message}", if file.is_empty() { String::new() } else { format!("{file}: ") }, line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct DataError {
    /// The file (empty for in-memory records).
    pub file: String,
    /// The line (JSONL) or record (CSV) number, from 1, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Renames keys of records as they are read, so a dataset's column names can differ from
/// the signature's field names.
///
/// ```
/// let map = dspy::example::FieldMap::new().rename("text", "review").rename("label", "sentiment");
/// ```
#[derive(Debug, Clone, Default)]
pub struct FieldMap {
    renames: Vec<(String, String)>,
    keep_only: Option<Vec<String>>,
}

impl FieldMap {
    /// No renames.
    pub fn new() -> Self {
        Self::default()
    }
    /// Reads the key `from` as `to`.
    pub fn rename(mut self, from: &str, to: &str) -> Self {
        self.renames.push((from.to_string(), to.to_string()));
        self
    }
    /// Keeps only these keys (after renaming).
    pub fn keep(mut self, keys: &[&str]) -> Self {
        self.keep_only = Some(keys.iter().map(|k| k.to_string()).collect());
        self
    }
    /// Applies the map to one record.
    pub fn apply(&self, mut record: Fields) -> Fields {
        for (from, to) in &self.renames {
            if let Some(v) = record.remove(from) {
                record.insert(to.clone(), v);
            }
        }
        if let Some(keep) = &self.keep_only {
            record.retain(|k, _| keep.contains(k));
        }
        record
    }
}

/// Reads a JSON Lines file: one JSON object per line (blank lines skipped).
pub fn read_jsonl(path: impl AsRef<Path>, map: &FieldMap) -> Result<Vec<Fields>, DataError> {
    let path = path.as_ref();
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DataError {
        file: source.clone(),
        line: None,
        message: e.to_string(),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(record)) => Ok(map.apply(record)),
            Ok(other) => Err(DataError {
                file: source.clone(),
                line: Some(i + 1),
                message: format!(
                    "expected a JSON object, got {}",
                    crate::error::clip(&other.to_string(), 60)
                ),
            }),
            Err(e) => Err(DataError {
                file: source.clone(),
                line: Some(i + 1),
                message: e.to_string(),
            }),
        })
        .collect()
}

/// Reads a CSV file with a header row; every value is text (typed fields are converted by
/// [`examples`]).
pub fn read_csv(path: impl AsRef<Path>, map: &FieldMap) -> Result<Vec<Fields>, DataError> {
    let path = path.as_ref();
    let source = path.display().to_string();
    let err = |line: Option<usize>, message: String| DataError {
        file: source.clone(),
        line,
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(None, e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| err(Some(1), e.to_string()))?
        .clone();
    let mut records = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| err(Some(i + 2), e.to_string()))?;
        let record: Fields = headers
            .iter()
            .zip(row.iter())
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        records.push(map.apply(record));
    }
    Ok(records)
}

/// Typed examples from records; the error names the first record that does not fit.
pub fn examples<I, L>(records: &[Fields]) -> Result<Vec<Example<I, L>>, DataError>
where
    I: DeserializeOwned + JsonSchema,
    L: DeserializeOwned + JsonSchema,
{
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Example::from_record(r).map_err(|e| DataError {
                line: Some(i + 1),
                ..e
            })
        })
        .collect()
}

/// Shuffles `items` with `seed` and splits off the first `fraction` of them (DSPy
/// recommends 20% train, 80% dev for prompt optimizers).
pub fn split<T>(mut items: Vec<T>, fraction: f64, seed: u64) -> (Vec<T>, Vec<T>) {
    crate::rng::Rng::new(seed).shuffle(&mut items);
    let cut = ((items.len() as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
    let rest = items.split_off(cut);
    (items, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct In {
        text: String,
        n: i64,
    }
    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Out {
        ok: bool,
    }

    fn record(v: Value) -> Fields {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn records_become_typed_examples_with_coercion() {
        let r = record(json!({"text": "hi", "n": "3", "ok": "yes", "extra": 1}));
        let ex: Example<In, Out> = Example::from_record(&r).expect("fits");
        assert_eq!(
            ex.input,
            In {
                text: "hi".into(),
                n: 3
            }
        );
        assert!(ex.label.ok);
        let bad = record(json!({"text": "hi", "n": "three", "ok": true}));
        let err = examples::<In, Out>(&[r, bad]).expect_err("second does not fit");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("In"), "{err}");
    }

    #[test]
    fn dynamic_examples_split_by_input_keys() {
        let ex = Example::with_inputs(record(json!({"q": 1, "a": 2})), &["q"]);
        assert_eq!(Value::Object(ex.input), json!({"q": 1}));
        assert_eq!(Value::Object(ex.label), json!({"a": 2}));
    }

    #[test]
    fn jsonl_and_csv_read_with_renames_and_line_numbers() {
        let dir = std::env::temp_dir().join(format!("dspy-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let jsonl = dir.join("d.jsonl");
        std::fs::write(&jsonl, "{\"t\": \"a\"}\n\n{\"t\": \"b\"}\n[1]\n").expect("write");
        let map = FieldMap::new().rename("t", "text");
        let err = read_jsonl(&jsonl, &map).expect_err("line 4 is not an object");
        assert_eq!(err.line, Some(4));
        std::fs::write(&jsonl, "{\"t\": \"a\"}\n{\"t\": \"b\"}\n").expect("write");
        let rows = read_jsonl(&jsonl, &map).expect("reads");
        assert_eq!(rows[1]["text"], "b");
        let csv_path = dir.join("d.csv");
        std::fs::write(&csv_path, "t,n,ok\n\"a, quoted\",3,true\nb,4,false\n").expect("write");
        let rows = read_csv(&csv_path, &map).expect("reads");
        assert_eq!(rows[0]["text"], "a, quoted");
        let typed: Vec<Example<In, Out>> = examples(&rows).expect("typed");
        assert_eq!(typed[1].input.n, 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn split_is_seeded() {
        let (a, b) = split((0..10).collect::<Vec<_>>(), 0.2, 7);
        assert_eq!((a.len(), b.len()), (2, 8));
        assert_eq!(split((0..10).collect::<Vec<_>>(), 0.2, 7).0, a);
    }
}
