//! Saved programs cross between Python DSPy 3.4.1 and dspy-rs in both directions.
//!
//! Needs a Python with `dspy==3.4.1`: `DSPY_PYTHON=/path/to/python`, or the venv that
//! `.ci/run` makes at `.venv-dspy/`. In CI (`CI` set) a missing Python fails the test;
//! elsewhere the test says so and does nothing.

use dspy::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

/// Answer questions with short factoid answers.
#[derive(Signature)]
struct QA {
    #[input]
    question: String,
    #[output(desc = "often between 1 and 5 words")]
    answer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

/// Classify the sentiment of a product review.
#[derive(Signature)]
struct Classify {
    #[input]
    review: String,
    #[output]
    sentiment: Sentiment,
    /// between 0 and 1
    #[output]
    confidence: f32,
}

#[derive(Module)]
struct Saved {
    generate: ChainOfThought<QA>,
    classify: Predict<Classify>,
}

fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("DSPY_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-dspy/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide Python DSPy 3.4.1 (DSPY_PYTHON or .venv-dspy)"
    );
    eprintln!("python_compat: no Python DSPy found (set DSPY_PYTHON or run .ci/run); not checked");
    None
}

fn run_python(python: &PathBuf, mode: &str, path: &std::path::Path) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/saved_program.py");
    let out = Command::new(python)
        .arg(script)
        .arg(mode)
        .arg(path)
        .env(
            "DSPY_CACHEDIR",
            std::env::temp_dir().join("dspy-compat-cache"),
        )
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python {mode} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dspy-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join(name)
}

#[test]
fn rust_saved_programs_load_in_python_dspy() {
    let Some(python) = python() else { return };
    let mut program = Saved {
        generate: ChainOfThought::new(),
        classify: Predict::new(),
    };
    program
        .generate
        .predict_mut()
        .set_instructions("Think, then answer in a few words.");
    program.generate.predict_mut().set_demos(vec![
        json!({"question": "Who wrote Hamlet?", "reasoning": "Shakespeare wrote it.", "answer": "Shakespeare", "augmented": true})
            .as_object()
            .cloned()
            .expect("object"),
    ]);
    program.classify = Predict::new()
        .with_demo(
            &ClassifyInput {
                review: "Awful.".into(),
            },
            &ClassifyOutput {
                sentiment: Sentiment::Negative,
                confidence: 0.25,
            },
        )
        .expect("typed demo");
    let path = tmp("from_rust.json");
    program.save(&path).expect("saves");

    let state: Value =
        serde_json::from_str(&run_python(&python, "load", &path)).expect("python prints JSON");
    assert_eq!(
        state["generate.predict"]["instructions"],
        "Think, then answer in a few words."
    );
    assert_eq!(
        state["generate.predict"]["fields"],
        json!([
            ["Question:", "${question}"],
            ["Reasoning:", "${reasoning}"],
            ["Answer:", "often between 1 and 5 words"]
        ])
    );
    assert_eq!(
        state["generate.predict"]["demos"][0]["answer"],
        "Shakespeare"
    );
    assert_eq!(
        state["classify"]["demos"][0],
        json!({"review": "Awful.", "sentiment": "negative", "confidence": 0.25})
    );
    assert_eq!(
        state["classify"]["instructions"],
        "Classify the sentiment of a product review."
    );
}

#[test]
fn python_saved_programs_load_in_rust() {
    let Some(python) = python() else { return };
    let path = tmp("from_python.json");
    run_python(&python, "save", &path);
    let mut program = Saved {
        generate: ChainOfThought::new(),
        classify: Predict::new(),
    };
    program.load(&path).expect("Python's file loads");
    assert_eq!(
        program.generate.predict().instructions(),
        "Answer in as few words as you can."
    );
    assert_eq!(
        program.generate.predict().demos()[0]["answer"],
        "Leonardo da Vinci"
    );
    assert_eq!(program.classify.demos()[0]["confidence"], 0.9);
}
