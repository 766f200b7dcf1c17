//! Built-in metrics on answers (DSPy's `answer_exact_match`, SQuAD normalization, F1).
//!
//! They compare text; a metric closure picks the fields:
//! `|ex, out, _| metrics::exact_match(&out.answer, &ex.label.answer)`.

use std::collections::HashMap;

/// SQuAD normalization: lower case, punctuation removed, articles (`a`, `an`, `the`)
/// removed, whitespace collapsed.
///
/// ```
/// assert_eq!(dspy::metrics::normalize_text("The  Eiffel Tower!"), "eiffel tower");
/// ```
pub fn normalize_text(text: &str) -> String {
    let lowered = text.to_lowercase();
    let no_punct: String = lowered
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    no_punct
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Exact match after trimming: `"Paris "` matches `"Paris"`, `"paris"` does not.
pub fn exact_match(prediction: &str, gold: &str) -> bool {
    prediction.trim() == gold.trim()
}

/// Match after [`normalize_text`] (DSPy's `answer_exact_match`): `"The Paris."` matches
/// `"paris"`.
pub fn normalized_match(prediction: &str, gold: &str) -> bool {
    normalize_text(prediction) == normalize_text(gold)
}

/// Whether `prediction` matches any of several acceptable answers.
pub fn normalized_match_any<S: AsRef<str>>(prediction: &str, golds: &[S]) -> bool {
    golds
        .iter()
        .any(|g| normalized_match(prediction, g.as_ref()))
}

/// SQuAD token F1 between normalized texts (1.0 for identical, 0.0 for disjoint).
///
/// ```
/// let f1 = dspy::metrics::f1_score("the big red dog", "a red dog");
/// assert!((f1 - 0.8).abs() < 1e-9);
/// ```
pub fn f1_score(prediction: &str, gold: &str) -> f64 {
    let p = normalize_text(prediction);
    let g = normalize_text(gold);
    let p_tokens: Vec<&str> = p.split_whitespace().collect();
    let g_tokens: Vec<&str> = g.split_whitespace().collect();
    if p_tokens.is_empty() || g_tokens.is_empty() {
        return f64::from(p_tokens == g_tokens);
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for t in &g_tokens {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0i64;
    for t in &p_tokens {
        if let Some(c) = counts.get_mut(t)
            && *c > 0
        {
            *c -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p_tokens.len() as f64;
    let recall = common as f64 / g_tokens.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The first number in `text` (`"about 1,234.5 km"` → `1234.5`).
pub fn parse_number(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|c| *c != ',' && *c != '_').collect();
    let bytes = cleaned.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            || (matches!(bytes[i], b'-' | b'.')
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts {
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                j += 1;
            }
            let number = cleaned[i..j].trim_end_matches('.');
            if let Ok(x) = number.parse::<f64>() {
                return Some(x);
            }
        }
        i += 1;
    }
    None
}

/// Whether the first numbers in both texts are equal within a relative tolerance of 1e-6
/// (`"4 hours"` matches `"4.0"`).
pub fn numeric_match(prediction: &str, gold: &str) -> bool {
    match (parse_number(prediction), parse_number(gold)) {
        (Some(p), Some(g)) => (p - g).abs() <= 1e-6 * g.abs().max(1.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_normalization() {
        assert_eq!(
            normalize_text("An apple, the PIE & a tart."),
            "apple pie tart"
        );
        assert!(normalized_match("The Paris.", "paris"));
        assert!(!exact_match("paris", "Paris"));
        assert!(normalized_match_any("Lyon", &["Paris", "lyon"]));
    }

    #[test]
    fn f1_counts_overlap() {
        assert_eq!(f1_score("Paris", "paris"), 1.0);
        assert_eq!(f1_score("Rome", "Paris"), 0.0);
        assert_eq!(f1_score("", ""), 1.0);
        assert_eq!(f1_score("the", "paris"), 0.0);
    }

    #[test]
    fn numbers_are_found_and_compared() {
        assert_eq!(parse_number("about 1,234.5 km"), Some(1234.5));
        assert_eq!(parse_number("-3 degrees"), Some(-3.0));
        assert_eq!(parse_number("It took 2."), Some(2.0));
        assert_eq!(parse_number("none"), None);
        assert!(numeric_match("4 hours", "4.0"));
        assert!(!numeric_match("5", "4"));
    }
}
