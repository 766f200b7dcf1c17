//! Statistics for evaluation: confidence intervals and paired comparisons.

use crate::rng::Rng;

/// The mean of `xs` (0 for none).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// The 95% confidence interval of the mean: Wilson's interval when every score is 0 or 1
/// (it stays within [0, 1] and behaves at 0% and 100%), Student's t otherwise; the mean
/// itself when n < 2.
pub fn ci95(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    let m = mean(xs);
    if n < 2 {
        return (m, m);
    }
    if xs.iter().all(|x| *x == 0.0 || *x == 1.0) {
        let (nf, z2) = (n as f64, 1.959_964f64.powi(2));
        let denom = 1.0 + z2 / nf;
        let center = (m + z2 / (2.0 * nf)) / denom;
        let half = 1.959_964 * (m * (1.0 - m) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
        return ((center - half).max(0.0), (center + half).min(1.0));
    }
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t_975(n - 1) * (var / n as f64).sqrt();
    (m - half, m + half)
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        // Within 0.002 of the exact quantile from here on.
        _ => 1.959_964 + 2.37 / df as f64,
    }
}

/// Two programs scored on the same examples, compared pair by pair.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Comparison {
    /// Examples compared.
    pub n: usize,
    /// Mean score of the first program.
    pub mean_a: f64,
    /// Mean score of the second program.
    pub mean_b: f64,
    /// `mean_b - mean_a`.
    pub difference: f64,
    /// 95% bootstrap confidence interval of the difference.
    pub ci95: (f64, f64),
    /// Two-sided p-value of a paired sign-flip permutation test (no difference).
    pub p_value: f64,
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1}% -> {:.1}% over {} paired examples: difference {:+.1} points (95% CI {:+.1} to {:+.1}), p = {:.4}",
            100.0 * self.mean_a,
            100.0 * self.mean_b,
            self.n,
            100.0 * self.difference,
            100.0 * self.ci95.0,
            100.0 * self.ci95.1,
            self.p_value
        )
    }
}

const RESAMPLES: usize = 10_000;

/// Compares paired scores (`a[i]` and `b[i]` on the same example), with a seeded bootstrap
/// for the interval and a sign-flip permutation test for the p-value.
///
/// ```
/// use dspy_core::evaluate::compare_paired;
/// let before = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
/// let after = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0];
/// let c = compare_paired(&before, &after);
/// assert!(c.difference > 0.5 && c.ci95.0 > 0.0 && c.p_value < 0.05);
/// ```
pub fn compare_paired(a: &[f64], b: &[f64]) -> Comparison {
    let n = a.len().min(b.len());
    let diffs: Vec<f64> = (0..n).map(|i| b[i] - a[i]).collect();
    let observed = mean(&diffs);
    let mut rng = Rng::new(0x00d5_b1e5);
    let mut boots: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            if n == 0 {
                return 0.0;
            }
            (0..n).map(|_| diffs[rng.below(n)]).sum::<f64>() / n as f64
        })
        .collect();
    boots.sort_by(f64::total_cmp);
    let at = |q: f64| boots[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    let mut extreme = 0usize;
    for _ in 0..RESAMPLES {
        let flipped: f64 = diffs
            .iter()
            .map(|d| if rng.next_u64() & 1 == 0 { *d } else { -*d })
            .sum::<f64>()
            / n.max(1) as f64;
        if flipped.abs() >= observed.abs() - 1e-12 {
            extreme += 1;
        }
    }
    Comparison {
        n,
        mean_a: mean(&a[..n]),
        mean_b: mean(&b[..n]),
        difference: observed,
        ci95: (at(0.025), at(0.975)),
        p_value: (extreme + 1) as f64 / (RESAMPLES + 1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_matches_hand_computed_cases() {
        // t: n = 4, mean 0.5, sd = 0.258199, se = 0.129099, t(3) = 3.182.
        let (lo, hi) = ci95(&[0.2, 0.8, 0.4, 0.6]);
        assert!((lo - (0.5 - 3.182 * 0.129_099)).abs() < 1e-4, "{lo}");
        assert!((hi - (0.5 + 3.182 * 0.129_099)).abs() < 1e-4, "{hi}");
        assert_eq!(ci95(&[0.7]), (0.7, 0.7));
        // Wilson: 7 of 8.
        let (lo, hi) = ci95(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        assert!(
            (lo - 0.5291).abs() < 1e-3 && (hi - 0.9776).abs() < 1e-3,
            "{lo} {hi}"
        );
        let (lo, hi) = ci95(&[1.0; 10]);
        assert!(lo > 0.69 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
    }

    #[test]
    fn identical_programs_are_not_different() {
        let xs: Vec<f64> = (0..200).map(|i| f64::from(i % 3 == 0)).collect();
        let c = compare_paired(&xs, &xs);
        assert_eq!(c.difference, 0.0);
        assert_eq!(c.ci95, (0.0, 0.0));
        assert!(c.p_value > 0.99);
    }

    #[test]
    fn noise_is_not_called_significant() {
        // b differs from a by a symmetric ±1 on 20 of 100 examples.
        let a: Vec<f64> = (0..100).map(|i| f64::from(i % 2 == 0)).collect();
        let b: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| if i < 20 { 1.0 - x } else { *x })
            .collect();
        let c = compare_paired(&a, &b);
        assert_eq!(c.difference, 0.0);
        assert!(c.ci95.0 < 0.0 && c.ci95.1 > 0.0);
        assert!(c.p_value > 0.5, "{}", c.p_value);
    }
}
