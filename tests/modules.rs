//! Programs as module trees: predictor paths, traces, and save/load in Python DSPy's layout.

use dspy::prelude::*;
use dspy::state::{LoadOptions, Mismatch};
use dspy::{StateError, Trace};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

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

/// The program Python DSPy saved in `saved_program.json`.
#[derive(Module)]
struct Saved {
    generate: ChainOfThought<QA>,
    classify: Predict<Classify>,
}

fn saved() -> Saved {
    Saved {
        generate: ChainOfThought::new(),
        classify: Predict::new(),
    }
}

#[derive(Module)]
struct Hop {
    query: Predict<QA>,
    answer: ChainOfThought<QA>,
}

#[derive(Module)]
struct Inner {
    hops: Vec<Hop>,
    check: Option<Predict<Classify>>,
    #[module(skip)]
    #[allow(dead_code)]
    name: String,
}

#[derive(Module)]
struct Outer {
    inner: Inner,
    final_step: Predict<QA>,
    nothing: Option<Predict<QA>>,
}

fn outer() -> Outer {
    let hop = || Hop {
        query: Predict::new(),
        answer: ChainOfThought::new(),
    };
    Outer {
        inner: Inner {
            hops: vec![hop(), hop()],
            check: Some(Predict::new()),
            name: "inner".into(),
        },
        final_step: Predict::new(),
        nothing: None,
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dspy-modules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn demo(pairs: &[(&str, &str)]) -> dspy::Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect()
}

#[test]
fn nested_predictors_are_found_with_dotted_paths() {
    let program = outer();
    let paths: Vec<String> = program
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        paths,
        [
            "inner.hops.0.query",
            "inner.hops.0.answer.predict",
            "inner.hops.1.query",
            "inner.hops.1.answer.predict",
            "inner.check",
            "final_step",
        ]
    );
}

#[test]
fn save_then_load_round_trips_every_parameter() {
    let mut program = outer();
    for (i, (_, p)) in program.named_predictors_mut().into_iter().enumerate() {
        p.set_instructions(format!("instructions {i}"));
        let fields: Vec<String> = p.signature().fields().map(|f| f.name.clone()).collect();
        p.set_field_text(0, format!("Prefix {i}:"), format!("desc {i}"));
        let mut d = dspy::Fields::new();
        for f in &fields {
            let value = if f == "confidence" {
                json!(0.5)
            } else if f == "sentiment" {
                json!("neutral")
            } else {
                json!(format!("{f} {i}"))
            };
            d.insert(f.clone(), value);
        }
        d.insert("augmented".into(), json!(true));
        p.set_demos(vec![d]);
    }
    let path = tmp("roundtrip.json");
    program.save(&path).expect("saves");
    let mut loaded = outer();
    loaded.load(&path).expect("loads");
    let a = program.named_predictors();
    let b = loaded.named_predictors();
    assert_eq!(a.len(), b.len());
    for ((pa, x), (pb, y)) in a.iter().zip(&b) {
        assert_eq!(pa, pb);
        assert_eq!(
            x.signature(),
            y.signature(),
            "{pa}: instructions and field texts"
        );
        assert_eq!(x.demos(), y.demos(), "{pa}: demos");
    }
    // The file is Python DSPy's layout, keyed by path.
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    assert_eq!(
        file["inner.hops.1.answer.predict"]["signature"]["instructions"],
        "instructions 3"
    );
    assert_eq!(
        file["final_step"]["signature"]["fields"][0]["prefix"],
        "Prefix 5:"
    );
    assert_eq!(file["metadata"]["dependency_versions"], json!({}));
}

#[test]
fn a_python_dspy_saved_program_loads_and_saves_back_the_same() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/saved_program.json");
    let mut program = saved();
    program.load(&golden).expect("Python's file loads");
    let generate = &program.generate.predict();
    assert_eq!(
        generate.instructions(),
        "Answer questions with short factoid answers."
    );
    assert_eq!(
        generate.demos()[0],
        demo(&[
            ("question", "Who wrote Hamlet?"),
            ("reasoning", "Hamlet is by Shakespeare."),
            ("answer", "Shakespeare")
        ])
        .into_iter()
        .chain([("augmented".to_string(), json!(true))])
        .collect::<dspy::Fields>()
    );
    assert_eq!(
        program.classify.instructions(),
        "Decide if the review is positive, negative or neutral."
    );

    let path = tmp("resaved.json");
    program.save(&path).expect("saves");
    let ours: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let theirs: Value =
        serde_json::from_str(&std::fs::read_to_string(&golden).expect("read")).expect("json");
    for key in ["generate.predict", "classify"] {
        assert_eq!(
            ours[key], theirs[key],
            "{key} is saved exactly as Python DSPy saved it"
        );
    }
}

#[test]
fn mismatched_files_are_refused_precisely_and_change_nothing() {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/saved_program.json"),
        )
        .expect("read"),
    )
    .expect("json");
    let mut bad = golden.clone();
    bad.as_object_mut().expect("object").remove("classify");
    bad["extra.predict"] = bad["generate.predict"].clone();
    bad["generate.predict"]["signature"]["fields"]
        .as_array_mut()
        .expect("fields")
        .pop();
    bad["generate.predict"]["demos"] = json!([{"question": "q", "answer": ["not", "text"]}, 7]);

    let mut program = saved();
    let before = dspy::state::state(&program);
    let err =
        dspy::state::load_state(&mut program, &bad, LoadOptions::strict()).expect_err("mismatch");
    let StateError::Mismatch { problems } = &err else {
        panic!("{err:?}")
    };
    assert!(
        problems.contains(&Mismatch::Missing {
            path: "classify".into()
        }),
        "{err}"
    );
    assert!(
        problems.contains(&Mismatch::Unknown {
            path: "extra.predict".into()
        }),
        "{err}"
    );
    assert!(
        problems.contains(&Mismatch::FieldCount {
            path: "generate.predict".into(),
            saved: 2,
            expected: 3
        }),
        "{err}"
    );
    assert!(problems.iter().any(|p| matches!(p, Mismatch::Demo { index: 0, message, .. } if message.contains("`answer`"))), "{err}");
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Mismatch::Demo { index: 1, .. })),
        "{err}"
    );
    assert_eq!(dspy::state::state(&program), before, "nothing changed");
    let shown = err.to_string();
    assert!(shown.contains("5 problems"), "{shown}");

    // The same file with the checks relaxed for paths still fails on the field count.
    let err = dspy::state::load_state(
        &mut program,
        &bad,
        LoadOptions::strict().allow_partial(true).allow_unused(true),
    )
    .expect_err("field count");
    let StateError::Mismatch { problems } = err else {
        panic!()
    };
    assert!(
        problems
            .iter()
            .all(|p| !matches!(p, Mismatch::Missing { .. } | Mismatch::Unknown { .. }))
    );
}

#[test]
fn corrupt_and_missing_files_are_errors_not_panics() {
    let path = tmp("corrupt.json");
    std::fs::write(&path, "{\"generate.predict\": {\"demos\": [").expect("write");
    let mut program = saved();
    let err = program.load(&path).expect_err("corrupt");
    assert!(matches!(err, StateError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("EOF"), "{err}");
    let err = program
        .load(tmp("does-not-exist.json"))
        .expect_err("missing");
    assert!(
        matches!(err, StateError::Io { action: "read", .. }),
        "{err:?}"
    );
}

#[test]
fn a_changed_signature_is_detected_by_name() {
    #[derive(Signature)]
    struct QA2 {
        #[input]
        query: String,
        #[output]
        answer: String,
    }
    let path = tmp("changed.json");
    Predict::<QA>::new().save(&path).expect("saves");
    let mut other = Predict::<QA2>::new();
    let err = other.load(&path).expect_err("renamed field");
    assert!(
        err.to_string().contains(
            "saved with fields [question, answer], the signature now has [query, answer]"
        ),
        "{err}"
    );
}

#[test]
fn saving_is_atomic() {
    let path = tmp("atomic.json");
    let program = saved();
    program.save(&path).expect("first save");
    let first = std::fs::read_to_string(&path).expect("read");
    // A save into a directory that does not exist fails and leaves no temp files behind.
    let missing_dir = tmp("no-such-dir").join("x.json");
    assert!(matches!(
        program.save(&missing_dir),
        Err(StateError::Io {
            action: "write",
            ..
        })
    ));
    program.save(&path).expect("second save");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), first);
    let leftovers = std::fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[derive(Module)]
struct Pair {
    first: Predict<QA>,
    second: Predict<QA>,
}

impl Program for Pair {
    type Input = QAInput;
    type Output = (QAOutput, QAOutput);
    async fn forward(&self, input: QAInput) -> dspy::Result<Self::Output> {
        // Concurrent in one task, and one call in a spawned task.
        let (a, b) = tokio::join!(
            self.first.call(input.clone()),
            self.second.call(input.clone())
        );
        let third = self.second.clone();
        let c = dspy::spawn(async move { third.call(input).await })
            .await
            .expect("joins")?;
        let _ = c;
        Ok((a?, b?))
    }
}

#[tokio::test]
async fn traces_cover_join_and_spawned_tasks_and_map_to_paths() {
    let lm = std::sync::Arc::new(ScriptedLm::from_fn(|_| {
        Ok("[[ ## answer ## ]]\nx".to_string())
    }));
    let program = Pair {
        first: Predict::new().with_instructions("first"),
        second: Predict::new().with_instructions("second"),
    };
    let input = QAInput {
        question: "q?".into(),
    };
    let (out, trace): (_, Trace) = dspy::with_lm(lm, dspy::traced(program.forward(input))).await;
    out.expect("runs");
    assert_eq!(trace.len(), 3);
    let mut paths: Vec<Option<String>> = trace
        .with_paths(&program)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    paths.sort();
    // The spawned task used a clone: a different predictor, not in the program.
    assert_eq!(paths, [None, Some("first".into()), Some("second".into())]);
    assert_eq!(trace.entries()[0].inputs["question"], "q?");
    assert_eq!(trace.entries()[0].outputs["answer"], "x");
}

#[tokio::test]
async fn batch_keeps_input_order() {
    let lm = ScriptedLm::from_fn(|req| {
        let q = req
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let n: String = q.chars().filter(char::is_ascii_digit).collect();
        Ok(format!("[[ ## answer ## ]]\n{n}"))
    });
    let p = Predict::<QA>::new().with_lm(lm);
    let inputs: Vec<QAInput> = (0..50)
        .map(|i| QAInput {
            question: format!("n{i}"),
        })
        .collect();
    let outs = p.batch(inputs, 8).await;
    let answers: Vec<String> = outs.into_iter().map(|o| o.expect("ok").answer).collect();
    assert_eq!(answers, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
}
