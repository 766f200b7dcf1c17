//! The dspy-rs side of the side-by-side benchmarks with Python DSPy: the same work as
//! `bench/python/*.py`, with the same arguments and one JSON object printed last.
//!
//! ```text
//! cargo build --release --example bench_vs_python --example bench_stub_server
//! target/release/examples/bench_vs_python overhead --n 2000 --rounds 5
//! target/release/examples/bench_vs_python evaluate --url URL --n 10000 --concurrency 64 --rounds 5 [--versus-ceiling]
//! target/release/examples/bench_vs_python compile --url URL --n 200
//! target/release/examples/bench_vs_python ceiling --url URL --n 10000 --concurrency 64 --rounds 5
//! target/release/examples/bench_vs_python startup --rounds 5
//! target/release/examples/bench_vs_python split --out DIR --train 40 --dev 100
//! target/release/examples/bench_vs_python real --url URL --train DIR/train.jsonl --dev DIR/dev.jsonl
//! ```
//!
//! `--no-history` keeps no call history (as the Python side's `--no-history`).
//!
//! `scripts/bench-vs-python.sh` runs both sides against one `bench_stub_server` and writes
//! the tables into BENCHMARKS.md. The task: `question -> answer` ("Answer the question."),
//! questions `What is {i} times 7?`, labels `42` for even `i` (the stub's answer) and
//! `7i` otherwise, exact match: every program scores 50%.
//!
//! `split` and `real` are the real-model half (`bench/python/real_lm.py` the other side):
//! `split` writes the movie-review task's train and dev sets (the split every optimizer
//! bench uses, cut to the sizes asked) as JSONL for both sides to read; `real` scores the
//! classifier uncompiled, compiled by BootstrapFewShot and by MIPROv2 light, against a
//! model served over HTTP (`examples/serve_local.rs`).

mod common;

use dspy::evaluate::Progress;
use dspy::optimizers::{
    BootstrapFewShot, BootstrapFewShotWithRandomSearch, CompileReport, MiproV2, Optimizer,
};
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

/// An in-process LM that gives the same text to every call and keeps nothing: the Python
/// side's `InstantEngine` (`ScriptedLm` would also record each request, a test's need).
struct AtOnce(&'static str);

#[dspy::async_trait]
impl LM for AtOnce {
    async fn chat(&self, _: &ChatRequest) -> Result<ChatResponse, LmError> {
        Ok(ChatResponse::from_text(self.0))
    }
    fn model(&self) -> &str {
        "instant"
    }
}

/// Framework cost per call with an LM that answers at once, in process.
async fn overhead(n: usize, rounds: usize) -> Value {
    let predict_lm = AtOnce("[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]");
    let cot_lm = AtOnce(
        "[[ ## reasoning ## ]]\nBecause the stub says so.\n\n[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]",
    );
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

/// Evaluate over `n` examples through HTTP, `concurrency` at a time; with `rounds` above
/// 1, that many runs and the median throughput (a run of 10,000 takes a third of a
/// second here, too short to time once). With `versus_ceiling`, each round is followed by
/// a round of [`ceiling`] at the same concurrency in a child process (a fresh heap, as a
/// minimal client has), and the result says what share of the ceiling Evaluate reached,
/// as the median of the rounds' shares: rounds taken side by side see the same machine,
/// where two runs a minute apart on a shared two-core VM differ by a third.
async fn evaluate(
    url: &str,
    n: usize,
    concurrency: usize,
    rounds: usize,
    versus_ceiling: bool,
) -> Value {
    let timed = Arc::new(Timed {
        inner: http_lm(url),
        latencies: Mutex::new(Vec::with_capacity(n * rounds.max(1))),
    });
    let devset = examples(n);
    let evaluate = Evaluate::new(&devset, exact)
        .concurrency(concurrency)
        .progress(Progress::Never);
    let program = Predict::<QA>::new();
    let mut times = Vec::new();
    let mut ceiling_times = Vec::new();
    let mut shares = Vec::new();
    let mut ceiling_failed = 0;
    let mut report = None;
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        report = Some(dspy::with_lm(timed.clone(), evaluate.run(&program)).await);
        let seconds = started.elapsed().as_secs_f64();
        times.push(seconds);
        if versus_ceiling {
            let Some((ceiling_seconds, failed)) = ceiling_child(url, n, concurrency) else {
                return json!({"error": "the ceiling child did not report"});
            };
            ceiling_times.push(ceiling_seconds);
            ceiling_failed += failed;
            shares.push(ceiling_seconds / seconds);
        }
    }
    let Some(report) = report else {
        return json!({"error": "no round ran"});
    };
    let seconds = median(times.clone());
    let latencies = timed
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    let mut result = json!({
        "n": n,
        "concurrency": concurrency,
        "seconds": seconds,
        "throughput": n as f64 / seconds,
        "rounds": times.len(),
        "round_seconds": times,
        "p50_ms": percentile(latencies.clone(), 50.0),
        "p99_ms": percentile(latencies, 99.0),
        "peak_rss_mib": peak_rss_mib(),
        "score": report.mean(),
        "failed": report.failures(),
    });
    if versus_ceiling {
        result["ceiling_throughput"] = json!(n as f64 / median(ceiling_times.clone()));
        result["ceiling_round_seconds"] = json!(ceiling_times);
        result["ceiling_failed"] = json!(ceiling_failed);
        result["of_ceiling"] = json!(median(shares));
    }
    result
}

/// The server's own ceiling: raw POSTs of the request `Predict<QA>` sends (the same
/// messages, byte for byte), `concurrency` at a time, on a client warmed by one round that
/// is not counted; the median of `rounds` runs.
async fn ceiling(url: &str, n: usize, concurrency: usize, rounds: usize) -> Value {
    let client = reqwest::Client::new();
    let Ok(messages) = Predict::<QA>::new().format(&QAInput {
        question: "\u{0}".into(),
    }) else {
        return json!({"error": "Predict<QA> did not format"});
    };
    let (system, user) = match messages.as_slice() {
        [system, user] => (system.content.clone(), user.content.clone()),
        _ => return json!({"error": "Predict<QA> did not format two messages"}),
    };
    let Some((before, after)) = user.split_once('\u{0}') else {
        return json!({"error": "the question is not in the user message"});
    };
    let request = CeilingRequest {
        endpoint: format!("{url}/chat/completions"),
        system,
        before: before.to_string(),
        after: after.to_string(),
    };
    ceiling_round(&client, &request, n, concurrency).await;
    let mut times = Vec::new();
    let mut failed = 0;
    for _ in 0..rounds.max(1) {
        let (seconds, f) = ceiling_round(&client, &request, n, concurrency).await;
        times.push(seconds);
        failed += f;
    }
    let seconds = median(times.clone());
    json!({"n": n, "concurrency": concurrency, "seconds": seconds, "throughput": n as f64 / seconds, "rounds": times.len(), "round_seconds": times, "failed": failed})
}

/// What a ceiling call sends: Predict's system message, and its user message around the
/// question.
struct CeilingRequest {
    endpoint: String,
    system: String,
    before: String,
    after: String,
}

/// One counted round of [`ceiling`] (after its warm-up) run by a child process of this
/// binary: its seconds and failed calls.
fn ceiling_child(url: &str, n: usize, concurrency: usize) -> Option<(f64, usize)> {
    let (n, concurrency) = (n.to_string(), concurrency.to_string());
    let out = std::process::Command::new(std::env::current_exe().ok()?)
        .args([
            "ceiling",
            "--url",
            url,
            "--n",
            &n,
            "--concurrency",
            &concurrency,
        ])
        .output()
        .ok()?;
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()?
        .to_string();
    let v: Value = serde_json::from_str(&last).ok()?;
    Some((v["seconds"].as_f64()?, v["failed"].as_u64()? as usize))
}

/// One round of [`ceiling`]: its seconds and failed calls. Each body is built when its
/// call starts, and each reply is read as JSON, as any client would.
async fn ceiling_round(
    client: &reqwest::Client,
    request: &CeilingRequest,
    n: usize,
    concurrency: usize,
) -> (f64, usize) {
    let started = Instant::now();
    let failed = futures::stream::iter(0..n)
        .map(|i| {
            let body = json!({"model": "stub", "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": format!("{}What is {i} times 7?{}", request.before, request.after)},
            ]});
            let call = client.post(&request.endpoint).json(&body);
            async move {
                match call.send().await {
                    Ok(r) => r.json::<Value>().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .buffer_unordered(concurrency)
        .filter(|ok| futures::future::ready(!ok))
        .count()
        .await;
    (started.elapsed().as_secs_f64(), failed)
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

/// Writes the first `n_train` and `n_dev` of the movie-review split as
/// `DIR/train.jsonl` and `DIR/dev.jsonl`.
fn write_split(
    dir: &str,
    n_train: usize,
    n_dev: usize,
) -> Result<Value, Box<dyn std::error::Error>> {
    let (mut train, mut dev) = common::movie_data(usize::MAX)?;
    train.truncate(n_train);
    dev.truncate(n_dev);
    std::fs::create_dir_all(dir)?;
    for (name, set) in [("train", &train), ("dev", &dev)] {
        let mut text = String::new();
        for ex in set.iter() {
            let record = json!({"review": ex.input.review, "sentiment": ex.label.sentiment});
            text.push_str(&record.to_string());
            text.push('\n');
        }
        std::fs::write(format!("{dir}/{name}.jsonl"), text)?;
    }
    Ok(json!({"train": train.len(), "dev": dev.len(), "dir": dir}))
}

/// One row of the real-model comparison: a program's dev score and what it cost.
fn real_row(
    program: &str,
    label: &str,
    compile: Option<&CompileReport>,
    compiled: &Predict<common::Classify>,
    eval: &dspy::EvalReport<common::ClassifyOutput>,
    dev_calls: u64,
) -> Value {
    let (calls, seconds) = compile.map_or((0, 0.0), |r| (r.usage.calls, r.wall_seconds));
    json!({
        "program": program,
        "label": label,
        "score": eval.mean(),
        "dev": eval.rows.len(),
        "failed": eval.failures(),
        "dev_calls": dev_calls,
        "dev_seconds": eval.elapsed.as_secs_f64(),
        "compile_calls": calls,
        "compile_seconds": seconds,
        "demos": compiled.demos().len(),
        "instruction": compiled.instructions(),
    })
}

/// The classifier uncompiled, by BootstrapFewShot and by MIPROv2 light, against a model
/// served at `url`, scored on `dev`: the settings `bench/python/real_lm.py` uses.
async fn real(args: &[String], url: &str) -> Result<Value, Box<dyn std::error::Error>> {
    use dspy::example::{FieldMap, examples, read_jsonl};
    let model = arg(args, "--model", "gemma-3-270m".to_string());
    let threads = arg(args, "--threads", 1usize);
    let programs = arg(args, "--programs", "uncompiled,bootstrap,mipro".to_string());
    let read = |flag: &str| -> Result<Vec<common::Ex>, Box<dyn std::error::Error>> {
        let path = arg(args, flag, String::new());
        Ok(examples(&read_jsonl(&path, &FieldMap::new())?)?)
    };
    let (train, dev) = (read("--train")?, read("--dev")?);
    // No structured-output capability declared: DSPy 3.4.1 knows none for this model
    // either, so on both sides the JSON fallback asks for JSON in words only.
    let lm = OpenAiCompatible::new(url, model.clone())
        .with_api_key("local")
        .with_temperature(0.0);
    dspy::configure(lm);
    let metric = common::metric;
    let mut rows = Vec::new();
    for program in programs.split(',').map(str::trim) {
        let (label, compiled) = match program {
            "uncompiled" => ("uncompiled", Ok((common::classifier(), None))),
            "bootstrap" => {
                let bootstrap = BootstrapFewShot::new()
                    .max_bootstrapped_demos(4)
                    .max_labeled_demos(8)
                    .max_errors(40)
                    .num_threads(threads)
                    .progress(Progress::Never);
                let compiled = bootstrap
                    .compile(common::classifier(), &train, &metric)
                    .await;
                (
                    "BootstrapFewShot(4 boot, 8 max)",
                    compiled.map(|(p, r)| (p, Some(r))),
                )
            }
            "mipro" => {
                let mipro = MiproV2::new()
                    .proposal_max_tokens(160)
                    .num_threads(threads)
                    .progress(Progress::Never);
                let compiled = mipro.compile(common::classifier(), &train, &metric).await;
                ("MIPROv2(auto light)", compiled.map(|(p, r)| (p, Some(r))))
            }
            other => {
                return Err(
                    format!("unknown program {other:?}: uncompiled | bootstrap | mipro").into(),
                );
            }
        };
        // A compile that fails is a row that says why; the other rows still run.
        let (compiled, report) = match compiled {
            Ok(done) => done,
            Err(error) => {
                eprintln!("rust {program}: compile failed: {error}");
                rows.push(json!({"program": program, "label": label, "error": error.to_string()}));
                continue;
            }
        };
        let (eval, dev_calls) = common::score_on(&dev, &compiled, threads).await;
        eprintln!(
            "rust {program}: {:.1}% on {} dev",
            100.0 * eval.mean(),
            dev.len()
        );
        rows.push(real_row(
            program,
            label,
            report.as_ref(),
            &compiled,
            &eval,
            dev_calls,
        ));
    }
    Ok(json!({
        "side": "rust", "model": model, "train": train.len(), "dev": dev.len(),
        "threads": threads, "rows": rows,
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
        "evaluate" => {
            let rounds = arg(&args, "--rounds", 1);
            let versus_ceiling = args.iter().any(|a| a == "--versus-ceiling");
            evaluate(
                &url,
                n,
                arg(&args, "--concurrency", 8),
                rounds,
                versus_ceiling,
            )
            .await
        }
        "ceiling" => {
            let rounds = arg(&args, "--rounds", 1);
            ceiling(&url, n, arg(&args, "--concurrency", 64), rounds).await
        }
        "compile" => compile(&url, n).await?,
        "startup" => startup(arg(&args, "--rounds", 5))?,
        "split" => write_split(
            &arg(&args, "--out", String::new()),
            arg(&args, "--train", 80),
            arg(&args, "--dev", usize::MAX),
        )?,
        "real" => real(&args, &url).await?,
        "startup-child" => {
            // What a program does before its first call: configure an LM.
            dspy::configure(OpenAiCompatible::new("http://127.0.0.1:9/v1", "stub"));
            let _ = Predict::<QA>::new();
            json!({"rss_mib": status_kib("VmRSS:").map_or(f64::NAN, |kb| kb / 1024.0)})
        }
        other => {
            eprintln!(
                "unknown mode {other:?}: overhead | evaluate | ceiling | compile | startup | split | real"
            );
            std::process::exit(2);
        }
    };
    println!("{result}");
    Ok(())
}
