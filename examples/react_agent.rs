//! A ReAct agent with two real tools — a search over a small invented corpus
//! (`data/agent_corpus.jsonl`) and a calculator (Python in the sandbox) — answering
//! questions that need two or three lookups (`data/agent_questions.jsonl`). It is
//! evaluated, compiled with BootstrapFewShot, and evaluated again.
//!
//! ```text
//! cargo run --features local --example react_agent     # on the local model
//! DSPY_MODEL=openai/gpt-4o-mini cargo run --example react_agent
//! cargo run --example react_agent                       # a rule-following stand-in
//! ```
//!
//! `DSPY_DEV=n` caps the dev set (default: all 20 dev questions; 10 train questions);
//! `DSPY_ADAPTER=json` uses the JSON adapter (structured output) instead of the chat one;
//! `DSPY_SHOW_PROMPTS=1` prints the first question's LM calls.

mod common;

use common::summary;
use dspy::lm::LmBuilder;
use dspy::optimizers::{BootstrapFewShot, Optimizer};
use dspy::prelude::*;
use dspy::sandbox::PythonSandbox;
use dspy::testing::{Reply, StubServer};
use dspy::{Evaluate, Example, ReAct, Tool, Trace, WithTrajectory};
use serde::Deserialize;
use std::sync::Arc;

/// Answer the question using the tools. Give only the answer: a name or a number.
#[derive(Signature)]
struct MultiHop {
    #[input]
    question: String,
    #[output]
    answer: String,
}

type Ex = Example<MultiHopInput, MultiHopOutput>;

#[derive(Deserialize, JsonSchema)]
struct Search {
    /// Words to look for: a company, a person or a town.
    query: String,
}

#[derive(Deserialize, JsonSchema)]
struct Calculate {
    /// An arithmetic expression, e.g. `2015 - 1994`.
    expression: String,
}

#[derive(Deserialize)]
struct Passage {
    title: String,
    text: String,
}

fn words(text: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "the", "of", "in", "was", "who", "which", "a", "an", "is", "by", "and", "born", "founder",
        "company", "town", "country", "what", "where",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !STOP.contains(&w.as_str()))
        .collect()
}

/// The two passages sharing the most words with the query.
fn search_tool(corpus: Arc<Vec<Passage>>) -> Tool {
    Tool::from_fn(
        "search",
        "Finds the two passages of the corpus that best match the query.",
        move |args: Search| {
            let corpus = Arc::clone(&corpus);
            async move {
                let query = words(&args.query);
                let mut scored: Vec<(usize, usize)> = corpus
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let title = words(&p.title);
                        let text = words(&p.text);
                        let score = query
                            .iter()
                            .map(|w| {
                                2 * usize::from(title.contains(w)) + usize::from(text.contains(w))
                            })
                            .sum();
                        (score, i)
                    })
                    .filter(|(score, _)| *score > 0)
                    .collect();
                scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                if scored.is_empty() {
                    return Err(format!("nothing matches {:?}", args.query));
                }
                Ok(scored
                    .iter()
                    .take(2)
                    .map(|(_, i)| corpus[*i].text.clone())
                    .collect::<Vec<_>>()
                    .join(" "))
            }
        },
    )
}

fn calculator_tool() -> Tool {
    let sandbox = PythonSandbox::new();
    Tool::from_fn(
        "calculator",
        "Evaluates an arithmetic expression.",
        move |args: Calculate| {
            let sandbox = sandbox.clone();
            async move {
                sandbox
                    .run(&args.expression)
                    .await
                    .map(|out| out.text())
                    .map_err(|e| e.to_string())
            }
        },
    )
}

fn metric(ex: &Ex, out: &WithTrajectory<MultiHopOutput>, _: Option<&Trace>) -> bool {
    dspy::metrics::normalized_match(&out.answer, &ex.label.answer)
        || dspy::metrics::numeric_match(&out.answer, &ex.label.answer)
}

/// A stand-in that follows a fixed rule (search the last capitalized words, then the
/// name found, then finish; answer with the last capitalized words seen), so the example
/// runs without a model. Its scores mean nothing.
fn stand_in(prompt: &str, system: &str) -> String {
    let capitalized = |text: &str| -> String {
        let names: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric() && c != '&')
            .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
            .collect();
        names
            .iter()
            .rev()
            .take(2)
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    };
    if system.contains("`reasoning`") {
        let seen = prompt
            .rsplit("[[ ## observation_")
            .nth(1)
            .unwrap_or_default();
        let last = seen.split(" born in ").nth(1).unwrap_or(seen);
        return format!(
            "[[ ## reasoning ## ]]\nFrom the observations.\n\n[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]",
            capitalized(last.split('.').next().unwrap_or_default())
        );
    }
    let steps = prompt.matches("[[ ## observation_").count();
    let (tool, query) = match steps {
        0 => {
            let q = prompt
                .split("[[ ## question ## ]]")
                .nth(1)
                .unwrap_or_default();
            (
                "search",
                capitalized(q.split('?').next().unwrap_or_default()),
            )
        }
        1 => {
            let seen = prompt
                .rsplit("[[ ## observation_0 ## ]]")
                .next()
                .unwrap_or_default();
            (
                "search",
                capitalized(seen.split('.').next().unwrap_or_default()),
            )
        }
        _ => ("finish", String::new()),
    };
    let args = if tool == "finish" {
        "{}".to_string()
    } else {
        serde_json::json!({ "query": query }).to_string()
    };
    format!(
        "[[ ## next_thought ## ]]\nLook it up.\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n[[ ## next_tool_args ## ]]\n{args}\n\n[[ ## completed ## ]]"
    )
}

struct Chosen {
    lm: Arc<dyn LM>,
    concurrency: usize,
    _server: Option<StubServer>,
}

async fn choose_lm() -> Result<Chosen, Box<dyn std::error::Error>> {
    #[cfg(feature = "local")]
    {
        let path = dspy::lm::LocalLm::env_model_path();
        if path.is_file() {
            let lm = dspy::lm::LocalLm::load(path)?;
            println!("LM: {} (local)", lm.model());
            return Ok(Chosen {
                lm: Arc::new(lm),
                concurrency: 1,
                _server: None,
            });
        }
    }
    if let Ok(model) = std::env::var("DSPY_MODEL") {
        let lm = LmBuilder::new(&model).temperature(0.0).build()?;
        println!("LM: {model}");
        return Ok(Chosen {
            lm,
            concurrency: 8,
            _server: None,
        });
    }
    let server = StubServer::start(|request| {
        let system = request
            .body
            .pointer("/messages/0/content")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        Reply::completion(stand_in(request.last_message(), &system))
    })
    .await?;
    println!("LM: none configured; a rule-following stand-in answers (scores mean nothing)");
    Ok(Chosen {
        lm: Arc::new(OpenAiCompatible::new(server.url(), "agent-stand-in")),
        concurrency: 8,
        _server: Some(server),
    })
}

fn read<T: for<'de> Deserialize<'de>>(path: &str) -> Result<Vec<T>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut items = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        items.push(serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?);
    }
    Ok(items)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let corpus: Vec<Passage> = read(&format!("{root}/data/agent_corpus.jsonl"))?;
    #[derive(Deserialize)]
    struct Question {
        question: String,
        answer: String,
    }
    let questions: Vec<Question> = read(&format!("{root}/data/agent_questions.jsonl"))?;
    let all: Vec<Ex> = questions
        .into_iter()
        .map(|q| {
            Example::split(MultiHop {
                question: q.question,
                answer: q.answer,
            })
        })
        .collect();
    let (train, mut dev) = dspy::example::split(all, 1.0 / 3.0, 7);
    if let Some(n) = std::env::var("DSPY_DEV").ok().and_then(|v| v.parse().ok()) {
        dev.truncate(n);
    }
    let chosen = choose_lm().await?;
    // Each step needs a thought and a tool call, not an essay.
    dspy::configure_arc(Arc::new(dspy::lm::Configured::new(
        Arc::clone(&chosen.lm),
        LmConfig::default().with_max_tokens(160),
    )));

    let agent = ReAct::<MultiHop>::new(vec![search_tool(Arc::new(corpus)), calculator_tool()])
        .with_max_iters(5);
    // `DSPY_ADAPTER=json`: JSON answers, constrained by the output schema where the LM
    // supports it (the local model does, by grammar), so tool names are always valid.
    let agent = if std::env::var("DSPY_ADAPTER").is_ok_and(|a| a == "json") {
        agent.with_adapter(dspy::JsonAdapter)
    } else {
        agent
    };

    // One question, with its trajectory.
    let first = &dev[0];
    let out = agent.call(first.input.clone()).await?;
    println!("\nQ: {}", first.input.question);
    for (i, step) in out.trajectory.iter().enumerate() {
        println!(
            "  {i}. {} -> {}({}) = {}",
            step.thought.lines().next().unwrap_or_default(),
            step.tool_name,
            step.tool_args,
            step.observation.chars().take(100).collect::<String>()
        );
    }
    println!("A: {} (gold: {})", out.answer, first.label.answer);
    if std::env::var_os("DSPY_SHOW_PROMPTS").is_some() {
        println!("\n{}", dspy::inspect_history(out.trajectory.len() + 2));
    }

    let before = Evaluate::new(&dev, metric)
        .concurrency(chosen.concurrency)
        .run(&agent)
        .await;
    println!("\nUncompiled: {}", summary(&before));

    let (compiled, report) = BootstrapFewShot::new()
        .max_bootstrapped_demos(2)
        .max_labeled_demos(0)
        .num_threads(chosen.concurrency)
        .compile(agent.clone(), &train, &metric)
        .await?;
    println!("\n{report}");
    let after = Evaluate::new(&dev, metric)
        .concurrency(chosen.concurrency)
        .run(&compiled)
        .await;
    println!("Compiled with BootstrapFewShot: {}", summary(&after));
    println!(
        "\n| ReAct, {} dev questions | accuracy | 95% CI | failed | seconds |",
        dev.len()
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, r) in [
        ("uncompiled", &before),
        ("BootstrapFewShot (2 demos per predictor)", &after),
    ] {
        let (lo, hi) = r.ci95();
        println!(
            "| {name} | {:.1}% | {:.1}–{:.1} | {} | {:.0} |",
            100.0 * r.mean(),
            100.0 * lo,
            100.0 * hi,
            r.failures(),
            r.elapsed.as_secs_f64()
        );
    }
    Ok(())
}
