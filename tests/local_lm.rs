//! The real local model (feature `local`): Predict, ChainOfThought, typed parsing through
//! the chat adapter, and grammar-constrained JSON that always parses.
//!
//! Needs the model (`scripts/install-model.sh`). In CI (`CI` set) a missing model fails;
//! elsewhere these tests say so and do nothing.
#![cfg(feature = "local")]

use dspy::lm::{LmError, LocalLm};
use dspy::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::OnceLock;

fn lm() -> Option<&'static LocalLm> {
    static LM: OnceLock<Option<LocalLm>> = OnceLock::new();
    LM.get_or_init(|| {
        let path = LocalLm::env_model_path();
        if !path.is_file() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install the model: {}",
                path.display()
            );
            eprintln!(
                "local_lm: no model at {} (run scripts/install-model.sh); not checked",
                path.display()
            );
            return None;
        }
        Some(LocalLm::load(path).expect("the model loads"))
    })
    .as_ref()
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
}

/// Classify the sentiment of a movie review.
#[derive(Signature)]
struct Classify {
    #[input]
    review: String,
    #[output]
    sentiment: Sentiment,
}

fn demos() -> Vec<dspy::Fields> {
    [
        ("An absolute joy from start to finish.", "positive"),
        ("Tedious, predictable and badly acted.", "negative"),
        ("The best film I have seen this year.", "positive"),
        ("I walked out after twenty minutes.", "negative"),
    ]
    .iter()
    .map(|(r, s)| {
        json!({"review": r, "sentiment": s})
            .as_object()
            .cloned()
            .expect("object")
    })
    .collect()
}

#[tokio::test]
async fn few_shot_predict_parses_through_the_chat_adapter() {
    let Some(lm) = lm() else { return };
    let classify = Predict::<Classify>::new()
        .with_demos(demos())
        .with_json_fallback(false);
    for review in [
        "A warm, funny and clever movie.",
        "Boring. Just boring.",
        "Great acting and a great story.",
    ] {
        let out = classify
            .call_with(
                lm,
                ClassifyInput {
                    review: review.into(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{review}: {e}"));
        eprintln!("{review} -> {:?}", out.sentiment);
    }
}

#[tokio::test]
async fn chain_of_thought_gives_reasoning_and_a_typed_answer() {
    let Some(lm) = lm() else { return };
    let with_reasoning: Vec<dspy::Fields> = demos()
        .into_iter()
        .map(|mut d| {
            let why = if d["sentiment"] == "positive" {
                "The reviewer praises it."
            } else {
                "The reviewer complains."
            };
            d.insert("reasoning".into(), why.into());
            d
        })
        .collect();
    let cot = ChainOfThought::<Classify>::new().with_demos(with_reasoning);
    let out = cot
        .call_with(
            lm,
            ClassifyInput {
                review: "A dreadful waste of two hours.".into(),
            },
        )
        .await
        .expect("parses");
    assert!(!out.reasoning.trim().is_empty());
    eprintln!(
        "reasoning: {:?}, sentiment: {:?}",
        out.reasoning, out.sentiment
    );
}

/// Extract facts about a product from its description.
#[derive(Signature)]
struct Extract {
    #[input]
    description: String,
    #[output]
    name: String,
    #[output]
    price: f64,
    #[output]
    in_stock: bool,
    #[output]
    tags: Vec<String>,
    #[output]
    rating: Option<u8>,
    #[output]
    dims: Dims,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Dims {
    width_cm: f64,
    height_cm: f64,
}

#[tokio::test]
async fn constrained_json_output_always_parses() {
    let Some(lm) = lm() else { return };
    let inputs = [
        "A red ceramic mug, 12 euros, in stock.",
        "Wireless headphones with noise cancelling; $199; sold out.",
        "Oak dining table 180x90 cm, 750 EUR, ships in 3 weeks.",
        "Paperback novel, 9.99, rated 4 stars.",
        "USB-C cable, 2 m, 8 dollars, available now.",
        "Vintage poster (50 x 70), 35 pounds, one left.",
        "Ergonomic office chair, lumbar support, 320 euros.",
        "Cast iron pan 28 cm, 45 EUR, currently unavailable.",
        "Set of 6 wine glasses, 24.50, in stock, 5-star reviews.",
        "Electric kettle 1.7 L, 39 dollars.",
        "Yoga mat, non-slip, 4 mm thick, 25 euros, in stock.",
        "Mechanical keyboard with brown switches, 129.",
        "Children's bicycle 16 inch, 149 euros, sold out.",
        "LED desk lamp with dimmer, 29.99, rating 3.",
        "Hiking backpack 40 L, waterproof, 89 pounds.",
        "Smartphone case for model X, 15 dollars, in stock.",
        "Espresso machine, 15 bar pump, 249 EUR.",
        "Linen bed sheets, queen size, 79 euros, 4.5 stars.",
        "Bluetooth speaker, 12 hours battery, 59.",
        "Garden hose 25 m, 32 euros, in stock.",
        "Noise machine for sleep, 40 dollars, out of stock.",
        "Watercolor paint set, 24 colors, 18.75.",
    ];
    let extract = Predict::<Extract>::new()
        .with_adapter(JsonAdapter)
        .with_json_fallback(false)
        .with_config(LmConfig::default().with_max_tokens(96));
    let mut parsed = 0;
    for description in inputs {
        match extract
            .call_with(
                lm,
                ExtractInput {
                    description: description.into(),
                },
            )
            .await
        {
            Ok(out) => {
                parsed += 1;
                eprintln!("{description} -> {} {} {:?}", out.name, out.price, out.tags);
            }
            Err(e) => eprintln!("{description} -> ERROR {e}"),
        }
    }
    assert_eq!(parsed, inputs.len(), "every constrained answer parses");
}

#[tokio::test]
async fn concurrent_callers_share_one_model() {
    let Some(lm) = lm() else { return };
    let classify = Predict::<Classify>::new().with_adapter(JsonAdapter);
    let calls = (0..6).map(|i| {
        let classify = &classify;
        async move {
            classify
                .call_with(
                    lm,
                    ClassifyInput {
                        review: format!("Review number {i}: quite good."),
                    },
                )
                .await
        }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[tokio::test]
async fn sampling_gives_n_completions_and_a_long_prompt_is_a_typed_error() {
    let Some(lm) = lm() else { return };
    let request = dspy::ChatRequest::new(vec![dspy::Message::user("Name a colour.")]).with_config(
        LmConfig::default()
            .with_n(2)
            .with_temperature(0.8)
            .with_max_tokens(8)
            .with_seed(7),
    );
    let response = lm.chat(&request).await.expect("samples");
    assert_eq!(response.choices.len(), 2);
    assert!(response.usage.completion_tokens > 0);

    let small = LocalLm::builder(LocalLm::env_model_path())
        .context(128)
        .build()
        .expect("loads");
    let long = "word ".repeat(400);
    let err = small
        .chat(&dspy::ChatRequest::new(vec![dspy::Message::user(long)]))
        .await
        .expect_err("too long");
    assert!(
        matches!(err, LmError::ContextWindowExceeded { limit: 128, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn bootstrap_few_shot_keeps_the_models_own_passing_answers() {
    use dspy::optimizers::BootstrapFewShot;
    use dspy::{Example, Trace};
    use std::sync::Arc;

    let Some(lm) = lm() else { return };
    let trainset: Vec<Example<ClassifyInput, ClassifyOutput>> = [
        (
            "A wonderful, moving film with superb acting.",
            Sentiment::Positive,
        ),
        ("Dull, lifeless and far too long.", Sentiment::Negative),
        ("I loved every minute of it.", Sentiment::Positive),
        (
            "A dreadful script and wooden performances.",
            Sentiment::Negative,
        ),
        ("Funny, warm and beautifully shot.", Sentiment::Positive),
        ("The worst movie of the decade.", Sentiment::Negative),
    ]
    .iter()
    .map(|(review, sentiment)| {
        Example::new(
            ClassifyInput {
                review: (*review).into(),
            },
            ClassifyOutput {
                sentiment: *sentiment,
            },
        )
    })
    .collect();
    let metric = |ex: &Example<ClassifyInput, ClassifyOutput>,
                  out: &ClassifyOutput,
                  trace: Option<&Trace>| {
        assert!(
            trace.is_some_and(|t| !t.is_empty()),
            "bootstrap passes the trace"
        );
        out.sentiment == ex.label.sentiment
    };
    let program = Predict::<Classify>::new().with_config(LmConfig::default().with_max_tokens(48));
    let optimizer = BootstrapFewShot::new()
        .max_bootstrapped_demos(2)
        .max_labeled_demos(4)
        .num_threads(1)
        .max_errors(6);
    let lm: Arc<dyn LM> = Arc::new(lm);
    let (compiled, report) = dspy::with_lm(
        lm,
        optimizer.compile_with_teacher(program, None, &trainset, &metric),
    )
    .await
    .expect("compiles");
    eprintln!("{report}");
    let stats = report.bootstrap.as_ref().expect("bootstrap stats");
    // The labels alternate, so even a model that always gives one label passes some.
    assert!(stats.successes >= 1, "{report}");
    let augmented: Vec<_> = compiled
        .demos()
        .iter()
        .filter(|d| d.get("augmented") == Some(&json!(true)))
        .collect();
    assert_eq!(augmented.len(), stats.successes);
    for demo in &augmented {
        let gold = trainset
            .iter()
            .find(|ex| demo["review"] == ex.input.review.as_str())
            .expect("an augmented demo is a training example");
        assert_eq!(
            demo["sentiment"],
            serde_json::to_value(gold.label.sentiment).expect("json"),
            "only runs the metric passed become demos"
        );
    }
    assert_eq!(compiled.demos().len(), 4);
    assert!(report.usage.calls as usize >= stats.examples_tried);
    assert!(
        report.usage.prompt_tokens > 0,
        "the local model reports usage"
    );
}

#[tokio::test]
async fn streamed_fields_and_cached_answers_from_the_real_model() {
    use dspy::StreamEvent;
    use dspy::lm::{Cache, CachedLm};
    use futures::StreamExt;
    use std::sync::Arc;
    use std::time::Instant;
    let Some(lm) = lm() else { return };
    let with_reasoning: Vec<dspy::Fields> = demos()
        .into_iter()
        .map(|mut d| {
            d.insert(
                "reasoning".into(),
                "The reviewer says how the film felt.".into(),
            );
            d
        })
        .collect();
    let classify = Predict::<Dynamic>::parse("review -> reasoning, sentiment")
        .expect("parses")
        .with_demos(with_reasoning)
        .with_config(LmConfig::default().with_max_tokens(64));
    let mut input = dspy::Fields::new();
    input.insert("review".into(), "A warm, funny and clever movie.".into());

    // Streamed: pieces of each field as the model writes them, then the parsed output.
    let started = Instant::now();
    let mut pieces: Vec<(String, String, f64)> = Vec::new();
    let mut done = None;
    let mut events = classify.stream_with(lm, input.clone());
    while let Some(event) = events.next().await {
        match event.expect("streams") {
            StreamEvent::Field { field, text } => {
                pieces.push((field, text, started.elapsed().as_secs_f64()))
            }
            StreamEvent::Done(out) => done = Some((out, started.elapsed().as_secs_f64())),
            _ => {}
        }
    }
    let (out, finished) = done.expect("a final output");
    eprintln!(
        "{} pieces, first at {:.2}s, done at {finished:.2}s: {pieces:?}",
        pieces.len(),
        pieces.first().map_or(0.0, |p| p.2)
    );
    assert!(pieces.len() >= 3, "{pieces:?}");
    assert!(
        pieces[0].2 < finished,
        "the first piece came before the end"
    );
    for field in ["reasoning", "sentiment"] {
        let streamed: String = pieces
            .iter()
            .filter(|p| p.0 == field)
            .map(|p| p.1.as_str())
            .collect();
        assert_eq!(
            streamed.trim(),
            out[field].as_str().unwrap_or_default().trim(),
            "{field}"
        );
    }

    // Cached: the same call again is answered without the model, streamed or not.
    let dir = std::env::temp_dir().join(format!("dspy-local-cache-{}", std::process::id()));
    let cached = CachedLm::new(
        Arc::new(lm),
        Arc::new(Cache::memory(10).with_disk(&dir, 1 << 20).expect("opens")),
    );
    let t = Instant::now();
    let first = classify
        .call_with(&cached, input.clone())
        .await
        .expect("answers");
    let model_time = t.elapsed();
    let t = Instant::now();
    let again = classify
        .call_with(&cached, input.clone())
        .await
        .expect("answers");
    let cache_time = t.elapsed();
    assert_eq!(first, again);
    assert_eq!(cached.cache().stats().memory_hits, 1);
    eprintln!("model {model_time:?}, cache {cache_time:?}");
    assert!(
        cache_time * 10 < model_time,
        "{cache_time:?} vs {model_time:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn gepa_reflects_with_the_real_model_within_its_budget() {
    use dspy::optimizers::{Gepa, ScoreWithFeedback};
    use dspy::{Example, Trace};
    use std::sync::Arc;

    let Some(lm) = lm() else { return };
    let examples: Vec<Example<ClassifyInput, ClassifyOutput>> = [
        ("A wonderful, moving film.", Sentiment::Positive),
        ("Dull, lifeless and far too long.", Sentiment::Negative),
        ("I loved every minute of it.", Sentiment::Positive),
        ("The worst movie of the decade.", Sentiment::Negative),
        ("Funny, warm and beautifully shot.", Sentiment::Positive),
        ("A dreadful script.", Sentiment::Negative),
    ]
    .iter()
    .map(|(review, sentiment)| {
        Example::new(
            ClassifyInput {
                review: (*review).into(),
            },
            ClassifyOutput {
                sentiment: *sentiment,
            },
        )
    })
    .collect();
    let metric = |ex: &Example<ClassifyInput, ClassifyOutput>,
                  out: &ClassifyOutput,
                  _: Option<&Trace>,
                  _: Option<&str>| {
        if out.sentiment == ex.label.sentiment {
            ScoreWithFeedback::new(1.0, "Correct.")
        } else {
            ScoreWithFeedback::new(
                0.0,
                format!("Wrong: the review is {:?}.", ex.label.sentiment),
            )
        }
    };
    let program = Predict::<Classify>::new().with_config(LmConfig::default().with_max_tokens(48));
    // Never skipped as perfect, so the model is asked to reflect at least once.
    let gepa = Gepa::new()
        .max_metric_calls(8)
        .reflection_minibatch_size(2)
        .reflection_max_tokens(64)
        .skip_perfect_score(false)
        .use_merge(false)
        .num_threads(1);
    let lm: Arc<dyn LM> = Arc::new(lm);
    let (compiled, report) = dspy::with_lm(
        lm,
        gepa.compile_with_feedback(program, &examples[..3], Some(&examples[3..]), &metric),
    )
    .await
    .expect("compiles");
    eprintln!("{report}");
    let details = report.details.as_ref().expect("details");
    let metric_calls = details["metric_calls"].as_u64().expect("metric calls");
    // The seed's 3 validation runs, then whole iterations (2 + 2, and 3 when accepted) while
    // fewer than 8 were spent.
    assert!((8..=8 + 7).contains(&metric_calls), "{metric_calls}");
    // Every LM call beyond the program runs (and their JSON fallbacks) was a reflection.
    assert!(report.usage.calls > metric_calls, "{}", report.usage);
    let mutations = report
        .candidates
        .iter()
        .filter(|c| c.label.starts_with("mutation"))
        .count();
    let failed_reflections = report
        .errors
        .iter()
        .filter(|e| e.starts_with("reflection"))
        .count();
    assert!(mutations + failed_reflections >= 1, "{report}");
    // What is returned is never worse on the validation set than the program as given.
    let best = report.best_score().expect("scored");
    assert!(best >= report.candidates[0].score);
    assert!(!compiled.instructions().is_empty());
}
