//! The dspy-rs side of the side-by-side benchmarks with Python DSPy: the same work as
//! `bench/python/*.py`, with the same arguments and one JSON object printed last.
//!
//! ```text
//! cargo build --release --example bench_vs_python --example bench_stub_server
//! target/release/examples/bench_vs_python overhead --n 2000 --rounds 5
//! target/release/examples/bench_vs_python evaluate --url URL --n 10000 --concurrency 64
//! target/release/examples/bench_vs_python compile --url URL --n 200
//! target/release/examples/bench_vs_python ceiling --url URL --n 10000 --concurrency 64
//! target/release/examples/bench_vs_python startup --rounds 5
//! ```
//!
//! `--no-history` keeps no call history (as the Python side's `--no-history`).
//!
//! `scripts/bench-vs-python.sh` runs both sides against one `bench_stub_server` and writes
//! the tables into BENCHMARKS.md. The task: `question -> answer` ("Answer the question."),
//! questions `What is {i} times 7?`, labels `42` for even `i` (the stub's answer) and
//! `7i` otherwise, exact match: every program scores 50%.

use dspy::evaluate::Progress;
use dspy::optimizers::{BootstrapFewShot, BootstrapFewShotWithRandomSearch, Optimizer};
use dspy::prelude::*;
use dspy::{ChatRequest, ChatResponse, Evaluate, Example, LmError, Trace};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Answer the question.
#[derive(Signature)]
struct QA {
    #[input]
    question: String,
    #[output]
    answer: String,
}

type Ex = Example<QAInput, QAOutput>;

fn examples(n: usize) -> Vec<Ex> {
    (0..n)
        .map(|i| {
            Example::split(QA {
                question: format!("What is {i} times 7?"),
                answer: if i % 2 == 0 {
                    "42".into()
                } else {
                    (i * 7).to_string()
                },
            })
        })
        .collect()
}

fn exact(ex: &Ex, out: &QAOutput, _: Option<&Trace>) -> bool {
    out.answer == ex.label.answer
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The `p`-th percentile (nearest rank) of `xs`.
fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * xs.len() as f64).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

/// Peak resident memory of this process, MiB.
fn peak_rss_mib() -> f64 {
    status_kib("VmHWM:").map_or(f64::NAN, |kb| kb / 1024.0)
}

fn status_kib(key: &str) -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `--name value` from the command line, parsed, or `default`.
fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

/// An LM that records how long each call took.
struct Timed {
    inner: Arc<dyn LM>,
    latencies: Mutex<Vec<f64>>,
}

#[dspy::async_trait]
impl LM for Timed {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let started = Instant::now();
        let result = self.inner.chat(request).await;
        if let Ok(mut l) = self.latencies.lock() {
            l.push(started.elapsed().as_secs_f64() * 1e3);
        }
        result
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
}

/// Framework cost per call with an LM that answers at once, in process.
async fn overhead(n: usize, rounds: usize) -> Value {
    let predict_lm =
        ScriptedLm::from_fn(|_| Ok("[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]".into()));
    let cot_lm = ScriptedLm::from_fn(|_| {
        Ok("[[ ## reasoning ## ]]\nBecause the stub says so.\n\n[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]".into())
    });
    let predict = Predict::<QA>::new();
    let cot = ChainOfThought::<QA>::new();
    let input = |i: usize| QAInput {
        question: format!("What is {i} times 7?"),
    };
    let mut per_predict = Vec::new();
    let mut per_cot = Vec::new();
    // Round 0 warms up and is not counted.
    for round in 0..=rounds {
        let started = Instant::now();
        for i in 0..n {
            let _ = predict.call_with(&predict_lm, input(i)).await;
        }
        let p = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        let started = Instant::now();
        for i in 0..n {
            let _ = cot.call_with(&cot_lm, input(i)).await;
        }
        let c = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        if round > 0 {
            per_predict.push(p);
            per_cot.push(c);
        }
    }
    json!({"predict_us": median(per_predict), "cot_us": median(per_cot), "n": n, "rounds": rounds})
}

fn http_lm(url: &str) -> Arc<dyn LM> {
    Arc::new(OpenAiCompatible::new(url, "stub").with_api_key("stub"))
}

/// Evaluate over `n` examples through HTTP, `concurrency` at a time.
async fn evaluate(url: &str, n: usize, concurrency: usize) -> Value {
    let timed = Arc::new(Timed {
        inner: http_lm(url),
        latencies: Mutex::new(Vec::with_capacity(n)),
    });
    let devset = examples(n);
    let evaluate = Evaluate::new(&devset, exact)
        .concurrency(concurrency)
        .progress(Progress::Never);
    let program = Predict::<QA>::new();
    let started = Instant::now();
    let report = dspy::with_lm(timed.clone(), evaluate.run(&program)).await;
    let seconds = started.elapsed().as_secs_f64();
    let latencies = timed
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    json!({
        "n": n,
        "concurrency": concurrency,
        "seconds": seconds,
        "throughput": n as f64 / seconds,
        "p50_ms": percentile(latencies.clone(), 50.0),
        "p99_ms": percentile(latencies, 99.0),
        "peak_rss_mib": peak_rss_mib(),
        "score": report.mean(),
        "failed": report.failures(),
    })
}

/// The server's own ceiling: raw POSTs of a Predict-sized request, `concurrency` at a time.
async fn ceiling(url: &str, n: usize, concurrency: usize) -> Value {
    let client = reqwest::Client::new();
    let endpoint = format!("{url}/chat/completions");
    let started = Instant::now();
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let body = json!({"model": "stub", "messages": [
                {"role": "system", "content": "Your input fields are:\n1. `question` (str):\nYour output fields are:\n1. `answer` (str):\nAll interactions will be structured"},
                {"role": "user", "content": format!("[[ ## question ## ]]\nWhat is {i} times 7?")},
            ]});
            let request = client.post(&endpoint).json(&body);
            async move {
                match request.send().await {
                    Ok(r) => r.json::<Value>().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .collect();
    let failed = futures::stream::iter(calls)
        .buffer_unordered(concurrency)
        .filter(|ok| futures::future::ready(!ok))
        .count()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    json!({"n": n, "concurrency": concurrency, "seconds": seconds, "throughput": n as f64 / seconds, "failed": failed})
}

/// BootstrapFewShot and random search over `n` examples, each compiled program scored.
async fn compile(url: &str, n: usize) -> Result<Value, dspy::Error> {
    dspy::configure_arc(http_lm(url));
    let trainset = examples(n);
    let evaluate = Evaluate::new(&trainset, exact)
        .concurrency(8)
        .progress(Progress::Never);
    let started = Instant::now();
    let bootstrap = BootstrapFewShot::new()
        .max_bootstrapped_demos(4)
        .max_labeled_demos(16)
        .progress(Progress::Never);
    let (p, _) = bootstrap
        .compile(Predict::<QA>::new(), &trainset, &exact)
        .await?;
    let bootstrap_seconds = started.elapsed().as_secs_f64();
    let bootstrap_score = evaluate.run(&p).await.mean();
    let started = Instant::now();
    let search = BootstrapFewShotWithRandomSearch::new()
        .num_candidate_programs(4)
        .max_bootstrapped_demos(4)
        .max_labeled_demos(16)
        .num_threads(8)
        .progress(Progress::Never);
    let (p, _) = search
        .compile(Predict::<QA>::new(), &trainset, &exact)
        .await?;
    let random_search_seconds = started.elapsed().as_secs_f64();
    let random_search_score = evaluate.run(&p).await.mean();
    Ok(json!({
        "n": n,
        "bootstrap_seconds": bootstrap_seconds,
        "bootstrap_score": bootstrap_score,
        "random_search_seconds": random_search_seconds,
        "random_search_score": random_search_score,
    }))
}

/// Start-up: this binary started as a child that configures an LM and exits, median wall
/// time, and the child's resident memory at rest; `true` as the bare reference.
fn startup(rounds: usize) -> Result<Value, std::io::Error> {
    let me = std::env::current_exe()?;
    let time = |program: &std::path::Path, args: &[&str]| -> Result<(f64, f64), std::io::Error> {
        let mut times = Vec::new();
        let mut rss = f64::NAN;
        for _ in 0..rounds.max(1) {
            let started = Instant::now();
            let out = std::process::Command::new(program).args(args).output()?;
            times.push(started.elapsed().as_secs_f64());
            if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
                rss = v["rss_mib"].as_f64().unwrap_or(f64::NAN);
            }
        }
        Ok((median(times), rss))
    };
    let (start_seconds, rss) = time(&me, &["startup-child"])?;
    let (bare_seconds, _) = time(std::path::Path::new("true"), &[])?;
    Ok(json!({"start_seconds": start_seconds, "bare_seconds": bare_seconds, "rss_mib": rss}))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or_default();
    let url = arg(&args, "--url", String::new());
    if args.iter().any(|a| a == "--no-history") {
        dspy::lm::history::set_history_size(0);
    }
    let n = arg(&args, "--n", 1000usize);
    let result = match mode {
        "overhead" => overhead(n, arg(&args, "--rounds", 5)).await,
        "evaluate" => evaluate(&url, n, arg(&args, "--concurrency", 8)).await,
        "ceiling" => ceiling(&url, n, arg(&args, "--concurrency", 64)).await,
        "compile" => compile(&url, n).await?,
        "startup" => startup(arg(&args, "--rounds", 5))?,
        "startup-child" => {
            // What a program does before its first call: configure an LM.
            dspy::configure(OpenAiCompatible::new("http://127.0.0.1:9/v1", "stub"));
            let _ = Predict::<QA>::new();
            json!({"rss_mib": status_kib("VmRSS:").map_or(f64::NAN, |kb| kb / 1024.0)})
        }
        other => {
            eprintln!("unknown mode {other:?}: overhead | evaluate | ceiling | compile | startup");
            std::process::exit(2);
        }
    };
    println!("{result}");
    Ok(())
}
