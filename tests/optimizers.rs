//! Few-shot optimizers against scripted LMs: which demos are chosen, and why.

use dspy::embed::{Embedder, HashingEmbedder, OpenAiEmbedder};
use dspy::evaluate::Progress;
use dspy::optimizers::{
    BootstrapFewShot, BootstrapFewShotWithRandomSearch, Ensemble, KnnFewShot, LabeledFewShot,
    Optimizer, majority,
};
use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use dspy::usage::{Price, PriceTable, tracked, tracked_with_budget};
use dspy::{ChatRequest, Error, Example, Fields, Trace};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod common;
use common::*;

fn questions(demos: &[Fields]) -> Vec<String> {
    demos
        .iter()
        .map(|d| d["question"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn quiet() -> BootstrapFewShot {
    BootstrapFewShot::new().progress(Progress::Never)
}

#[tokio::test]
async fn bootstrap_keeps_passing_runs_in_training_order_then_fills_with_labels() {
    // Right for even numbers, wrong for odd ones.
    let lm = Arc::new(ScriptedLm::from_fn(|req| {
        let n = asked(req);
        Ok(reply(if n % 2 == 0 { n + 1 } else { n + 7 }))
    }));
    let optimizer = quiet().max_bootstrapped_demos(3).max_labeled_demos(5);
    let (compiled, report) = compile_add_one(&optimizer, lm, 12).await;

    let demos = compiled.demos();
    assert_eq!(demos.len(), 5);
    assert_eq!(
        questions(&demos[..3]),
        ["0 plus one", "2 plus one", "4 plus one"]
    );
    for demo in &demos[..3] {
        assert_eq!(demo["augmented"], true);
        assert_eq!(demo.keys().next().map(String::as_str), Some("augmented"));
    }
    assert_eq!(demos[1]["answer"], "3");
    // The labeled fill comes from examples that were not bootstrapped, drawn as DSPy
    // draws them: v = [1, 3, 5, 6, 7, 8, 9, 10, 11]; random.Random(0).shuffle(v);
    // random.Random(0).sample(v, 2) == [1, 9].
    for demo in &demos[3..] {
        assert!(demo.get("augmented").is_none());
    }
    assert_eq!(questions(&demos[3..]), ["1 plus one", "9 plus one"]);
    let stats = report.bootstrap.as_ref().expect("stats");
    assert_eq!(
        (stats.examples_tried, stats.successes, stats.attempts),
        (5, 3, 5)
    );
    assert!(report.usage.calls >= 5, "{}", report.usage);
    assert_eq!(report.optimizer, "BootstrapFewShot");
    let text = report.to_string();
    assert!(text.contains("3 of 5 examples passed"), "{text}");
}

#[tokio::test]
async fn the_teacher_never_sees_the_example_it_answers_among_its_demos() {
    let leaks = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&leaks);
    let lm = Arc::new(ScriptedLm::from_fn(move |req| {
        let n = asked(req);
        let q = format!("{n} plus one");
        let mentions: usize = req
            .messages
            .iter()
            .map(|m| m.content.matches(&q).count())
            .sum();
        if mentions > 1 {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        Ok(reply(n + 1))
    }));
    let (compiled, report) = dspy::with_lm(lm, async {
        quiet()
            .max_bootstrapped_demos(4)
            .max_labeled_demos(8)
            .compile(Predict::<AddOne>::new(), &trainset(8), &exact)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(leaks.load(Ordering::SeqCst), 0);
    assert_eq!(report.bootstrap.as_ref().map(|b| b.successes), Some(4));
    assert_eq!(compiled.demos().len(), 8);
}

#[tokio::test]
async fn a_threshold_decides_what_passes() {
    let lm = Arc::new(ScriptedLm::from_fn(|req| Ok(reply(asked(req) + 1))));
    // Scores 0.5 for numbers below 3, 1.0 above.
    let graded = |ex: &Ex, out: &AddOneOutput, trace: Option<&Trace>| -> f64 {
        assert!(
            trace.is_some_and(|t| t.len() == 1),
            "bootstrap metrics see the trace"
        );
        let n: i64 = ex.label.answer.parse().unwrap_or(0);
        if out.answer != ex.label.answer {
            0.0
        } else if n <= 3 {
            0.5
        } else {
            1.0
        }
    };
    let strict = quiet()
        .max_bootstrapped_demos(2)
        .max_labeled_demos(2)
        .metric_threshold(1.0);
    let (compiled, _) = dspy::with_lm(lm.clone(), async {
        strict
            .compile(Predict::<AddOne>::new(), &trainset(8), &graded)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(questions(compiled.demos()), ["3 plus one", "4 plus one"]);

    // Without a threshold any non-zero score passes.
    let lenient = quiet().max_bootstrapped_demos(2).max_labeled_demos(2);
    let (compiled, _) = dspy::with_lm(lm, async {
        lenient
            .compile(Predict::<AddOne>::new(), &trainset(8), &graded)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(questions(compiled.demos()), ["0 plus one", "1 plus one"]);
}

#[tokio::test]
async fn later_rounds_sample_hot_with_a_fresh_seed() {
    let configs = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&configs);
    // Wrong at the default temperature; right when sampled hot with seed 2.
    let lm = Arc::new(ScriptedLm::from_fn(move |req| {
        let n = asked(req);
        if let Ok(mut log) = log.lock() {
            log.push((
                n,
                req.config.temperature,
                req.config.seed,
                req.config.rollout_id,
            ));
        }
        let right = req.config.temperature == Some(1.0) && req.config.seed == Some(2);
        Ok(reply(if right { n + 1 } else { n }))
    }));
    let one_round = quiet().max_bootstrapped_demos(1).max_labeled_demos(0);
    let (compiled, report) = dspy::with_lm(lm.clone(), async {
        one_round
            .compile(Predict::<AddOne>::new(), &trainset(3), &exact)
            .await
    })
    .await
    .expect("compiles");
    assert!(compiled.demos().is_empty());
    assert_eq!(report.bootstrap.as_ref().map(|b| b.attempts), Some(3));

    configs.lock().expect("log").clear();
    let three_rounds = one_round.max_rounds(3).num_threads(1);
    let (compiled, report) = compile_add_one(&three_rounds, lm, 3).await;
    assert_eq!(questions(compiled.demos()), ["0 plus one"]);
    assert_eq!(report.bootstrap.as_ref().map(|b| b.attempts), Some(3));
    assert_eq!(
        *configs.lock().expect("log"),
        [
            (0, None, None, None),
            (0, Some(1.0), Some(1), Some(1)),
            (0, Some(1.0), Some(2), Some(2))
        ]
    );
}

/// Write a short text about a topic.
#[derive(Signature)]
struct Draft {
    #[input]
    topic: String,
    #[output]
    text: String,
}

/// Count the words of a text.
#[derive(Signature)]
struct Count {
    #[input]
    text: String,
    #[output]
    words: u32,
}

#[derive(Module, Clone)]
struct Pipeline {
    draft: Predict<Draft>,
    count: Predict<Count>,
}

impl Program for Pipeline {
    type Input = DraftInput;
    type Output = CountOutput;
    async fn forward(&self, input: DraftInput) -> dspy::Result<CountOutput> {
        let draft = self.draft.call(input).await?;
        self.count.call(CountInput { text: draft.text }).await
    }
}

#[tokio::test]
async fn every_predictor_of_a_program_gets_demos_from_the_same_runs() {
    let lm = Arc::new(ScriptedLm::from_fn(|req| {
        let last = &req
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        if let Some(rest) = last.split("[[ ## topic ## ]]\n").nth(1) {
            let topic = rest.split("\n\n").next().unwrap_or_default();
            Ok(format!("[[ ## text ## ]]\nall about {topic}"))
        } else {
            let text = last
                .split("[[ ## text ## ]]\n")
                .nth(1)
                .and_then(|r| r.split("\n\n").next())
                .unwrap_or_default();
            Ok(format!(
                "[[ ## words ## ]]\n{}",
                text.split_whitespace().count()
            ))
        }
    }));
    let data: Vec<Example<DraftInput, CountOutput>> = ["cats", "big dogs", "owls", "red fish"]
        .iter()
        .map(|t| {
            Example::new(
                DraftInput { topic: (*t).into() },
                CountOutput {
                    words: 2 + t.split(' ').count() as u32,
                },
            )
        })
        .collect();
    let metric =
        |ex: &Example<DraftInput, CountOutput>, out: &CountOutput, trace: Option<&Trace>| {
            trace.is_none_or(|t| t.len() == 2) && out.words == ex.label.words
        };
    let program = Pipeline {
        draft: Predict::new(),
        count: Predict::new(),
    };
    let (compiled, report) = dspy::with_lm(lm, async {
        quiet()
            .max_bootstrapped_demos(2)
            .max_labeled_demos(2)
            .compile(program, &data, &metric)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(report.bootstrap.as_ref().map(|b| b.successes), Some(2));
    let draft = compiled.draft.demos();
    assert_eq!(draft.len(), 2);
    assert_eq!(draft[0]["topic"], "cats");
    assert_eq!(draft[0]["text"], "all about cats");
    let count = compiled.count.demos();
    assert_eq!(count[1]["text"], "all about big dogs");
    assert_eq!(count[1]["words"], 4);
    assert!(count.iter().all(|d| d["augmented"] == true));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_demos_whatever_the_concurrency() {
    let lm = Arc::new(ScriptedLm::from_fn(|req| {
        let n = asked(req);
        Ok(reply(if n % 3 == 0 { n } else { n + 1 }))
    }));
    let data = trainset(30);
    let run = |threads: usize, seed: u64| {
        let lm = lm.clone();
        let data = data.clone();
        async move {
            let optimizer = quiet()
                .max_bootstrapped_demos(4)
                .max_labeled_demos(10)
                .num_threads(threads)
                .seed(seed);
            let (p, _) = dspy::with_lm(lm, async {
                optimizer
                    .compile(Predict::<AddOne>::new(), &data, &exact)
                    .await
            })
            .await
            .expect("compiles");
            questions(p.demos())
        }
    };
    let a = run(1, 5).await;
    assert_eq!(a.len(), 10);
    assert_eq!(a, run(8, 5).await);
    assert_eq!(
        a[..4],
        ["1 plus one", "2 plus one", "4 plus one", "5 plus one"]
    );
    assert_ne!(a, run(8, 6).await, "another seed, another labeled sample");
}

#[tokio::test]
async fn too_many_errors_stop_the_compile_with_the_cause() {
    let lm = Arc::new(ScriptedLm::from_fn(|_| Ok("no fields here".to_string())));
    let err = dspy::with_lm(lm, async {
        quiet()
            .max_errors(3)
            .compile(Predict::<AddOne>::new(), &trainset(10), &exact)
            .await
    })
    .await
    .expect_err("gives up");
    let text = err.to_string();
    assert!(matches!(err, Error::Optimizer { .. }), "{text}");
    assert!(text.contains("3 teacher runs failed"), "{text}");
    assert!(text.contains("answer"), "names the missing field: {text}");
}

#[tokio::test]
async fn a_call_budget_stops_bootstrapping_and_keeps_what_it_found() {
    let lm = Arc::new(ScriptedLm::from_fn(|req| Ok(reply(asked(req) + 1))));
    let (compiled, report) = dspy::with_lm(lm, async {
        quiet()
            .max_bootstrapped_demos(8)
            .max_labeled_demos(8)
            .num_threads(1)
            .max_lm_calls(3)
            .prices(PriceTable::new().with("scripted", Price::per_million(1.0, 2.0)))
            .compile(Predict::<AddOne>::new(), &trainset(10), &exact)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(report.usage.calls, 3);
    assert!(
        report
            .stopped_early
            .as_deref()
            .is_some_and(|s| s.contains("budget"))
    );
    assert_eq!(report.bootstrap.as_ref().map(|b| b.successes), Some(3));
    assert_eq!(compiled.demos().len(), 8);
    assert!(report.cost.is_some());
}

#[tokio::test]
async fn random_search_follows_dspys_schedule_and_keeps_the_best() {
    // The LM is right only when it sees at least two demos.
    let lm = Arc::new(ScriptedLm::from_fn(|req| {
        let n = asked(req);
        Ok(reply(if demo_count(req) >= 2 { n + 1 } else { n }))
    }));
    let train = trainset(10);
    let val: Vec<Ex> = trainset(16)[10..].to_vec();
    let search = BootstrapFewShotWithRandomSearch::new()
        .num_candidate_programs(3)
        .max_bootstrapped_demos(3)
        .max_labeled_demos(4)
        .seed(11)
        .progress(Progress::Never);
    let (best, report) = dspy::with_lm(lm, async {
        search
            .compile_with_valset(Predict::<AddOne>::new(), &train, Some(&val), &exact)
            .await
    })
    .await
    .expect("compiles");
    let labels: Vec<&str> = report.candidates.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels.len(), 6);
    assert_eq!(labels[0], "zero-shot");
    assert_eq!(labels[1], "labeled (4)");
    assert!(labels[2].starts_with("bootstrap, training order"));
    // Candidate s bootstraps random.Random(11 + s).randint(1, 3) demos: 2, 2 and 2.
    assert_eq!(
        labels[3..],
        [
            "bootstrap, seed 0 (2)",
            "bootstrap, seed 1 (2)",
            "bootstrap, seed 2 (2)"
        ]
    );
    assert_eq!(report.candidates[0].score, 0.0);
    assert_eq!(report.candidates[0].demos, [(String::new(), 0)]);
    assert_eq!(report.candidates[1].score, 1.0);
    assert_eq!(report.best, Some(1), "ties keep the earlier candidate");
    assert_eq!(best.demos().len(), 4);
    assert!(report.to_string().contains("zero-shot"));
    // The labeled candidate has no teacher runs, so with a zero-shot teacher the bootstrap
    // candidates found nothing: the teacher was given labeled demos.
    assert!(report.bootstrap.as_ref().is_some_and(|b| b.successes > 0));

    let json = report.to_json();
    assert_eq!(json["candidates"].as_array().map(Vec::len), Some(6));
    let path = std::env::temp_dir().join(format!("dspy-report-{}.json", std::process::id()));
    report.save(&path).expect("saves");
    let back: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reads")).expect("json");
    assert_eq!(back["optimizer"], "BootstrapFewShotWithRandomSearch");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn random_search_stops_at_the_target_score() {
    let lm = Arc::new(ScriptedLm::from_fn(|req| Ok(reply(asked(req) + 1))));
    let (_, report) = dspy::with_lm(lm, async {
        BootstrapFewShotWithRandomSearch::new()
            .num_candidate_programs(4)
            .stop_at_score(1.0)
            .progress(Progress::Never)
            .compile(Predict::<AddOne>::new(), &trainset(6), &exact)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(report.candidates.len(), 1);
    assert!(report.stopped_early.is_some());
}

#[tokio::test]
async fn labeled_few_shot_is_an_optimizer_too() {
    let lm = ScriptedLm::new(Vec::<String>::new());
    let optimizers_agree = LabeledFewShot::new(3)
        .seed(2)
        .compile(Predict::<AddOne>::new(), &trainset(9))
        .expect("compiles");
    let (via_trait, report) = dspy::with_lm(Arc::new(lm), async {
        Optimizer::compile(
            &LabeledFewShot::new(3).seed(2),
            Predict::<AddOne>::new(),
            &trainset(9),
            &exact,
        )
        .await
    })
    .await
    .expect("compiles");
    assert_eq!(
        questions(via_trait.demos()),
        questions(optimizers_agree.demos())
    );
    assert_eq!(report.usage.calls, 0);
}

#[tokio::test]
async fn knn_gives_each_call_its_nearest_examples_as_demos() {
    let topics = [
        "the striker scored a late goal",
        "the goalkeeper saved a penalty kick",
        "interest rates rose at the central bank",
        "the bank cut its lending rates",
        "a new comet was seen by the telescope",
        "astronomers saw a comet near the planet",
    ];
    let train: Vec<Ex> = topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Example::split(AddOne {
                question: (*t).to_string(),
                answer: i.to_string(),
            })
        })
        .collect();
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&prompts);
    let lm = Arc::new(ScriptedLm::from_fn(move |req| {
        if let Ok(mut log) = log.lock() {
            log.push(req.messages.clone());
        }
        Ok(reply("x"))
    }));
    let (knn, report) = KnnFewShot::new(2, Arc::new(HashingEmbedder::new(256)))
        .compile(Predict::<AddOne>::new(), &train)
        .await
        .expect("compiles");
    assert_eq!(report.optimizer, "KnnFewShot");
    let input = AddOneInput {
        question: "a comet and the telescope".into(),
    };
    let demos = knn.demos_for(&input).await.expect("neighbours");
    assert_eq!(
        questions(&demos),
        [
            "a new comet was seen by the telescope",
            "astronomers saw a comet near the planet"
        ]
    );
    dspy::with_lm(lm, knn.forward(input)).await.expect("runs");
    let sent = prompts.lock().expect("log");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].len(), 6, "system, two demos, the input");
    assert!(sent[0][1].content.contains("comet"));
    assert!(
        knn.student().demos().is_empty(),
        "the student is not changed"
    );
}

#[tokio::test]
async fn openai_embeddings_over_http() {
    let server = StubServer::start(|req| {
        let inputs = req.body["input"].as_array().cloned().unwrap_or_default();
        // Answer out of order, as the API allows: the index says which is which.
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .rev()
            .map(|(i, text)| {
                let len = text.as_str().map_or(0, str::len) as f64;
                json!({"object": "embedding", "index": i, "embedding": [len, 1.0]})
            })
            .collect();
        Reply::Status {
            status: 200,
            body: json!({"object": "list", "data": data, "model": "e"}).to_string(),
            headers: Vec::new(),
        }
    })
    .await
    .expect("server");
    let embedder = OpenAiEmbedder::new(server.url(), "nomic-embed").with_batch_size(2);
    let texts: Vec<String> = ["a", "bbb", "cc"].iter().map(|s| s.to_string()).collect();
    let vectors = embedder.embed(&texts).await.expect("embeds");
    assert_eq!(vectors, [vec![1.0, 1.0], vec![3.0, 1.0], vec![2.0, 1.0]]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "batches of two");
    assert_eq!(requests[0].path, "/v1/embeddings");
    assert_eq!(requests[0].body["model"], "nomic-embed");

    let broken = StubServer::scripted([Reply::Status {
        status: 200,
        body: r#"{"data": [{"index": 0}]}"#.into(),
        headers: Vec::new(),
    }])
    .await
    .expect("server");
    let err = OpenAiEmbedder::new(broken.url(), "e")
        .embed(&texts[..1])
        .await
        .expect_err("malformed");
    assert!(err.to_string().contains("embedding"), "{err}");
    let refused = StubServer::scripted([Reply::error(401, "bad key")])
        .await
        .expect("server");
    let err = OpenAiEmbedder::new(refused.url(), "e")
        .embed(&texts[..1])
        .await
        .expect_err("401");
    assert!(err.to_string().contains("bad key"), "{err}");
}

#[tokio::test]
async fn ensemble_votes_and_reduces() {
    let voter = |answer: &str| {
        Predict::<AddOne>::new().with_lm(ScriptedLm::from_fn({
            let answer = answer.to_string();
            move |_| Ok(reply(&answer))
        }))
    };
    let ensemble = Ensemble::new(vec![voter("7"), voter("8"), voter("8"), voter("7")]);
    let input = AddOneInput {
        question: "6 plus one".into(),
    };
    let out = ensemble.forward(input.clone()).await.expect("votes");
    assert_eq!(out.answer, "7", "a tie goes to the first value seen");
    let paths: Vec<String> = ensemble
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        paths,
        ["programs.0", "programs.1", "programs.2", "programs.3"]
    );

    let longest = Ensemble::new(vec![voter("1"), voter("333"), voter("22")]).reduce_with(|outs| {
        outs.into_iter()
            .max_by_key(|o: &AddOneOutput| o.answer.len())
            .ok_or_else(|| Error::Optimizer {
                optimizer: "test".into(),
                message: "empty".into(),
            })
    });
    assert_eq!(
        longest
            .forward(input.clone())
            .await
            .expect("reduces")
            .answer,
        "333"
    );

    let failing = Predict::<AddOne>::new().with_lm(ScriptedLm::from_fn(|_| Ok("junk".into())));
    let mixed = Ensemble::new(vec![failing.clone(), voter("9")]);
    assert_eq!(
        mixed
            .forward(input.clone())
            .await
            .expect("one answered")
            .answer,
        "9"
    );
    let all_fail = Ensemble::new(vec![failing.clone(), failing]);
    assert!(matches!(
        all_fail.forward(input.clone()).await,
        Err(Error::Parse(_))
    ));

    let ((), usage) = tracked(async {
        let sampled = Ensemble::new(vec![voter("1"), voter("2"), voter("3")])
            .size(2)
            .seed(4);
        sampled.forward(input.clone()).await.expect("runs");
    })
    .await;
    assert_eq!(usage.calls, 2, "size 2 runs two programs");
    assert_eq!(
        majority(vec![json!({"a": 1, "b": "x"}), json!({"a": 2, "b": "X "})]),
        Some(json!({"a": 1, "b": "x"}))
    );
    assert_eq!(majority(Vec::<Value>::new()), None);
}

#[tokio::test]
async fn usage_nests_and_budgets_refuse_calls() {
    let lm = ScriptedLm::from_fn(|req| Ok(reply(asked(req) + 1)));
    let p = Predict::<AddOne>::new();
    let ask = |n: i32| AddOneInput {
        question: format!("{n} plus one"),
    };
    let ((inner, outer_only), outer) = tracked(async {
        let ((), inner) = tracked(async {
            p.call_with(&lm, ask(1)).await.expect("ok");
        })
        .await;
        p.call_with(&lm, ask(2)).await.expect("ok");
        (inner, dspy::usage::current().map(|u| u.calls))
    })
    .await;
    assert_eq!(inner.calls, 1);
    assert_eq!(outer.calls, 2);
    assert_eq!(outer_only, Some(2));
    assert_eq!(outer.by_model["scripted"].calls, 2);

    let (results, usage) = tracked_with_budget(2, async {
        let mut results = Vec::new();
        for n in 0..4 {
            results.push(p.call_with(&lm, ask(n)).await);
        }
        results
    })
    .await;
    assert_eq!(usage.calls, 2);
    assert!(results[1].is_ok());
    assert!(matches!(
        results[2],
        Err(Error::BudgetExhausted { limit: 2 })
    ));
}

#[tokio::test]
async fn copro_proposes_scores_and_climbs_with_the_attempts_it_saw() {
    use dspy::optimizers::Copro;
    // The task LM answers right only when its instructions say "carefully"; the proposer
    // offers "Add one." first, and "Add one carefully." once it has seen scored attempts.
    let attempts_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts_seen);
    let lm = Arc::new(ScriptedLm::from_fn(move |req: &ChatRequest| {
        let system = &req.messages[0].content;
        let user = req
            .messages
            .last()
            .map(|m| m.content.as_str())
            .unwrap_or_default();
        if system.contains("instruction optimizer") {
            let proposal = if user.contains("Resulting Score") {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(user.to_string());
                }
                "Add one carefully."
            } else {
                "Add one."
            };
            return Ok(format!(
                "[[ ## proposed_instruction ## ]]\n{proposal}\n\n[[ ## proposed_prefix_for_output_field ## ]]\nAnswer:\n\n[[ ## completed ## ]]"
            ));
        }
        let n = asked(req);
        Ok(reply(if system.contains("carefully") {
            n + 1
        } else {
            n
        }))
    }));
    let copro = Copro::new()
        .breadth(2)
        .depth(2)
        .num_threads(1)
        .progress(Progress::Never);
    let (compiled, report) = compile_add_one(&copro, lm, 4).await;
    assert_eq!(compiled.instructions(), "Add one carefully.");
    // Depth 0: one proposal and the original; depth 1: one new proposal.
    let scores: Vec<f64> = report.candidates.iter().map(|c| c.score).collect();
    assert_eq!(scores, [0.0, 0.0, 1.0]);
    assert_eq!(report.best, Some(2));
    assert_eq!(
        report.candidates[2].instructions,
        [(String::new(), "Add one carefully.".to_string())]
    );
    let json = report.to_json();
    assert_eq!(
        json["candidates"][2]["instructions"][0][1],
        "Add one carefully."
    );
    // The second round's proposer saw the attempts with their scores, worst first.
    let seen = attempts_seen.lock().expect("log");
    assert!(
        seen[0].contains("Instruction #1:") && seen[0].contains("Resulting Score #1: 0"),
        "{}",
        seen[0]
    );
    // The output field's prefix was set from the proposal.
    assert_eq!(compiled.signature().outputs[0].prefix, "Answer:");
}

#[tokio::test]
async fn copro_returns_the_candidate_its_report_marks_best_when_scores_tie() {
    use dspy::optimizers::Copro;
    // Every instruction scores the same: the first candidate scored is the best, in the
    // report and in the program returned (Python's `max` keeps the first of equals).
    let proposals = Arc::new(Mutex::new(0));
    let count = Arc::clone(&proposals);
    let lm = Arc::new(ScriptedLm::from_fn(move |req: &ChatRequest| {
        if req.messages[0].content.contains("instruction optimizer") {
            let n = count.lock().map(|mut c| {
                *c += 1;
                *c
            });
            let n = n.unwrap_or_default();
            return Ok(format!(
                "[[ ## proposed_instruction ## ]]\nProposal {n}.\n\n[[ ## proposed_prefix_for_output_field ## ]]\n\n\n[[ ## completed ## ]]"
            ));
        }
        Ok(reply(asked(req) + 1))
    }));
    let copro = Copro::new()
        .breadth(3)
        .depth(2)
        .num_threads(1)
        .progress(Progress::Never);
    let (compiled, report) = compile_add_one(&copro, lm, 4).await;
    assert!(report.candidates.len() >= 3, "{}", report.candidates.len());
    assert!(report.candidates.iter().all(|c| c.score == 1.0));
    let best = report.best.expect("a best candidate");
    assert_eq!(best, 0);
    assert_eq!(
        compiled.instructions(),
        report.candidates[best].instructions[0].1
    );
    assert_eq!(report.candidates[0].label, "depth 0");
}

/// A scripted LM for MIPROv2: the proposer's signatures get fixed answers (the instruction
/// proposed is "Add one carefully."), and the task is answered right only under an
/// instruction that says "carefully". Every proposer prompt is logged.
fn mipro_lm(log: Arc<Mutex<Vec<String>>>) -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(move |req: &ChatRequest| {
        let system = req.messages[0].content.clone();
        let user = req
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let answer = |field: &str, text: &str| {
            format!("[[ ## {field} ## ]]\n{text}\n\n[[ ## completed ## ]]")
        };
        let proposer = [
            (
                "write observations about trends",
                "observations",
                "Numbers, each asked plus one.",
            ),
            (
                "summarize them into a brief",
                "summary",
                "Questions that add one to a number.",
            ),
            (
                "describe what type of task this program",
                "program_description",
                "It adds one.",
            ),
            (
                "describe the purpose of one of the specified module",
                "module_description",
                "The adder.",
            ),
            (
                "generate a new instruction",
                "proposed_instruction",
                "Proposed Instruction: Add one carefully.",
            ),
        ];
        for (marker, field, text) in proposer {
            if system.contains(marker) {
                if let Ok(mut log) = log.lock() {
                    log.push(format!("{field}\n{user}"));
                }
                return Ok(answer(field, text));
            }
        }
        let n = asked(req);
        Ok(reply(if system.contains("carefully") {
            n + 1
        } else {
            n
        }))
    }))
}

#[tokio::test]
async fn mipro_proposes_grounded_instructions_and_the_search_keeps_the_best() {
    use dspy::optimizers::MiproV2;
    let log = Arc::new(Mutex::new(Vec::new()));
    let lm = mipro_lm(Arc::clone(&log));
    let mipro = MiproV2::new()
        .auto(None)
        .num_candidates(3)
        .num_trials(6)
        .minibatch(false)
        .max_bootstrapped_demos(1)
        .max_labeled_demos(1)
        .num_threads(2)
        .progress(Progress::Never);
    // 10 examples and no valset: 2 to train on, the last 8 to score.
    let (compiled, report) = compile_add_one(&mipro, lm, 10).await;
    assert_eq!(compiled.instructions(), "Add one carefully.");
    assert_eq!(report.best_score(), Some(1.0));
    // Trial 1 is the program as given, scored 0 on all 8 validation examples.
    assert_eq!(report.candidates[0].score, 0.0);
    assert_eq!(
        report.candidates[0].label,
        "trial 1: the program as given (full)"
    );
    assert_eq!(report.candidates.len(), 7);
    let details = report.details.as_ref().expect("details");
    assert_eq!(details["settings"]["valset_size"], 8);
    assert_eq!(details["settings"]["trainset_size"], 2);
    // The original instruction is candidate 0; the two proposals were one text, kept once.
    assert_eq!(
        details["instruction_candidates"][""],
        json!(["Add one to a number.", "Add one carefully."])
    );
    // Three demo sets (zero-shot, labeled, bootstrapped), every trial naming one of them.
    assert_eq!(
        details["demo_candidates"][""].as_array().map(Vec::len),
        Some(3)
    );
    assert!(
        report
            .candidates
            .iter()
            .all(|c| c.demo_sets.len() == 1 && c.demo_sets[0].1 < 3)
    );
    // The proposer saw the dataset summary, the program outline and a module description.
    let log = log.lock().expect("log");
    let proposals: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("proposed_instruction"))
        .collect();
    assert_eq!(proposals.len(), 2, "DSPy's replaced proposal 0 is not made");
    assert!(proposals[0].contains("Questions that add one to a number."));
    assert!(
        proposals[0].contains("Predict(AddOne(question: str) -> answer: str)"),
        "{}",
        proposals[0]
    );
    assert!(proposals[0].contains("The adder."));
    assert!(
        proposals[0].contains("Add one to a number."),
        "the basic instruction is shown"
    );
}

#[tokio::test]
async fn mipro_scores_minibatches_and_fully_scores_the_best_every_few_trials() {
    use dspy::optimizers::MiproV2;
    let lm = mipro_lm(Arc::new(Mutex::new(Vec::new())));
    let mipro = MiproV2::new()
        .auto(None)
        .num_candidates(3)
        .num_trials(7)
        .minibatch_size(3)
        .minibatch_full_eval_steps(5)
        .max_bootstrapped_demos(1)
        .max_labeled_demos(1)
        .num_threads(1)
        .progress(Progress::Never);
    let train = trainset(10);
    let (compiled, report) = dspy::with_lm(lm, async {
        mipro
            .compile_with_valset(
                Predict::<AddOne>::new(),
                &train[..2],
                Some(&train[2..]),
                &exact,
            )
            .await
    })
    .await
    .expect("compiles");
    let minibatches = report
        .candidates
        .iter()
        .filter(|c| c.examples == Some(3))
        .count();
    let full: Vec<&str> = report
        .candidates
        .iter()
        .filter(|c| c.examples.is_none())
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(minibatches, 7, "every trial is a minibatch of 3");
    // The default, then a full evaluation after trial 6 and after the last trial.
    assert_eq!(full.len(), 3, "{full:?}");
    assert!(full[1].starts_with("full evaluation of") && full[2].starts_with("full evaluation of"));
    // Only fully scored programs are returned.
    let best = &report.candidates[report.best.expect("best")];
    assert!(best.examples.is_none());
    assert_eq!(compiled.instructions(), best.instructions[0].1);
}

#[tokio::test]
async fn mipro_checks_its_settings_and_stops_at_the_budget() {
    use dspy::optimizers::MiproV2;
    let lm = mipro_lm(Arc::new(Mutex::new(Vec::new())));
    let both = MiproV2::new().num_candidates(3);
    let err = dspy::with_lm(Arc::clone(&lm) as Arc<dyn dspy::LM>, async {
        both.compile(Predict::<AddOne>::new(), &trainset(10), &exact)
            .await
    })
    .await
    .expect_err("auto and num_candidates together");
    assert!(err.to_string().contains("auto(None)"), "{err}");
    let err = dspy::with_lm(Arc::clone(&lm) as Arc<dyn dspy::LM>, async {
        MiproV2::new()
            .progress(Progress::Never)
            .compile(Predict::<AddOne>::new(), &trainset(1), &exact)
            .await
    })
    .await
    .expect_err("one example and no valset");
    assert!(err.to_string().contains("at least 2"), "{err}");
    // 12 calls: the bootstrap and the proposer take some, the default's evaluation the rest.
    let budgeted = MiproV2::new()
        .auto(None)
        .num_candidates(3)
        .num_trials(20)
        .minibatch(false)
        .max_lm_calls(12)
        .progress(Progress::Never);
    let (program, report) = dspy::with_lm(lm, async {
        budgeted
            .compile(Predict::<AddOne>::new(), &trainset(10), &exact)
            .await
    })
    .await
    .expect("a spent budget is not an error");
    assert!(report.stopped_early.is_some());
    assert!(report.usage.calls <= 12, "{}", report.usage.calls);
    // Whatever it found, the program is a usable AddOne predictor.
    assert!(!program.instructions().is_empty());
}

#[tokio::test]
async fn gepa_reflects_on_feedback_accepts_a_better_instruction_and_keeps_its_lineage() {
    use dspy::optimizers::{Gepa, ScoreWithFeedback};
    // The task is answered right only under an instruction that says "carefully"; the
    // reflection LM proposes that instruction once it has read feedback naming the answer.
    let reflections = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reflections);
    let lm = Arc::new(ScriptedLm::from_fn(move |req: &ChatRequest| {
        let first = &req.messages[0].content;
        if first.starts_with("I provided an assistant") {
            if let Ok(mut seen) = seen.lock() {
                seen.push(first.clone());
            }
            return Ok("Here it is:\n```\nAdd one to the number, carefully.\n```".to_string());
        }
        let n = asked(req);
        Ok(reply(if first.contains("carefully") {
            n + 1
        } else {
            n
        }))
    }));
    let metric = |ex: &Ex, out: &AddOneOutput, _: Option<&Trace>, predictor: Option<&str>| {
        let right = out.answer == ex.label.answer;
        let feedback = if right {
            "Correct.".to_string()
        } else {
            format!(
                "Wrong: the answer is {} (predictor `{}`).",
                ex.label.answer,
                predictor.unwrap_or("?")
            )
        };
        ScoreWithFeedback::new(if right { 1.0 } else { 0.0 }, feedback)
    };
    let gepa = Gepa::new()
        .max_metric_calls(40)
        .reflection_minibatch_size(2)
        .num_threads(2)
        .progress(Progress::Never);
    let train = trainset(8);
    let (compiled, report) = dspy::with_lm(lm, async {
        gepa.compile_with_feedback(
            Predict::<AddOne>::new(),
            &train[..4],
            Some(&train[4..]),
            &metric,
        )
        .await
    })
    .await
    .expect("compiles");
    assert_eq!(compiled.instructions(), "Add one to the number, carefully.");
    assert_eq!(report.best_score(), Some(1.0));
    // The seed scored 0 on the 4 validation examples; the first mutation came from it.
    assert_eq!(report.candidates[0].score, 0.0);
    let best = &report.candidates[report.best.expect("best")];
    assert_eq!(best.parents, [0]);
    assert!(best.label.starts_with("mutation of 0"), "{}", best.label);
    let details = report.details.as_ref().expect("details");
    assert_eq!(details["lineage"][1]["parents"], json!([0]));
    assert!(details["metric_calls"].as_u64().unwrap_or(0) <= 40 + 4);
    // The front: every validation example is best solved by the accepted candidate.
    for example in details["pareto_front"].as_array().expect("front") {
        assert_eq!(example["score"], 1.0);
        assert!(
            example["candidates"]
                .as_array()
                .is_some_and(|c| c.contains(&json!(report.best)))
        );
    }
    // The reflection read the instruction, the inputs, the outputs and the feedback.
    let prompts = reflections.lock().expect("log");
    assert!(!prompts.is_empty());
    let prompt = &prompts[0];
    assert!(
        prompt.contains("```\nAdd one to a number.\n```"),
        "{prompt}"
    );
    assert!(prompt.contains("## Inputs\n### question\n"), "{prompt}");
    assert!(
        prompt.contains("## Generated Outputs\n### answer\n"),
        "{prompt}"
    );
    assert!(
        prompt.contains("## Feedback\nWrong: the answer is"),
        "{prompt}"
    );
    assert!(
        prompt.contains("(predictor ``)"),
        "feedback was asked for the predictor by path"
    );
}

#[tokio::test]
async fn gepa_rejects_mutations_that_do_not_improve_the_minibatch_and_respects_the_budget() {
    use dspy::optimizers::Gepa;
    // The reflection proposes an instruction that changes nothing: every mutation ties
    // its parent on the minibatch and is rejected.
    let lm = Arc::new(ScriptedLm::from_fn(move |req: &ChatRequest| {
        if req.messages[0]
            .content
            .starts_with("I provided an assistant")
        {
            return Ok("```\nAdd one, please.\n```".to_string());
        }
        Ok(reply(asked(req)))
    }));
    let gepa = Gepa::new()
        .max_metric_calls(20)
        .reflection_minibatch_size(2)
        .num_threads(1)
        .progress(Progress::Never);
    let (compiled, report) = dspy::with_lm(lm, async {
        gepa.compile(Predict::<AddOne>::new(), &trainset(4), &exact)
            .await
    })
    .await
    .expect("compiles");
    assert_eq!(
        compiled.instructions(),
        "Add one to a number.",
        "no mutation was accepted"
    );
    assert_eq!(report.best, Some(0));
    let rejected = report
        .candidates
        .iter()
        .filter(|c| c.label.contains("rejected"))
        .count();
    // Seed: 4 calls; each iteration: 2 + 2. Stops once 20 metric calls are spent.
    assert_eq!(
        rejected,
        4,
        "{:#?}",
        report
            .candidates
            .iter()
            .map(|c| &c.label)
            .collect::<Vec<_>>()
    );
    assert!(
        report
            .candidates
            .iter()
            .skip(1)
            .all(|c| c.examples == Some(2) && c.parents == [0])
    );
    assert_eq!(
        report.details.as_ref().expect("details")["metric_calls"],
        20
    );
    // No budget at all is a typed error.
    let err = Gepa::new()
        .auto(None)
        .compile(Predict::<AddOne>::new(), &trainset(4), &exact)
        .await
        .expect_err("no budget");
    assert!(err.to_string().contains("set a budget"), "{err}");
}

#[tokio::test]
async fn mipro_zero_shot_searches_instructions_only() {
    use dspy::optimizers::{Auto, MiproV2};
    let log = Arc::new(Mutex::new(Vec::new()));
    let lm = mipro_lm(Arc::clone(&log));
    // auto light in zero-shot mode: 6 instructions wanted, 9 trials, no minibatches for a
    // valset of 8. Proposals are made per demo set (bootstrapped for the proposer only):
    // zero-shot, training order and 3 shuffles (no labeled set: zero-shot shows none), so
    // DSPy makes 5 and replaces the first with the original: 4 here.
    let mipro = MiproV2::new()
        .auto(Some(Auto::Light))
        .max_bootstrapped_demos(0)
        .max_labeled_demos(0)
        .num_threads(2)
        .progress(Progress::Never);
    let (compiled, report) = compile_add_one(&mipro, lm, 10).await;
    assert_eq!(compiled.instructions(), "Add one carefully.");
    assert!(compiled.demos().is_empty(), "zero-shot mode adds no demos");
    let details = report.details.as_ref().expect("details");
    assert_eq!(details["settings"]["zero_shot"], true);
    assert_eq!(details["settings"]["num_trials"], 9);
    assert_eq!(details["settings"]["minibatch"], false);
    assert!(
        report
            .candidates
            .iter()
            .all(|c| c.demo_sets.is_empty() && c.examples.is_none())
    );
    assert_eq!(report.candidates.len(), 1 + 9);
    let proposals = log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| l.starts_with("proposed_instruction"))
        .count();
    assert_eq!(proposals, 4);
}
