//! GEPA's Pareto front: dominated candidates, Pareto selection, and merges of candidates
//! that improved different predictors of a common ancestor.

use dspy_core::rng::Rng;
use std::collections::BTreeSet;

/// The front with dominated candidates removed, as the `gepa` engine does: a candidate is
/// dominated when every example it is best on has another remaining candidate also best
/// on it; the weakest (by mean) are removed first.
pub(super) fn prune_dominated(fronts: &[BTreeSet<usize>], means: &[f64]) -> Vec<BTreeSet<usize>> {
    let mut programs: Vec<usize> = fronts
        .iter()
        .flatten()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    programs.sort_by(|a, b| {
        let (x, y) = (
            means.get(*a).copied().unwrap_or(0.0),
            means.get(*b).copied().unwrap_or(0.0),
        );
        x.total_cmp(&y)
    });
    let mut dominated: BTreeSet<usize> = BTreeSet::new();
    loop {
        let mut removed = false;
        for &y in &programs {
            if dominated.contains(&y) {
                continue;
            }
            let others: BTreeSet<usize> = programs
                .iter()
                .copied()
                .filter(|p| *p != y && !dominated.contains(p))
                .collect();
            let mut on_any = false;
            let covered = fronts.iter().filter(|f| f.contains(&y)).all(|f| {
                on_any = true;
                f.iter().any(|p| others.contains(p))
            });
            if on_any && covered {
                dominated.insert(y);
                removed = true;
                break;
            }
        }
        if !removed {
            break;
        }
    }
    fronts
        .iter()
        .map(|f| {
            f.iter()
                .copied()
                .filter(|p| !dominated.contains(p))
                .collect()
        })
        .collect()
}

/// The candidates left on the front once dominated ones are removed.
pub(super) fn dominators(fronts: &[BTreeSet<usize>], means: &[f64]) -> Vec<usize> {
    prune_dominated(fronts, means)
        .into_iter()
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Pareto selection: a candidate drawn in proportion to the number of examples it is
/// best on, after dominated ones are removed.
pub(super) fn select_from_front(fronts: &[BTreeSet<usize>], means: &[f64], rng: &mut Rng) -> usize {
    let pruned = prune_dominated(fronts, means);
    let pool: Vec<usize> = pruned.iter().flatten().copied().collect();
    if pool.is_empty() {
        return 0;
    }
    pool[rng.below(pool.len())]
}

/// All ancestors of `node`.
pub(super) fn ancestors(node: usize, parents: &[Vec<usize>]) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        for &p in parents.get(n).map(Vec::as_slice).unwrap_or_default() {
            if found.insert(p) {
                stack.push(p);
            }
        }
    }
    found
}

/// A merge to try: two front candidates `a < b` with a common ancestor no better than
/// either, where some predictor was changed by exactly one of them. The merged
/// instructions take each predictor from the one that changed it (the better one when
/// both did). Returns `(a, b, merged, description)`, the description naming the source of
/// each predictor so a merge is not tried twice.
pub(super) fn plan_merge(
    rng: &mut Rng,
    candidates: &[usize],
    parents: &[Vec<usize>],
    texts: &[Vec<String>],
    means: &[f64],
    seen: &BTreeSet<(usize, usize, Vec<usize>)>,
) -> Option<(usize, usize, Vec<String>, Vec<usize>)> {
    if candidates.len() < 2 {
        return None;
    }
    for _ in 0..10 {
        let picks = rng.sample_indices(candidates.len(), 2);
        let (mut a, mut b) = (candidates[picks[0]], candidates[picks[1]]);
        if b < a {
            std::mem::swap(&mut a, &mut b);
        }
        let (anc_a, anc_b) = (ancestors(a, parents), ancestors(b, parents));
        if anc_a.contains(&b) || anc_b.contains(&a) {
            continue;
        }
        let common: Vec<usize> = anc_a
            .intersection(&anc_b)
            .copied()
            .filter(|&c| means[c] <= means[a] && means[c] <= means[b])
            .filter(|&c| {
                (0..texts[c].len()).any(|k| {
                    (texts[c][k] == texts[a][k] || texts[c][k] == texts[b][k])
                        && texts[a][k] != texts[b][k]
                })
            })
            .collect();
        if common.is_empty() {
            continue;
        }
        let ancestor = common[rng.below(common.len())];
        let mut merged = Vec::new();
        let mut desc = Vec::new();
        for (k, x) in texts[ancestor].iter().enumerate() {
            let (y, z) = (&texts[a][k], &texts[b][k]);
            let source = if (x == y || x == z) && y != z {
                if x == y { b } else { a }
            } else if x != y && x != z {
                if means[a] >= means[b] { a } else { b }
            } else {
                a
            };
            merged.push(texts[source][k].clone());
            desc.push(source);
        }
        if seen.contains(&(a, b, desc.clone())) {
            continue;
        }
        return Some((a, b, merged, desc));
    }
    None
}

/// Up to `k` validation examples to judge a merge on: where the first parent is better,
/// where the second is, and where they tie, a third each.
pub(super) fn merge_subsample(a: &[f64], b: &[f64], k: usize) -> Vec<usize> {
    let n = a.len().min(b.len());
    let better_a: Vec<usize> = (0..n).filter(|&i| a[i] > b[i]).collect();
    let better_b: Vec<usize> = (0..n).filter(|&i| b[i] > a[i]).collect();
    let ties: Vec<usize> = (0..n).filter(|&i| a[i] == b[i]).collect();
    let each = k.div_ceil(3).max(1);
    let mut chosen = Vec::new();
    for bucket in [&better_a, &better_b, &ties] {
        for &i in bucket.iter().take(each) {
            if chosen.len() < k {
                chosen.push(i);
            }
        }
    }
    // Fill from what is left when a bucket was short.
    for i in 0..n {
        if chosen.len() >= k {
            break;
        }
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen
}
