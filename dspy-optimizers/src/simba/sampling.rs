//! SIMBA's arithmetic: buckets of runs ordered by their spread, numpy's percentiles,
//! softmax choice of programs, Poisson demo dropping, and the final winners' schedule.

use dspy_core::evaluate::mean;
use dspy_core::rng::Rng;
use dspy_core::{Fields, Module};

/// One example's sampling runs, best first.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bucket {
    /// The example's position in the batch.
    pub(super) example: usize,
    /// Indices into the step's runs, by score descending.
    pub(super) runs: Vec<usize>,
    /// (max − min, max, max − mean).
    pub(super) stats: (f64, f64, f64),
}

/// DSPy's demo dropping before a strategy: `max(Poisson(n / max_demos), n >= max_demos)`
/// draws (at most `n`, with replacement) of demo positions, dropped from every predictor.
pub(super) fn drop_demos<P: Module>(
    program: &mut P,
    max_demos: usize,
    rng: &mut Rng,
    poisson_rng: &mut Rng,
) {
    let num_demos = program
        .named_predictors()
        .iter()
        .map(|(_, p)| p.demos().len())
        .max()
        .unwrap_or(0);
    let max_demos = if max_demos > 0 { max_demos } else { 3 };
    let drawn = poisson(poisson_rng, num_demos as f64 / max_demos as f64);
    let count = drawn
        .max(usize::from(num_demos >= max_demos))
        .min(num_demos);
    if count == 0 {
        return;
    }
    let dropped: Vec<usize> = (0..count).map(|_| rng.below(num_demos)).collect();
    for (_, predictor) in program.named_predictors_mut() {
        let kept: Vec<Fields> = predictor
            .demos()
            .iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, d)| d.clone())
            .collect();
        predictor.set_demos(kept);
    }
}

/// numpy's `percentile` with linear interpolation (`p` in 0..=100; 0 for no values).
pub(super) fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = (p.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f64;
    let lo = position.floor() as usize;
    let hi = position.ceil() as usize;
    let (a, b) = (sorted[lo], sorted[hi.min(sorted.len() - 1)]);
    a + (b - a) * (position - lo as f64)
}

/// The runs of each example (run `m * batch + e` is model `m` on example `e`), best
/// first, the buckets ordered by (max − min, max, max − mean) descending; ties keep
/// batch order, as Python's stable sort does.
pub(super) fn buckets(scores: &[f64], batch: usize) -> Vec<Bucket> {
    if batch == 0 {
        return Vec::new();
    }
    let mut all: Vec<Bucket> = (0..batch)
        .map(|example| {
            let mut runs: Vec<usize> = (example..scores.len()).step_by(batch).collect();
            runs.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            let values: Vec<f64> = runs.iter().map(|&i| scores[i]).collect();
            let max = values.first().copied().unwrap_or(0.0);
            let min = values.last().copied().unwrap_or(0.0);
            Bucket {
                example,
                runs,
                stats: (max - min, max, max - mean(&values)),
            }
        })
        .collect();
    all.sort_by(|a, b| {
        b.stats
            .0
            .total_cmp(&a.stats.0)
            .then(b.stats.1.total_cmp(&a.stats.1))
            .then(b.stats.2.total_cmp(&a.stats.2))
    });
    all
}

/// The `k` programs with the best average score (ties in pool order), with the original
/// (index 0) taking the last place if it is not among them; no repeats.
pub(super) fn top_k_plus_baseline(averages: &[f64], k: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..averages.len()).collect();
    ranked.sort_by(|&a, &b| averages[b].total_cmp(&averages[a]));
    ranked.truncate(k);
    if !ranked.contains(&0)
        && let Some(last) = ranked.last_mut()
    {
        *last = 0;
    }
    let mut unique = Vec::with_capacity(ranked.len());
    for i in ranked {
        if !unique.contains(&i) {
            unique.push(i);
        }
    }
    unique
}

/// One of `candidates`, drawn with probability ∝ exp(average / temperature) (the best
/// when the temperature is not positive). `candidates` is never empty here (the original
/// is always among them); `0` is returned if it is.
pub(super) fn softmax_sample(
    rng: &mut Rng,
    candidates: &[usize],
    averages: &[f64],
    temperature: f64,
) -> usize {
    let score = |i: usize| averages.get(i).copied().unwrap_or(0.0);
    let Some(&first) = candidates.first() else {
        return 0;
    };
    if temperature.is_nan() || temperature <= 0.0 {
        return candidates.iter().copied().fold(first, |best, i| {
            if score(i) > score(best) { i } else { best }
        });
    }
    // Shifted by the best score: the same probabilities, without overflow.
    let top = candidates
        .iter()
        .map(|&i| score(i))
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = candidates
        .iter()
        .map(|&i| ((score(i) - top) / temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        return candidates[rng.below(candidates.len())];
    }
    // Python's `random.choices`: the first cumulative weight above u · total.
    let u = rng.next_f64() * total;
    let mut cumulative = 0.0;
    for (&i, w) in candidates.iter().zip(&weights) {
        cumulative += w;
        if cumulative > u {
            return i;
        }
    }
    candidates[candidates.len() - 1]
}

/// A Poisson draw with mean `lambda` (Knuth's method, in chunks so that large means do
/// not underflow; Poisson variables add up).
pub(super) fn poisson(rng: &mut Rng, lambda: f64) -> usize {
    if lambda.is_nan() || lambda <= 0.0 || lambda.is_infinite() {
        return 0;
    }
    let mut left = lambda;
    let mut count = 0;
    while left > 0.0 {
        let chunk = left.min(30.0);
        left -= chunk;
        let limit = (-chunk).exp();
        let mut product = rng.next_f64();
        while product > limit {
            count += 1;
            product *= rng.next_f64();
        }
    }
    count
}

/// Which of `m + 1` winners (the original at 0) are scored at the end: `n` evenly spaced,
/// rounded half to even as Python's `round`, without repeats.
pub(super) fn winner_schedule(m: usize, n: usize) -> Vec<usize> {
    if m < 1 || n < 2 {
        return vec![if m < 1 { 0 } else { m }];
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let w = ((i * m) as f64 / (n - 1) as f64).round_ties_even() as usize;
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}
