//! The history of LM calls: the last calls predictors made (messages, answer, tokens,
//! latency, whether cached), kept in memory to look at, as DSPy's `inspect_history`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//! let lm = ScriptedLm::new(["[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"]);
//! let qa = Predict::<Dynamic>::parse("question -> answer")?;
//! let mut input = dspy::Fields::new();
//! input.insert("question".into(), "Capital of France?".into());
//! qa.call_with(&lm, input).await?;
//! let last = dspy::lm::history::last(1);
//! assert_eq!(last[0].outputs, vec!["[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"]);
//! println!("{}", dspy::inspect_history(1)); // messages and answer, readably
//! # Ok::<(), dspy::Error>(()) }).unwrap();
//! ```

use super::{LmConfig, Message, Role, Usage};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// One LM call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The model, as the LM names it.
    pub model: String,
    /// The messages sent.
    pub messages: Vec<Message>,
    /// The settings sent with them (the predictor's; the LM's own defaults are not shown).
    pub config: LmConfig,
    /// The text of each completion (empty when the call failed).
    pub outputs: Vec<String>,
    /// Why the call failed, when it did.
    pub error: Option<String>,
    /// Token counts.
    pub usage: Usage,
    /// Time from request to answer.
    pub latency: Duration,
    /// Whether the answer came from a cache.
    pub cached: bool,
    /// Failed attempts retried before the answer.
    pub retries: u32,
    /// When the call was made.
    pub timestamp: SystemTime,
}

/// Calls kept by default, as DSPy's `max_history_size`.
pub const DEFAULT_HISTORY_SIZE: usize = 10_000;

static HISTORY: Mutex<VecDeque<HistoryEntry>> = Mutex::new(VecDeque::new());
static CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_HISTORY_SIZE);

fn lock() -> std::sync::MutexGuard<'static, VecDeque<HistoryEntry>> {
    match HISTORY.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Keeps at most `n` calls (the oldest go first); `0` keeps none (DSPy's
/// `disable_history`).
pub fn set_history_size(n: usize) {
    CAPACITY.store(n, Ordering::Relaxed);
    let mut history = lock();
    while history.len() > n {
        history.pop_front();
    }
}

/// Forgets every call.
pub fn clear_history() {
    lock().clear();
}

/// The last `n` calls, oldest first.
pub fn last(n: usize) -> Vec<HistoryEntry> {
    let history = lock();
    history
        .iter()
        .skip(history.len().saturating_sub(n))
        .cloned()
        .collect()
}

/// The last `n` calls, printed readably: each call's model, time, tokens and latency, its
/// messages and its answer.
pub fn inspect_history(n: usize) -> String {
    last(n).iter().map(|entry| format!("{entry}\n")).collect()
}

pub(crate) fn record(entry: HistoryEntry) {
    let capacity = CAPACITY.load(Ordering::Relaxed);
    if capacity == 0 {
        return;
    }
    let mut history = lock();
    while history.len() >= capacity {
        history.pop_front();
    }
    history.push_back(entry);
}

impl fmt::Display for HistoryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} — {} ms, {} prompt + {} completion tokens",
            utc(self.timestamp),
            self.model,
            self.latency.as_millis(),
            self.usage.prompt_tokens,
            self.usage.completion_tokens
        )?;
        if self.cached {
            f.write_str(", cached")?;
        }
        if self.retries > 0 {
            write!(f, ", {} retries", self.retries)?;
        }
        f.write_str("\n\n")?;
        for message in &self.messages {
            let who = match message.role {
                Role::System => "System message:",
                Role::User => "User message:",
                Role::Assistant => "Assistant message:",
            };
            writeln!(f, "{who}\n\n{}\n", message.content.trim_end())?;
        }
        match &self.error {
            Some(error) => writeln!(f, "Error:\n\n{error}")?,
            None => {
                for (i, output) in self.outputs.iter().enumerate() {
                    if self.outputs.len() > 1 {
                        writeln!(f, "Response {}:\n\n{}\n", i + 1, output.trim_end())?;
                    } else {
                        writeln!(f, "Response:\n\n{}\n", output.trim_end())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC.
fn utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(utc(t), "2026-11-18T11:06:40");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc(leap), "2000-02-29T00:00:00");
    }

    #[test]
    fn entries_print_messages_and_answer() {
        let entry = HistoryEntry {
            model: "m".into(),
            messages: vec![Message::system("be brief"), Message::user("hi")],
            config: LmConfig::default(),
            outputs: vec!["hello".into()],
            error: None,
            usage: Usage {
                prompt_tokens: 5,
                completion_tokens: 1,
            },
            latency: Duration::from_millis(12),
            cached: true,
            retries: 1,
            timestamp: SystemTime::UNIX_EPOCH,
        };
        let shown = entry.to_string();
        assert!(
            shown.starts_with(
                "[1970-01-01T00:00:00] m — 12 ms, 5 prompt + 1 completion tokens, cached, 1 retries"
            ),
            "{shown}"
        );
        assert!(shown.contains("System message:\n\nbe brief\n"));
        assert!(shown.contains("User message:\n\nhi\n"));
        assert!(shown.contains("Response:\n\nhello\n"));
    }
}
