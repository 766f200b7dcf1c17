//! Usage tracking: how many LM calls a piece of work made, how many tokens they took, what
//! they cost, and a budget that stops the work when it is spent.
//!
//! Run a future inside [`tracked`] and every LM call a predictor makes in it (whatever LM
//! it uses: its own, the scoped one or the configured one) is counted, by model. Scopes
//! nest: a call counts in every enclosing scope, so an optimizer's total includes what its
//! evaluations spent. A scope may carry a call budget ([`tracked_with_budget`]): once the
//! calls counted in it reach the budget, predictors inside it fail with
//! [`Error::BudgetExhausted`](crate::Error::BudgetExhausted) instead of calling the LM.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//! use dspy::usage::{Price, PriceTable, tracked};
//!
//! let lm = ScriptedLm::new(["[[ ## answer ## ]]\n4", "[[ ## answer ## ]]\n6"]);
//! let qa = Predict::<Dynamic>::parse("question -> answer: int").unwrap();
//! let ask = |q: &str| {
//!     let mut input = dspy::Fields::new();
//!     input.insert("question".into(), q.into());
//!     input
//! };
//! let ((), usage) = tracked(async {
//!     qa.call_with(&lm, ask("2+2?")).await.unwrap();
//!     qa.call_with(&lm, ask("3+3?")).await.unwrap();
//! })
//! .await;
//! assert_eq!(usage.calls, 2);
//! let prices = PriceTable::new().with("scripted", Price::per_million(0.15, 0.60));
//! assert!(usage.cost(&prices).is_some());
//! # });
//! ```

use crate::lm::Usage;
use crate::settings::{current_context, scoped};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Calls and tokens of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// LM calls made.
    pub calls: u64,
    /// Prompt tokens, summed.
    pub prompt_tokens: u64,
    /// Completion tokens, summed.
    pub completion_tokens: u64,
}

impl ModelUsage {
    fn add(&mut self, usage: &Usage) {
        self.calls += 1;
        self.prompt_tokens += usage.prompt_tokens;
        self.completion_tokens += usage.completion_tokens;
    }
}

/// What the LM calls of a tracked scope took, in all and by model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSummary {
    /// LM calls made.
    pub calls: u64,
    /// Prompt tokens, summed.
    pub prompt_tokens: u64,
    /// Completion tokens, summed.
    pub completion_tokens: u64,
    /// The same, by model name.
    pub by_model: BTreeMap<String, ModelUsage>,
    /// Calls answered from a cache (counted in `calls`; their tokens are not counted, as
    /// nothing was spent on them).
    #[serde(default)]
    pub cached: u64,
}

impl UsageSummary {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// The cost of these calls at `prices`, or `None` when a model used has no price.
    pub fn cost(&self, prices: &PriceTable) -> Option<f64> {
        self.by_model
            .iter()
            .map(|(model, usage)| prices.get(model).map(|p| p.cost(usage)))
            .sum()
    }

    /// Adds `other` to this summary.
    pub fn absorb(&mut self, other: &UsageSummary) {
        self.calls += other.calls;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cached += other.cached;
        for (model, usage) in &other.by_model {
            let mine = self.by_model.entry(model.clone()).or_default();
            mine.calls += usage.calls;
            mine.prompt_tokens += usage.prompt_tokens;
            mine.completion_tokens += usage.completion_tokens;
        }
    }

    fn add(&mut self, model: &str, usage: &Usage) {
        self.calls += 1;
        self.prompt_tokens += usage.prompt_tokens;
        self.completion_tokens += usage.completion_tokens;
        match self.by_model.get_mut(model) {
            Some(entry) => entry.add(usage),
            None => {
                let mut entry = ModelUsage::default();
                entry.add(usage);
                self.by_model.insert(model.to_string(), entry);
            }
        }
    }
}

impl fmt::Display for UsageSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} LM calls, {} prompt + {} completion tokens",
            self.calls, self.prompt_tokens, self.completion_tokens
        )?;
        if self.cached > 0 {
            write!(f, " ({} from the cache)", self.cached)?;
        }
        Ok(())
    }
}

/// The price of one model's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Price of one million prompt tokens.
    pub prompt_per_million: f64,
    /// Price of one million completion tokens.
    pub completion_per_million: f64,
}

impl Price {
    /// A price per million prompt and completion tokens, as providers list them.
    pub fn per_million(prompt: f64, completion: f64) -> Self {
        Price {
            prompt_per_million: prompt,
            completion_per_million: completion,
        }
    }

    /// The cost of `usage` at this price.
    pub fn cost(&self, usage: &ModelUsage) -> f64 {
        (usage.prompt_tokens as f64 * self.prompt_per_million
            + usage.completion_tokens as f64 * self.completion_per_million)
            / 1e6
    }
}

/// Prices by model name: the hook through which reports show cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        PriceTable::default()
    }

    /// With `model` priced at `price` (the model name as the LM reports it).
    pub fn with(mut self, model: impl Into<String>, price: Price) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// The price of `model`, if listed.
    pub fn get(&self, model: &str) -> Option<&Price> {
        self.prices.get(model)
    }
}

/// One tracked scope's counter, linked to the scope around it.
pub(crate) struct Tracker {
    summary: Mutex<UsageSummary>,
    budget: Option<u64>,
    parent: Option<Arc<Tracker>>,
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, UsageSummary> {
        match self.summary.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn chain(self: &Arc<Self>) -> impl Iterator<Item = &Tracker> {
        std::iter::successors(Some(&**self), |t| t.parent.as_deref())
    }
}

/// Runs `fut` and returns its output with the usage of every LM call made inside it.
pub async fn tracked<F: Future>(fut: F) -> (F::Output, UsageSummary) {
    tracked_inner(None, fut).await
}

/// [`tracked`] with a budget of `max_calls` LM calls: once they are spent, predictors in
/// the scope return [`Error::BudgetExhausted`](crate::Error::BudgetExhausted) instead of
/// calling the LM. Budgets nest: the tightest enclosing one applies.
pub async fn tracked_with_budget<F: Future>(max_calls: u64, fut: F) -> (F::Output, UsageSummary) {
    tracked_inner(Some(max_calls), fut).await
}

async fn tracked_inner<F: Future>(budget: Option<u64>, fut: F) -> (F::Output, UsageSummary) {
    let mut context = current_context();
    let tracker = Arc::new(Tracker {
        summary: Mutex::new(UsageSummary::default()),
        budget,
        parent: context.usage.take(),
    });
    context.usage = Some(Arc::clone(&tracker));
    let output = scoped(context, fut).await;
    let summary = tracker.lock().clone();
    (output, summary)
}

/// The usage counted so far in the innermost tracked scope (`None` outside one).
pub fn current() -> Option<UsageSummary> {
    current_context().usage.map(|t| t.lock().clone())
}

/// Reserves one call in every enclosing tracked scope, or says which budget is spent.
/// Counting at reservation (not at completion) keeps concurrent calls from overshooting.
pub(crate) fn reserve_call() -> Result<(), u64> {
    let Some(tracker) = current_context().usage else {
        return Ok(());
    };
    let mut guards: Vec<_> = tracker.chain().map(|t| (t.budget, t.lock())).collect();
    if let Some(limit) = guards
        .iter()
        .find_map(|(budget, summary)| budget.filter(|b| summary.calls >= *b))
    {
        return Err(limit);
    }
    for (_, summary) in &mut guards {
        summary.calls += 1;
    }
    Ok(())
}

/// Records the tokens of a call reserved with [`reserve_call`]; a cached answer counts
/// no tokens.
pub(crate) fn record_tokens(model: &str, usage: &Usage, cached: bool) {
    let Some(tracker) = current_context().usage else {
        return;
    };
    let usage = if cached { &Usage::default() } else { usage };
    for t in tracker.chain() {
        let mut summary = t.lock();
        summary.add(model, usage);
        if cached {
            summary.cached += 1;
        }
        // `add` counted the call again; it was counted when reserved.
        summary.calls -= 1;
    }
}
