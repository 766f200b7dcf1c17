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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

static HISTORY: Mutex<VecDeque<Kept>> = Mutex::new(VecDeque::new());
static CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_HISTORY_SIZE);

/// How many of the last kept calls a new one looks through for texts to share.
const SHARE_LOOKBACK: usize = 8;

/// A call as the history keeps it: a text that one of the calls just before also sent
/// (the system prompt, the demos: most of a prompt, in most calls) is shared with that
/// call rather than kept again. Ten thousand calls of copies, in many small pieces, kept
/// the allocator slow for everything else a program did.
struct Kept {
    model: Arc<str>,
    messages: Box<[(Role, Arc<str>)]>,
    config: Arc<LmConfig>,
    outputs: Box<[Box<str>]>,
    error: Option<Box<str>>,
    usage: Usage,
    latency: Duration,
    cached: bool,
    retries: u32,
    timestamp: SystemTime,
}

impl Kept {
    /// `entry` kept, sharing texts with the last calls of `history`.
    fn new(entry: HistoryEntry, history: &VecDeque<Kept>) -> Kept {
        let recent = || history.iter().rev().take(SHARE_LOOKBACK);
        let model = recent()
            .find(|k| *k.model == *entry.model)
            .map_or_else(|| Arc::from(entry.model.as_str()), |k| k.model.clone());
        let config = recent()
            .find(|k| *k.config == entry.config)
            .map_or_else(|| Arc::new(entry.config), |k| k.config.clone());
        let messages = entry
            .messages
            .into_iter()
            .enumerate()
            .map(|(i, message)| {
                // A repeated text sits where it sat before: the system prompt first, the
                // demos after it.
                let shared = recent().find_map(|k| {
                    k.messages
                        .get(i)
                        .filter(|(role, text)| *role == message.role && **text == *message.content)
                });
                let text = shared.map_or_else(
                    || Arc::from(message.content.as_str()),
                    |(_, text)| text.clone(),
                );
                (message.role, text)
            })
            .collect();
        Kept {
            model,
            messages,
            config,
            outputs: entry
                .outputs
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
            error: entry.error.map(String::into_boxed_str),
            usage: entry.usage,
            latency: entry.latency,
            cached: entry.cached,
            retries: entry.retries,
            timestamp: entry.timestamp,
        }
    }

    fn entry(&self) -> HistoryEntry {
        HistoryEntry {
            model: self.model.to_string(),
            messages: self
                .messages
                .iter()
                .map(|(role, text)| Message {
                    role: *role,
                    content: text.to_string(),
                })
                .collect(),
            config: (*self.config).clone(),
            outputs: self.outputs.iter().map(|o| o.to_string()).collect(),
            error: self.error.as_ref().map(|e| e.to_string()),
            usage: self.usage,
            latency: self.latency,
            cached: self.cached,
            retries: self.retries,
            timestamp: self.timestamp,
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, VecDeque<Kept>> {
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
        .map(Kept::entry)
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
    let kept = Kept::new(entry, &history);
    // The calls that make room are dropped after the lock is let go.
    let mut gone = Vec::new();
    while history.len() >= capacity {
        gone.extend(history.pop_front());
    }
    history.push_back(kept);
    drop(history);
    drop(gone);
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

    fn call(system: &str, user: &str, output: &str) -> HistoryEntry {
        HistoryEntry {
            model: "m".into(),
            messages: vec![Message::system(system), Message::user(user)],
            config: LmConfig::default().with_temperature(0.5),
            outputs: vec![output.into()],
            error: None,
            usage: Usage::default(),
            latency: Duration::from_millis(1),
            cached: false,
            retries: 0,
            timestamp: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn kept_calls_share_repeated_texts_and_give_back_what_was_sent() {
        let mut kept = VecDeque::new();
        let first = call("the same long prompt", "one", "1");
        kept.push_back(Kept::new(first.clone(), &kept));
        let second = call("the same long prompt", "two", "2");
        kept.push_back(Kept::new(second.clone(), &kept));
        let other = call("another prompt", "two", "3");
        kept.push_back(Kept::new(other.clone(), &kept));
        let (a, b, c) = (&kept[0], &kept[1], &kept[2]);
        assert!(
            Arc::ptr_eq(&a.messages[0].1, &b.messages[0].1),
            "system shared"
        );
        assert!(!Arc::ptr_eq(&a.messages[1].1, &b.messages[1].1));
        // A text sent just before is shared whatever else the call changed.
        assert_eq!(*c.messages[1].1, *b.messages[1].1);
        assert!(
            Arc::ptr_eq(&c.messages[1].1, &b.messages[1].1),
            "user text shared"
        );
        assert!(!Arc::ptr_eq(&c.messages[0].1, &b.messages[0].1));
        assert!(Arc::ptr_eq(&a.config, &c.config) && Arc::ptr_eq(&a.model, &c.model));
        assert_eq!(a.entry(), first);
        assert_eq!(b.entry(), second);
        assert_eq!(c.entry(), other);
        // The same text at another position is kept anew: only the message at the same
        // index is compared.
        let moved = Kept::new(call("two", "the same long prompt", "4"), &kept);
        assert!(!Arc::ptr_eq(&moved.messages[1].1, &a.messages[0].1));
        assert_eq!(*moved.messages[1].1, *"the same long prompt");
    }

    #[test]
    fn a_text_seen_only_long_ago_is_kept_anew() {
        let mut kept = VecDeque::new();
        kept.push_back(Kept::new(call("old", "0", ""), &kept));
        for i in 0..SHARE_LOOKBACK {
            kept.push_back(Kept::new(call(&format!("p{i}"), "x", ""), &kept));
        }
        let again = Kept::new(call("old", "y", ""), &kept);
        assert_eq!(*again.messages[0].1, *"old");
        assert!(!Arc::ptr_eq(&again.messages[0].1, &kept[0].messages[0].1));
    }
}
