//! Evaluate: every example becomes a row, failures are counted and kept, statistics hold.

use dspy::evaluate::Progress;
use dspy::prelude::*;
use dspy::{Evaluate, Example, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Add one to the number.
#[derive(Signature)]
struct Inc {
    #[input]
    n: i64,
    #[output]
    next: i64,
}

fn devset(n: i64) -> Vec<Example<IncInput, IncOutput>> {
    (0..n)
        .map(|i| Example::split(Inc { n: i, next: i + 1 }))
        .collect()
}

fn number_in(request: &dspy::ChatRequest) -> i64 {
    let text = &request.messages.last().expect("a message").content;
    let after = text.split("[[ ## n ## ]]\n").nth(1).unwrap_or_default();
    after
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(-1)
}

fn metric(ex: &Example<IncInput, IncOutput>, out: &IncOutput, _: Option<&Trace>) -> bool {
    out.next == ex.label.next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_examples_with_five_percent_failures_report_every_row() {
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    // Fails on every 20th number (5%): an LM error for some, an unparseable answer for others.
    let lm = ScriptedLm::from_fn(move |request| {
        seen.fetch_add(1, Ordering::Relaxed);
        let n = number_in(request);
        match n % 40 {
            0 => Err(dspy::LmError::Http {
                endpoint: "scripted".into(),
                status: 503,
                message: "overloaded".into(),
                retry_after: None,
            }),
            20 => Ok("I would rather not say.".into()),
            // Every 7th answer is wrong: a real score below 100%.
            _ if n % 7 == 0 => Ok(format!("[[ ## next ## ]]\n{}", n + 2)),
            _ => Ok(format!("[[ ## next ## ]]\n{}", n + 1)),
        }
    });
    let program = Predict::<Inc>::new().with_lm(lm);
    let dev = devset(1000);
    let report = Evaluate::new(&dev, metric)
        .concurrency(64)
        .progress(Progress::Never)
        .run(&program)
        .await;

    assert_eq!(report.rows.len(), 1000, "every example is a row");
    assert!(
        report.rows.iter().enumerate().all(|(i, r)| r.index == i),
        "rows in dev-set order"
    );
    assert_eq!(report.failures(), 50, "5% failed");
    let (lm_errors, parse_errors): (Vec<_>, Vec<_>) = report
        .errors()
        .partition(|(_, e)| matches!(e, dspy::Error::Lm(_)));
    assert_eq!((lm_errors.len(), parse_errors.len()), (25, 25));
    assert!(
        report
            .rows
            .iter()
            .filter(|r| r.output.is_err())
            .all(|r| r.score == 0.0)
    );
    // 50 failures, and wrong answers on multiples of 7 that did not fail.
    let wrong = (0..1000).filter(|n| n % 7 == 0 && n % 20 != 0).count();
    assert_eq!(report.mean(), (1000 - 50 - wrong) as f64 / 1000.0);
    let (lo, hi) = report.ci95();
    assert!(
        lo < report.mean() && report.mean() < hi && hi - lo < 0.06,
        "{lo} {hi}"
    );
    // The failed parses made a second call (the JSON fallback); LM errors made one.
    assert_eq!(calls.load(Ordering::Relaxed), 1000 + 25);

    let shown = report.to_string();
    assert!(shown.starts_with("1000 examples in"), "{shown}");
    assert!(shown.contains("50 failed"), "{shown}");
    assert!(shown.contains("ERROR"), "{shown}");
    assert!(shown.contains("… 980 more rows"), "{shown}");
}

#[tokio::test]
async fn failure_score_and_exports() {
    let lm = ScriptedLm::from_fn(|request| match number_in(request) {
        1 => Ok("nonsense".into()),
        n => Ok(format!("[[ ## next ## ]]\n{}", n + 1)),
    });
    let program = Predict::<Inc>::new().with_lm(lm).with_json_fallback(false);
    let dev = devset(3);
    let report = Evaluate::new(&dev, metric)
        .failure_score(-1.0)
        .progress(Progress::Never)
        .run(&program)
        .await;
    assert_eq!(report.scores(), [1.0, -1.0, 1.0]);

    let dir = std::env::temp_dir().join(format!("dspy-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    report.to_jsonl(dir.join("rows.jsonl")).expect("jsonl");
    report.to_csv(dir.join("rows.csv")).expect("csv");
    let jsonl = std::fs::read_to_string(dir.join("rows.jsonl")).expect("read");
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["output"]["next"], 1);
    assert_eq!(rows[1]["output"], serde_json::Value::Null);
    assert!(
        rows[1]["error"]
            .as_str()
            .expect("error text")
            .contains("nonsense")
    );
    assert_eq!(rows[2]["input"]["n"], 2);
    let csv = std::fs::read_to_string(dir.join("rows.csv")).expect("read");
    assert!(
        csv.starts_with("index,input,label,output,error,score\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn paired_comparison_shows_a_real_gain() {
    let good = Predict::<Inc>::new().with_lm(ScriptedLm::from_fn(|r| {
        Ok(format!("[[ ## next ## ]]\n{}", number_in(r) + 1))
    }));
    let bad = Predict::<Inc>::new().with_lm(ScriptedLm::from_fn(|r| {
        let n = number_in(r);
        Ok(format!(
            "[[ ## next ## ]]\n{}",
            if n % 2 == 0 { n + 1 } else { n }
        ))
    }));
    let dev = devset(200);
    let before = Evaluate::new(&dev, metric)
        .progress(Progress::Never)
        .run(&bad)
        .await;
    let after = Evaluate::new(&dev, metric)
        .progress(Progress::Never)
        .run(&good)
        .await;
    let c = before.compare(&after);
    assert_eq!(c.n, 200);
    assert_eq!((c.mean_a, c.mean_b), (0.5, 1.0));
    assert!((c.difference - 0.5).abs() < 1e-12);
    assert!(c.ci95.0 > 0.4 && c.ci95.1 < 0.6, "{c}");
    assert!(c.p_value < 0.001, "{c}");
    assert!(c.to_string().contains("50.0% -> 100.0%"), "{c}");
}
