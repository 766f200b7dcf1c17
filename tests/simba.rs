//! SIMBA against scripted LMs: which rules and demos it builds from the runs it compares,
//! and what it keeps.

use dspy::evaluate::Progress;
use dspy::optimizers::{Optimizer, Simba};
use dspy::prelude::*;
use dspy::{ChatRequest, Error, Fields};
use std::sync::{Arc, Mutex};

mod common;
use common::*;

/// Whether a request is SIMBA's `OfferFeedback` call.
fn is_feedback(req: &ChatRequest) -> bool {
    req.messages[0]
        .content
        .contains("trajectories of an LLM-driven program")
}

/// A sampling run under the first hot rollout.
fn first_hot_rollout(req: &ChatRequest) -> bool {
    req.config.temperature == Some(1.0) && req.config.rollout_id == Some(0)
}

const RULE: &str = "Add one to the number.";

fn advice_reply() -> String {
    format!(
        "[[ ## discussion ## ]]\nThe worse run repeated the number.\n\n[[ ## module_advice ## ]]\n{{\"self\": \"{RULE}\"}}\n\n[[ ## completed ## ]]"
    )
}

/// Right when the rule is in the instructions, or (before it is) under the first hot
/// rollout only, so that each example's runs differ.
fn rule_lm(feedback_seen: Arc<Mutex<Vec<String>>>) -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(move |req: &ChatRequest| {
        if is_feedback(req) {
            if let Ok(mut seen) = feedback_seen.lock() {
                seen.push(
                    req.messages
                        .last()
                        .map(|m| m.content.clone())
                        .unwrap_or_default(),
                );
            }
            return Ok(advice_reply());
        }
        let n = asked(req);
        let right = req.messages[0].content.contains(RULE) || first_hot_rollout(req);
        Ok(reply(if right { n + 1 } else { n }))
    }))
}

fn small() -> Simba {
    Simba::new()
        .bsize(2)
        .num_candidates(2)
        .max_steps(2)
        .max_demos(0)
        .num_threads(1)
        .progress(Progress::Never)
}

#[tokio::test]
async fn simba_turns_the_gap_between_runs_into_a_rule() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let lm = rule_lm(Arc::clone(&seen));
    let (compiled, report) = dspy::with_lm(lm.clone(), async {
        small()
            .compile(Predict::<AddOne>::new(), &trainset(4), &exact)
            .await
    })
    .await
    .expect("compiles");

    assert!(
        compiled.instructions().ends_with(&format!("\n\n{RULE}")),
        "{}",
        compiled.instructions()
    );
    assert!(compiled.instructions().starts_with("Add one to a number."));
    assert_eq!(report.optimizer, "SIMBA");
    assert_eq!(report.best_score(), Some(1.0));
    let best = &report.candidates[report.best.expect("best")];
    assert!(best.label.starts_with("winner of step"), "{}", best.label);
    assert_eq!(best.examples, None);
    // Step candidates are scored on the batch; the final ones on the whole trainset.
    let step_candidates: Vec<_> = report
        .candidates
        .iter()
        .filter(|c| c.examples == Some(2))
        .collect();
    assert!(!step_candidates.is_empty());
    assert!(
        step_candidates
            .iter()
            .all(|c| c.label.contains("append_a_rule"))
    );
    assert!(
        report
            .candidates
            .iter()
            .any(|c| c.label == "baseline (the student)" && c.score == 0.0)
    );

    // The details log each step: its batch, the sampling baseline and percentiles.
    let details = report.details.as_ref().expect("details");
    let steps = details["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["batch"].as_array().map(Vec::len), Some(2));
    assert_eq!(steps[0]["baseline"], 0.5);
    assert_eq!(steps[0]["p10"], 0.0);
    assert_eq!(steps[0]["p90"], 1.0);
    let first = &steps[0]["candidates"][0];
    assert_eq!(first["strategy"], "append_a_rule");
    assert_eq!(first["applied"], true);
    assert_eq!(first["source"], 0);
    assert_eq!(first["score"], 1.0);

    // The feedback LM saw both trajectories, the predictor named `self`, the rewards.
    let seen = seen.lock().expect("log");
    assert!(!seen.is_empty());
    let prompt = &seen[0];
    for part in [
        "[[ ## better_program_trajectory ## ]]",
        "\"module_name\": \"self\"",
        "[[ ## better_reward_value ## ]]\n1.0",
        "[[ ## worse_reward_value ## ]]\n0.0",
        "[[ ## module_names ## ]]\n[\"self\"]",
        "Module self",
        "[[ ## worse_reward_info ## ]]\n{}",
    ] {
        assert!(prompt.contains(part), "{part} not in\n{prompt}");
    }

    // Sampling ran hot under one rollout per candidate model.
    let requests = lm.requests();
    for rollout in 0..2 {
        assert!(requests.iter().any(|r| {
            r.config.temperature == Some(1.0) && r.config.rollout_id == Some(rollout)
        }));
    }
}

#[tokio::test]
async fn simba_appends_the_best_runs_calls_as_truncated_demos() {
    // Rules fail (the feedback LM's answer does not parse), so only demos are built; the
    // task LM is right with a demo, or under the first hot rollout.
    let lm = Arc::new(ScriptedLm::from_fn(|req: &ChatRequest| {
        if is_feedback(req) {
            return Ok("I have no advice.".into());
        }
        let n = asked(req);
        let right = demo_count(req) > 0 || first_hot_rollout(req);
        Ok(reply(if right { n + 1 } else { n }))
    }));
    // Seed 3 draws a rule for one of step 1's two buckets.
    let simba = small()
        .max_demos(4)
        .max_steps(3)
        .demo_input_field_maxlen(4)
        .seed(3);
    let (compiled, report) = dspy::with_lm(lm, async {
        simba
            .compile(Predict::<AddOne>::new(), &trainset(4), &exact)
            .await
    })
    .await
    .expect("compiles");

    let demos = compiled.demos();
    assert!(!demos.is_empty());
    for demo in demos {
        assert_eq!(demo["augmented"], true);
        assert_eq!(demo.keys().next().map(String::as_str), Some("augmented"));
        let question = demo["question"].as_str().expect("question");
        let (head, tail) = question.split_once('\n').expect("truncated");
        assert_eq!(tail, "\t\t... <TRUNCATED FOR BREVITY>");
        assert_eq!(head.len(), 4, "{question:?}");
        // From the best run: the right answer.
        let n: i64 = head
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("n");
        assert_eq!(demo["answer"], (n + 1).to_string());
    }
    assert_eq!(compiled.instructions(), "Add one to a number.");
    assert_eq!(report.best_score(), Some(1.0));
    assert!(
        report
            .candidates
            .iter()
            .any(|c| c.label.contains("append_a_demo"))
    );
    // The failed rule was skipped (step 1 has one candidate for two buckets), and noted.
    assert!(!report.errors.is_empty());
    let details = report.details.as_ref().expect("details");
    let first = details["steps"][0]["candidates"]
        .as_array()
        .expect("candidates");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["strategy"], "append_a_demo");
    // Later rules were declined (every run right: no gap), not failed: those
    // candidates are kept unchanged, as in DSPy.
    for step in details["steps"].as_array().expect("steps") {
        for c in step["candidates"].as_array().expect("candidates") {
            if c["strategy"] == "append_a_rule" {
                assert_eq!(c["applied"], false);
            }
        }
    }
}

#[tokio::test]
async fn simba_needs_a_full_batch() {
    let lm = rule_lm(Arc::new(Mutex::new(Vec::new())));
    let result = dspy::with_lm(lm, async {
        Simba::new()
            .bsize(4)
            .progress(Progress::Never)
            .compile(Predict::<AddOne>::new(), &trainset(3), &exact)
            .await
    })
    .await;
    match result {
        Err(Error::Optimizer { optimizer, message }) => {
            assert_eq!(optimizer, "SIMBA");
            assert!(message.contains("batch size 4"), "{message}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("compiled with too few examples"),
    }
}

#[tokio::test]
async fn a_call_budget_stops_simba_and_keeps_the_best_found() {
    // Step 1 takes 10 calls (4 sampling runs, 2 rules, 2 candidates × 2 examples); step
    // 2's sampling runs past 12.
    let lm = rule_lm(Arc::new(Mutex::new(Vec::new())));
    let (compiled, report) = dspy::with_lm(lm.clone(), async {
        small()
            .max_lm_calls(12)
            .compile(Predict::<AddOne>::new(), &trainset(4), &exact)
            .await
    })
    .await
    .expect("compiles");
    let why = report.stopped_early.as_deref().expect("stopped early");
    assert!(why.contains("step 2"), "{why}");
    assert!(report.usage.calls <= 12, "{}", report.usage);
    // Nothing was scored on the whole trainset: the best batch winner is returned.
    assert!(compiled.instructions().ends_with(RULE));
    let best = &report.candidates[report.best.expect("best")];
    assert_eq!(best.examples, Some(2));
    assert_eq!(best.score, 1.0);

    // A budget spent in the first sampling round returns the student untouched.
    let (compiled, report) = dspy::with_lm(lm, async {
        small()
            .max_lm_calls(3)
            .compile(Predict::<AddOne>::new(), &trainset(4), &exact)
            .await
    })
    .await
    .expect("compiles");
    assert!(report.stopped_early.is_some());
    assert_eq!(report.best, None);
    assert_eq!(compiled.instructions(), "Add one to a number.");
    assert!(compiled.demos().is_empty());
}

/// Right or wrong by the number and the rollout, unless a demo or the rule helps; the
/// feedback LM always offers the rule.
fn mixed_lm() -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(|req: &ChatRequest| {
        if is_feedback(req) {
            return Ok(advice_reply());
        }
        let n = asked(req);
        let rollout = req.config.rollout_id.unwrap_or(7) as i64;
        let right = (n + rollout) % 3 != 0
            || (demo_count(req) > 1 && n % 2 == 0)
            || (req.messages[0].content.contains(RULE) && n % 2 == 1);
        Ok(reply(if right { n + 1 } else { n }))
    }))
}

async fn compile_mixed(seed: u64, threads: usize) -> (Predict<AddOne>, serde_json::Value) {
    let simba = Simba::new()
        .bsize(3)
        .num_candidates(3)
        .max_steps(4)
        .max_demos(2)
        .seed(seed)
        .num_threads(threads)
        .progress(Progress::Never);
    let (compiled, report) = dspy::with_lm(mixed_lm(), async {
        simba
            .compile(Predict::<AddOne>::new(), &trainset(7), &exact)
            .await
    })
    .await
    .expect("compiles");
    let mut json = report.to_json();
    // Wall time and usage are not part of the result.
    if let Some(map) = json.as_object_mut() {
        map.remove("wall_seconds");
        map.remove("usage");
    }
    (compiled, json)
}

fn state(p: &Predict<AddOne>) -> (String, Vec<Fields>) {
    (p.instructions().to_string(), p.demos().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_program_whatever_the_concurrency() {
    let (one, report_one) = compile_mixed(3, 1).await;
    let (four, report_four) = compile_mixed(3, 4).await;
    let (again, report_again) = compile_mixed(3, 4).await;
    assert_eq!(state(&one), state(&four));
    assert_eq!(state(&four), state(&again));
    assert_eq!(report_one, report_four);
    assert_eq!(report_four, report_again);
    let steps = report_one["details"]["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    // Both strategies were drawn.
    let labels: Vec<&str> = report_one["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(|c| c["label"].as_str())
        .collect();
    assert!(labels.iter().any(|l| l.ends_with("append_a_demo")));
    assert!(labels.iter().any(|l| l.ends_with("append_a_rule")));
    // Another seed draws other batches.
    let (_, report_other) = compile_mixed(4, 4).await;
    assert_ne!(
        report_one["details"]["steps"][0]["batch"],
        report_other["details"]["steps"][0]["batch"]
    );
}
