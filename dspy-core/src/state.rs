//! Saving and loading a program's optimizable state.
//!
//! The file is Python DSPy's `module.save("x.json")` layout, so a program compiled in
//! Python loads here and the reverse: one entry per predictor path holding `demos`,
//! `signature.instructions` and `signature.fields[].prefix/description` (by position, as
//! DSPy matches them), plus `metadata`. dspy-rs adds, under `metadata.dspy_rs`, each
//! predictor's field names and a fingerprint of its fields' types, so that a Rust struct
//! changed since the save is caught on load.
//!
//! Loading is strict and atomic: every mismatch is reported at once, and the program is
//! changed only when there is none. Saving writes a temporary file and renames it.

use crate::adapter::coerce::conform;
use crate::module::Module;
use crate::predictor::Predictor;
use crate::signature::{FieldRole, Fields, SignatureSpec};
use serde_json::{Map, Value, json};
use std::fmt;
use std::path::{Path, PathBuf};

/// How strict loading is about paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Predictors the file has no entry for keep their state instead of failing the load.
    pub allow_partial: bool,
    /// Entries for paths the program does not have are ignored instead of failing the load.
    pub allow_unused: bool,
}

impl LoadOptions {
    /// Strict: every predictor must be in the file, and nothing else.
    pub fn strict() -> Self {
        Self::default()
    }
    /// With `allow_partial`.
    pub fn allow_partial(mut self, on: bool) -> Self {
        self.allow_partial = on;
        self
    }
    /// With `allow_unused`.
    pub fn allow_unused(mut self, on: bool) -> Self {
        self.allow_unused = on;
        self
    }
}

/// Why a save or load failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("could not {action} {path}: {message}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The file is not JSON, or not a JSON object.
    #[error("{path} is not a saved program: {message}")]
    Format {
        /// The file (empty for in-memory state).
        path: PathBuf,
        /// What is wrong, with line and column for JSON errors.
        message: String,
    },
    /// The state does not fit the program; nothing was changed.
    #[error("the saved state does not fit the program ({} problem{}):\n{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Mismatch {
        /// Every problem found.
        problems: Vec<Mismatch>,
    },
}

/// One way saved state does not fit a program.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The program has this predictor; the file does not.
    Missing {
        /// The predictor's path.
        path: String,
    },
    /// The file has this entry; the program has no such predictor.
    Unknown {
        /// The entry's path.
        path: String,
    },
    /// The entry is not shaped like a predictor's state.
    Malformed {
        /// The predictor's path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The entry has a different number of fields than the signature.
    FieldCount {
        /// The predictor's path.
        path: String,
        /// Fields in the file.
        saved: usize,
        /// Fields in the program's signature.
        expected: usize,
    },
    /// The file was saved from a signature with other fields.
    SignatureChanged {
        /// The predictor's path.
        path: String,
        /// The field names when saved.
        saved: Vec<String>,
        /// The field names now.
        current: Vec<String>,
    },
    /// A demo's value does not fit its field's type.
    Demo {
        /// The predictor's path.
        path: String,
        /// The demo's position.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |p: &str| {
            if p.is_empty() {
                "<root>".to_string()
            } else {
                format!("`{p}`")
            }
        };
        match self {
            Mismatch::Missing { path } => write!(
                f,
                "{}: the program has this predictor but the file has no entry for it",
                shown(path)
            ),
            Mismatch::Unknown { path } => write!(
                f,
                "{}: the file has an entry but the program has no such predictor",
                shown(path)
            ),
            Mismatch::Malformed { path, message } => write!(f, "{}: {message}", shown(path)),
            Mismatch::FieldCount {
                path,
                saved,
                expected,
            } => write!(
                f,
                "{}: the file has {saved} fields, the signature has {expected}",
                shown(path)
            ),
            Mismatch::SignatureChanged {
                path,
                saved,
                current,
            } => write!(
                f,
                "{}: saved with fields [{}], the signature now has [{}]",
                shown(path),
                saved.join(", "),
                current.join(", ")
            ),
            Mismatch::Demo {
                path,
                index,
                message,
            } => write!(f, "{}: demo {index}: {message}", shown(path)),
        }
    }
}

/// The program's state as JSON, in Python DSPy's layout.
pub fn state<M: Module + ?Sized>(program: &M) -> Value {
    let predictors = program.named_predictors();
    let mut out = Map::new();
    let mut signatures = Map::new();
    for (path, predictor) in &predictors {
        signatures.insert(
            path.clone(),
            json!({
                "fields": field_names(predictor.signature()),
                "fingerprint": fingerprint(predictor.signature()),
            }),
        );
    }
    let flat = matches!(predictors.as_slice(), [(path, _)] if path.is_empty());
    for (path, predictor) in &predictors {
        let entry = predictor_state(*predictor);
        if flat {
            if let Value::Object(fields) = entry {
                out.extend(fields);
            }
        } else {
            out.insert(path.clone(), entry);
        }
    }
    out.insert(
        "metadata".into(),
        json!({
            // Python DSPy compares each of these with its own versions; none is claimed.
            "dependency_versions": {},
            "dspy_rs": {
                "version": env!("CARGO_PKG_VERSION"),
                "predictors": signatures,
            }
        }),
    );
    Value::Object(out)
}

fn predictor_state(predictor: &dyn Predictor) -> Value {
    let signature = predictor.signature();
    let fields: Vec<Value> = signature
        .fields()
        .map(|f| json!({"prefix": f.prefix, "description": f.desc}))
        .collect();
    json!({
        "traces": [],
        "train": [],
        "demos": predictor.demos(),
        "signature": {"instructions": signature.instructions, "fields": fields},
        "lm": null,
    })
}

fn field_names(signature: &SignatureSpec) -> Vec<String> {
    signature.fields().map(|f| f.name.clone()).collect()
}

/// FNV-1a (64-bit) over each field's role, name and schema: stable across releases and
/// platforms, which `std`'s hasher does not promise.
fn fingerprint(signature: &SignatureSpec) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for field in signature.fields() {
        let role = match field.role {
            FieldRole::Input => "in",
            FieldRole::Output => "out",
        };
        let text = format!("{role}:{}:{}\n", field.name, field.schema);
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("fnv1a64:{hash:016x}")
}

/// What one entry will set, once every entry has been checked.
struct Update {
    instructions: String,
    fields: Vec<(String, String)>,
    demos: Vec<Fields>,
}

/// Loads `state` (as produced by [`state`] or by Python DSPy) into `program`. On error the
/// program is unchanged.
pub fn load_state<M: Module + ?Sized>(
    program: &mut M,
    state: &Value,
    options: LoadOptions,
) -> Result<(), StateError> {
    let Some(top) = state.as_object() else {
        return Err(StateError::Format {
            path: PathBuf::new(),
            message: "expected a JSON object at the top level".into(),
        });
    };
    let saved_meta = state.pointer("/metadata/dspy_rs/predictors");
    let mut problems = Vec::new();
    let mut updates: Vec<Option<Update>> = Vec::new();
    let paths: Vec<String>;
    {
        let predictors = program.named_predictors();
        paths = predictors.iter().map(|(p, _)| p.clone()).collect();
        let flat = matches!(predictors.as_slice(), [(path, _)] if path.is_empty());
        for (path, predictor) in &predictors {
            let entry = if flat { Some(state) } else { top.get(path) };
            match entry {
                None if options.allow_partial => updates.push(None),
                None => {
                    problems.push(Mismatch::Missing { path: path.clone() });
                    updates.push(None);
                }
                Some(entry) => {
                    let meta = saved_meta.and_then(|m| m.get(path));
                    updates.push(check_entry(path, *predictor, entry, meta, &mut problems));
                }
            }
        }
        if !flat && !options.allow_unused {
            for key in top.keys().filter(|k| *k != "metadata") {
                if !paths.contains(key) {
                    problems.push(Mismatch::Unknown { path: key.clone() });
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(StateError::Mismatch { problems });
    }
    for ((path, predictor), update) in program.named_predictors_mut().into_iter().zip(updates) {
        let Some(update) = update else { continue };
        predictor.set_instructions(update.instructions);
        for (i, (prefix, description)) in update.fields.into_iter().enumerate() {
            predictor.set_field_text(i, prefix, description);
        }
        predictor.set_demos(update.demos);
        tracing::debug!(path = %path, "loaded predictor state");
    }
    Ok(())
}

fn check_entry(
    path: &str,
    predictor: &dyn Predictor,
    entry: &Value,
    meta: Option<&Value>,
    problems: &mut Vec<Mismatch>,
) -> Option<Update> {
    let signature = predictor.signature();
    let malformed = |message: &str| Mismatch::Malformed {
        path: path.to_string(),
        message: message.to_string(),
    };
    let before = problems.len();
    let Some(obj) = entry.as_object() else {
        problems.push(malformed("the entry is not a JSON object"));
        return None;
    };
    let instructions = obj
        .get("signature")
        .and_then(|s| s.get("instructions"))
        .and_then(Value::as_str);
    let fields = obj
        .get("signature")
        .and_then(|s| s.get("fields"))
        .and_then(Value::as_array);
    let (Some(instructions), Some(fields)) = (instructions, fields) else {
        problems.push(malformed(
            "expected `signature.instructions` (text) and `signature.fields` (a list)",
        ));
        return None;
    };
    let expected = signature.fields().count();
    if fields.len() != expected {
        problems.push(Mismatch::FieldCount {
            path: path.to_string(),
            saved: fields.len(),
            expected,
        });
    }
    let mut texts = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let prefix = field.get("prefix").and_then(Value::as_str);
        let description = field.get("description").and_then(Value::as_str);
        match (prefix, description) {
            (Some(p), Some(d)) => texts.push((p.to_string(), d.to_string())),
            _ => problems.push(malformed(&format!(
                "`signature.fields[{i}]` needs text `prefix` and `description`"
            ))),
        }
    }
    if let Some(saved) = meta.and_then(|m| m.get("fields")).and_then(Value::as_array) {
        let saved: Vec<String> = saved
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let current = field_names(signature);
        if saved != current {
            problems.push(Mismatch::SignatureChanged {
                path: path.to_string(),
                saved,
                current,
            });
        } else if meta
            .and_then(|m| m.get("fingerprint"))
            .and_then(Value::as_str)
            != Some(fingerprint(signature).as_str())
        {
            tracing::warn!(
                path,
                "field types changed since this state was saved; its demos were checked against the new types"
            );
        }
    }
    let demos = match obj.get("demos") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(index, demo)| check_demo(path, signature, index, demo, problems))
            .collect(),
        Some(_) => {
            problems.push(malformed("`demos` is not a list"));
            Vec::new()
        }
    };
    if obj.get("lm").is_some_and(|lm| !lm.is_null()) {
        tracing::warn!(
            path,
            "the saved per-predictor LM is not restored; set it with `set_lm`"
        );
    }
    (problems.len() == before).then(|| Update {
        instructions: instructions.to_string(),
        fields: texts,
        demos,
    })
}

/// A demo's field values, conformed to their types (a saved `"0.9"` for a float is read
/// as `0.9`); keys that are not fields (`augmented`…) are kept as they are.
fn check_demo(
    path: &str,
    signature: &SignatureSpec,
    index: usize,
    demo: &Value,
    problems: &mut Vec<Mismatch>,
) -> Option<Fields> {
    let Some(map) = demo.as_object() else {
        problems.push(Mismatch::Demo {
            path: path.to_string(),
            index,
            message: "not a JSON object".into(),
        });
        return None;
    };
    let mut out = Fields::new();
    for (key, value) in map {
        let conformed = match signature.field(key) {
            Some(field) if !value.is_null() => match conform(value.clone(), &field.shape) {
                Ok(v) => v,
                Err(reason) => {
                    problems.push(Mismatch::Demo {
                        path: path.to_string(),
                        index,
                        message: format!("`{key}` should be {}: {reason}", field.type_label()),
                    });
                    continue;
                }
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), conformed);
    }
    Some(out)
}

pub(crate) fn save<M: Module + ?Sized>(program: &M, path: &Path) -> Result<(), StateError> {
    let text = serde_json::to_string_pretty(&state(program)).map_err(|e| StateError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, text.as_bytes()).map_err(|e| StateError::Io {
        action: "write",
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub(crate) fn load<M: Module + ?Sized>(
    program: &mut M,
    path: &Path,
    options: LoadOptions,
) -> Result<(), StateError> {
    let text = std::fs::read_to_string(path).map_err(|e| StateError::Io {
        action: "read",
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| StateError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    load_state(program, &value, options).map_err(|e| match e {
        StateError::Format { message, .. } => StateError::Format {
            path: path.to_path_buf(),
            message,
        },
        other => other,
    })
}

/// Writes `value` to `path` as pretty JSON, atomically (a temporary file renamed over the
/// old one), as saves of programs and reports do.
pub fn write_json(path: impl AsRef<Path>, value: &Value) -> Result<(), StateError> {
    let path = path.as_ref();
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, &bytes).map_err(|e| StateError::Io {
        action: "write",
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`,
/// so readers see the old file or the new one, never a torn one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChainOfThought, Dynamic, Predict};

    #[test]
    fn fingerprint_tracks_types_not_texts() {
        let a = SignatureSpec::parse("q -> a: int").expect("valid");
        let b = SignatureSpec::parse("q -> a: float").expect("valid");
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let c = a.clone().with_instructions("other words");
        assert_eq!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn a_bare_predictor_saves_flat_like_dspy() {
        let p = Predict::<Dynamic>::parse("q -> a").expect("valid");
        let s = state(&p);
        assert!(
            s.get("signature").is_some() && s.get("demos").is_some(),
            "{s}"
        );
        let mut q = Predict::<Dynamic>::parse("q -> a").expect("valid");
        load_state(&mut q, &s, LoadOptions::strict()).expect("round trip");
    }

    #[test]
    fn chain_of_thought_nests_under_predict() {
        let cot = ChainOfThought::<Dynamic>::parse("q -> a").expect("valid");
        let s = state(&cot);
        assert!(s.get("predict").is_some(), "{s}");
    }
}
