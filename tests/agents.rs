//! Agents and composite modules against scripted LMs: ReAct's loop, tools that fail,
//! context overflow, optimizing and saving an agent; BestOfN, Refine and
//! MultiChainComparison.

use dspy::lm::LmError;
use dspy::optimizers::{BootstrapFewShot, Optimizer};
use dspy::prelude::*;
use dspy::{
    BestOfN, ChatRequest, Example, Fields, MultiChainComparison, ReAct, Refine, Tool, Trace,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Answer questions about countries.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

#[derive(Deserialize, JsonSchema)]
struct Country {
    /// The country's English name.
    country: String,
}

fn capital_tool(calls: Arc<AtomicUsize>) -> Tool {
    Tool::from_fn(
        "capital",
        "The capital city of a country.",
        move |c: Country| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match c.country.as_str() {
                    "France" => Ok("Paris".to_string()),
                    "Japan" => Ok("Tokyo".to_string()),
                    other => Err(format!("no capital known for {other}")),
                }
            }
        },
    )
}

fn population_tool() -> Tool {
    Tool::from_fn(
        "population",
        "Population in millions.",
        |c: Country| async move {
            match c.country.as_str() {
                "France" => Ok(68),
                _ => Err("unknown".to_string()),
            }
        },
    )
}

fn step(thought: &str, tool: &str, args: serde_json::Value) -> String {
    format!(
        "[[ ## next_thought ## ]]\n{thought}\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n[[ ## next_tool_args ## ]]\n{args}\n\n[[ ## completed ## ]]"
    )
}

fn answer(reasoning: &str, text: &str) -> String {
    format!(
        "[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## answer ## ]]\n{text}\n\n[[ ## completed ## ]]"
    )
}

fn ask(q: &str) -> QaInput {
    QaInput { question: q.into() }
}

#[tokio::test]
async fn react_calls_tools_reads_observations_and_extracts_a_typed_answer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let lm = ScriptedLm::new([
        // A bad argument first: the error comes back as an observation, not a crash.
        step("Find the capital.", "capital", json!({"nation": "France"})),
        step("Fix the argument.", "capital", json!({"country": "France"})),
        step("Done.", "finish", json!({})),
        answer("The tool said Paris.", "Paris"),
    ]);
    let agent = ReAct::<Qa>::new(vec![capital_tool(calls.clone()), population_tool()]);
    let out = agent
        .call_with(&lm, ask("What is the capital of France?"))
        .await
        .expect("answers");
    assert_eq!(out.answer, "Paris");
    assert_eq!(out.reasoning, "The tool said Paris.");
    assert_eq!(out.trajectory.len(), 3);
    assert!(
        out.trajectory[0]
            .observation
            .starts_with("Execution error in capital: the arguments do not fit"),
        "{:?}",
        out.trajectory[0]
    );
    assert_eq!(out.trajectory[1].observation, "Paris");
    assert_eq!(out.trajectory[2].tool_name, "finish");
    assert_eq!(out.trajectory[2].observation, "Completed.");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the bad call never reached the function"
    );

    let requests = lm.requests();
    assert_eq!(requests.len(), 4);
    // The step prompt lists the tools as DSPy does and carries the trajectory so far.
    let system = &requests[0].messages[0].content;
    assert!(system.contains("You are an Agent."), "{system}");
    assert!(system.contains("(1) capital, whose description is <desc>The capital city of a country.</desc>. It takes arguments {'country': {"));
    assert!(system.contains("(3) finish, whose description is <desc>Marks the task as complete."));
    assert!(
        system.contains("Literal['capital', 'population', 'finish']"),
        "{system}"
    );
    let third = requests[2].messages.last().expect("user message");
    assert!(
        third.content.contains("[[ ## observation_1 ## ]]\nParis"),
        "{}",
        third.content
    );
    assert!(
        third
            .content
            .contains("[[ ## tool_args_1 ## ]]\n{\"country\": \"France\"}"),
        "arguments as Python's json.dumps writes them: {}",
        third.content
    );
    // The extraction sees the whole trajectory.
    let last = requests[3].messages.last().expect("user message");
    assert!(last.content.contains("[[ ## tool_name_2 ## ]]\nfinish"));
}

#[tokio::test]
async fn an_answer_naming_no_tool_ends_the_loop_and_max_iters_bounds_it() {
    let lm = ScriptedLm::new([
        step("Hmm.", "teleport", json!({})),
        // The JSON fallback of the same step fails too: the loop ends.
        "{\"next_thought\": \"?\"}".to_string(),
        answer("No tool helped.", "unknown"),
    ]);
    let agent = ReAct::<Qa>::new(vec![population_tool()]);
    let out = agent
        .call_with(&lm, ask("Capital of Peru?"))
        .await
        .expect("answers");
    assert!(out.trajectory.is_empty());
    assert_eq!(out.answer, "unknown");

    let looping = ScriptedLm::from_fn(|req| {
        let extraction = req.messages[0].content.contains("`reasoning`");
        Ok(if extraction {
            answer("Gave up.", "68")
        } else {
            step("Again.", "population", json!({"country": "France"}))
        })
    });
    let agent = ReAct::<Qa>::new(vec![population_tool()]).with_max_iters(3);
    let out = agent
        .call_with(&looping, ask("How many?"))
        .await
        .expect("answers");
    assert_eq!(out.trajectory.len(), 3);
    assert!(out.trajectory.iter().all(|s| s.observation == "68"));
    assert_eq!(looping.requests().len(), 4);
}

#[tokio::test]
async fn an_overflowing_trajectory_drops_its_oldest_steps() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let lm = ScriptedLm::from_fn(move |req: &ChatRequest| {
        let prompt = req
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let steps = prompt.matches("[[ ## thought_").count();
        if let Ok(mut log) = log.lock() {
            log.push(steps);
        }
        // The "context" holds two steps at most.
        if steps > 2 {
            return Err(LmError::ContextWindowExceeded {
                prompt_tokens: 9000,
                limit: 8192,
            });
        }
        if req.messages[0].content.contains("`reasoning`") {
            return Ok(answer("Enough.", "Paris"));
        }
        Ok(step("Look again.", "capital", json!({"country": "France"})))
    });
    let agent =
        ReAct::<Qa>::new(vec![capital_tool(Arc::new(AtomicUsize::new(0)))]).with_max_iters(5);
    let out = agent
        .call_with(&lm, ask("Capital?"))
        .await
        .expect("answers");
    assert_eq!(out.answer, "Paris");
    // Steps seen by each call: 0, 1, 2, then 3 (too long) → 2, twice; the extraction
    // too: 3 → 2.
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen, [0, 1, 2, 3, 2, 3, 2, 3, 2]);
    assert_eq!(out.trajectory.len(), 2, "the oldest steps were dropped");
    assert_eq!(out.trajectory[0].thought, "Look again.");
}

#[tokio::test]
async fn an_agent_is_optimized_saved_and_loaded_like_any_program() {
    let mut agent = ReAct::<Qa>::new(vec![capital_tool(Arc::new(AtomicUsize::new(0)))]);
    let paths: Vec<String> = agent
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, ["react", "extract.predict"]);

    // The teacher: looks the capital up, then answers with what the tool said.
    let teacher = Arc::new(ScriptedLm::from_fn(|req: &ChatRequest| {
        let user = req
            .messages
            .last()
            .map(|m| m.content.as_str())
            .unwrap_or_default();
        let country = if user.contains("France") {
            "France"
        } else {
            "Japan"
        };
        if req.messages[0].content.contains("`reasoning`") {
            let city = if country == "France" {
                "Paris"
            } else {
                "Tokyo"
            };
            return Ok(answer("From the tool.", city));
        }
        Ok(if user.contains("[[ ## observation_0 ## ]]") {
            step("Done.", "finish", json!({}))
        } else {
            step("Look it up.", "capital", json!({"country": country}))
        })
    }));
    let trainset = vec![
        Example::split(Qa {
            question: "Capital of France?".into(),
            answer: "Paris".into(),
        }),
        Example::split(Qa {
            question: "Capital of Japan?".into(),
            answer: "Tokyo".into(),
        }),
    ];
    let metric = |ex: &Example<QaInput, QaOutput>,
                  out: &dspy::WithTrajectory<QaOutput>,
                  _: Option<&Trace>| { out.answer == ex.label.answer };
    let (compiled, report) = dspy::with_lm(teacher, async {
        BootstrapFewShot::new()
            .max_bootstrapped_demos(2)
            .max_labeled_demos(0)
            .progress(dspy::evaluate::Progress::Never)
            .compile(agent.clone(), &trainset, &metric)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(report.bootstrap.as_ref().map(|b| b.successes), Some(2));
    // Every step of both runs became a demo of the step predictor; each run's
    // extraction became a demo of the extractor.
    let demos: Vec<usize> = compiled
        .named_predictors()
        .into_iter()
        .map(|(_, p)| p.demos().len())
        .collect();
    assert_eq!(demos, [2, 2]);
    // One step per run (DSPy samples one call of a predictor that ran several times).
    for demo in compiled.react().demos() {
        assert!(["capital", "finish"].contains(&demo["next_tool_name"].as_str().unwrap_or("")));
        assert!(
            demo["question"]
                .as_str()
                .is_some_and(|q| q.starts_with("Capital of"))
        );
        assert!(demo["trajectory"].is_string());
    }
    let extracted: Vec<_> = compiled
        .extract()
        .predict()
        .demos()
        .iter()
        .map(|d| d["answer"].clone())
        .collect();
    assert_eq!(extracted, [json!("Paris"), json!("Tokyo")]);

    let path = std::env::temp_dir().join(format!("dspy-react-{}.json", std::process::id()));
    compiled.save(&path).expect("saves");
    agent.load(&path).expect("loads");
    assert_eq!(agent.react().demos(), compiled.react().demos());
    std::fs::remove_file(&path).ok();
}

#[tokio::test]
async fn best_of_n_samples_distinct_rollouts_and_keeps_the_best() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let lm = Arc::new(ScriptedLm::from_fn(move |req: &ChatRequest| {
        let rollout = req.config.rollout_id.unwrap_or(99);
        if let Ok(mut log) = log.lock() {
            log.push((rollout, req.config.temperature));
        }
        // Rollout r answers r * 10; rollout 1 fails.
        if rollout == 1 {
            return Err(LmError::Other("flaky".into()));
        }
        Ok(format!(
            "[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]",
            rollout * 10
        ))
    }));
    let qa = Predict::<Dynamic>::parse("question -> answer: int").expect("parses");
    let mut input = Fields::new();
    input.insert("question".into(), "a big number?".into());
    let reward = |_: &Fields, out: &Fields| out["answer"].as_f64().unwrap_or(0.0);

    // Nothing reaches 1000: all 4 tried (one fails), the best (30) kept.
    let best = BestOfN::new(qa.clone(), 4, reward, 1000.0);
    let out = dspy::with_lm(lm.clone(), best.forward(input.clone()))
        .await
        .expect("answers");
    assert_eq!(out["answer"], 30);
    let attempts: Vec<_> = seen.lock().expect("log").drain(..).collect();
    let rollouts: Vec<u64> = attempts.iter().map(|(r, _)| *r).collect();
    assert_eq!(rollouts, [0, 1, 2, 3], "one request each; rollout 1 fails");
    assert!(attempts.iter().all(|(_, t)| *t == Some(1.0)));

    // 20 reaches the threshold: no more attempts.
    let best = BestOfN::new(qa.clone(), 4, reward, 20.0);
    let out = dspy::with_lm(lm.clone(), best.forward(input.clone()))
        .await
        .expect("answers");
    assert_eq!(out["answer"], 20);
    assert_eq!(seen.lock().expect("log").last().map(|a| a.0), Some(2));
    seen.lock().expect("log").clear();

    // No failure tolerated: the first failure is returned.
    let strict = BestOfN::new(qa, 4, reward, 1000.0)
        .with_fail_count(0)
        .with_first_rollout(1);
    let error = dspy::with_lm(lm, strict.forward(input)).await.unwrap_err();
    assert!(error.to_string().contains("flaky"), "{error}");
}

#[tokio::test]
async fn refine_gives_advice_to_the_next_attempt() {
    let lm = Arc::new(ScriptedLm::from_fn(|req: &ChatRequest| {
        let system = &req.messages[0].content;
        if system.contains("assign blame") {
            assert!(
                req.messages
                    .last()
                    .is_some_and(|m| m.content.contains("answer"))
            );
            return Ok("[[ ## discussion ## ]]\nThe answer was too small.\n\n[[ ## advice ## ]]\n{\"self\": \"Answer with a number above 100.\"}\n\n[[ ## completed ## ]]".into());
        }
        let advised =
            system.contains("Advice from a previous attempt: Answer with a number above 100.");
        Ok(format!(
            "[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]",
            if advised { 500 } else { 5 }
        ))
    }));
    let qa = Predict::<Dynamic>::parse("question -> answer: int").expect("parses");
    let refine = Refine::new(
        qa,
        3,
        |_: &Fields, out: &Fields| {
            if out["answer"].as_i64().unwrap_or(0) > 100 {
                1.0
            } else {
                0.0
            }
        },
        1.0,
    );
    let paths: Vec<String> = refine
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, ["module", "feedback"]);
    let mut input = Fields::new();
    input.insert("question".into(), "a number?".into());
    let out = dspy::with_lm(lm.clone(), refine.forward(input))
        .await
        .expect("answers");
    assert_eq!(out["answer"], 500);
    // attempt, feedback, advised attempt (which reached the threshold).
    assert_eq!(lm.requests().len(), 3);
    // The program itself was not changed by the advice.
    assert!(
        !refine.named_predictors()[0]
            .1
            .signature()
            .instructions
            .contains("Advice")
    );
}

#[tokio::test]
async fn multi_chain_comparison_needs_exactly_m_attempts_and_can_make_them() {
    let lm = Arc::new(ScriptedLm::from_fn(|req: &ChatRequest| {
        let user = req
            .messages
            .last()
            .map(|m| m.content.as_str())
            .unwrap_or_default();
        Ok(if user.contains("reasoning_attempt_2") {
            "[[ ## rationale ## ]]\nMost say Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]".to_string()
        } else {
            answer(
                &format!("Attempt at rollout {:?}", req.config.rollout_id),
                "Paris",
            )
        })
    }));
    let compare = MultiChainComparison::<Qa>::new(2);
    let error = compare
        .call_with(&*lm, ask("Capital of France?"), &[])
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("0 attempts given; this comparison reads 2"),
        "{error}"
    );
    let cot = ChainOfThought::<Qa>::new();
    let out = compare
        .attempt_and_compare(&cot, lm.clone(), ask("Capital of France?"))
        .await
        .expect("answers");
    assert_eq!(out.answer, "Paris");
    assert_eq!(out.rationale, "Most say Paris.");
    let requests = lm.requests();
    assert_eq!(requests.len(), 3);
    let compare_prompt = &requests[2].messages.last().expect("user").content;
    assert!(compare_prompt.contains(
        "«I'm trying to Attempt at rollout Some(0) I'm not sure but my prediction is Paris»"
    ));
    assert!(compare_prompt.contains(
        "«I'm trying to Attempt at rollout Some(1) I'm not sure but my prediction is Paris»"
    ));
    assert_eq!(requests[2].config.temperature, Some(0.7));
}

#[tokio::test]
async fn program_of_thought_fixes_failing_code_and_answers_from_its_output() {
    use dspy::ProgramOfThought;
    /// Answer a question with a number.
    #[derive(Signature)]
    struct Math {
        #[input]
        question: String,
        #[output]
        answer: f64,
    }
    let lm = ScriptedLm::new([
        "[[ ## reasoning ## ]]\nDivide.\n\n[[ ## generated_code ## ]]\n```python\nprint(84 / zero)\n```\n\n[[ ## completed ## ]]",
        "[[ ## reasoning ## ]]\nDefine it.\n\n[[ ## generated_code ## ]]\n```python\nzero = 2\nfinal_answer(84 / zero)\n```\n\n[[ ## completed ## ]]",
        "[[ ## reasoning ## ]]\nThe code printed 42.0.\n\n[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]",
    ]);
    let pot = ProgramOfThought::<Math>::new();
    let paths: Vec<String> = pot.named_predictors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "code_generate.predict",
            "code_regenerate.predict",
            "generate_output.predict"
        ]
    );
    let out = pot
        .call_with(
            &lm,
            MathInput {
                question: "Half of 84?".into(),
            },
        )
        .await
        .expect("answers");
    assert_eq!(out.answer, 42.0);
    assert_eq!(out.code, "zero = 2\nfinal_answer(84 / zero)");
    assert_eq!(out.code_output, "42.0");
    let requests = lm.requests();
    let retry = &requests[1].messages.last().expect("user").content;
    assert!(
        retry.contains("NameError: name 'zero' is not defined"),
        "{retry}"
    );
    assert!(retry.contains("print(84 / zero)"));
    let last = &requests[2].messages.last().expect("user").content;
    assert!(last.contains("[[ ## code_output ## ]]\n42.0"), "{last}");

    // Code that keeps failing (here: reading a file) ends in a typed error.
    let stubborn = ScriptedLm::from_fn(|_| {
        Ok("[[ ## reasoning ## ]]\nRead it.\n\n[[ ## generated_code ## ]]\nopen('/etc/passwd').read()\n\n[[ ## completed ## ]]".into())
    });
    let error = ProgramOfThought::<Math>::new()
        .with_max_iters(2)
        .call_with(
            &stubborn,
            MathInput {
                question: "?".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, dspy::Error::Module { message, .. } if message.contains("after 2 tries") && message.contains("PermissionError")),
        "{error}"
    );
    assert_eq!(stubborn.requests().len(), 2);
}
