//! Which LM a predictor uses when it is not given one.
//!
//! A predictor looks, in order, at its own LM (`.with_lm(..)`), at the LM of the enclosing
//! [`with_lm`] scope (task-local, so concurrent requests in one server can use different
//! LMs), and at the process-wide LM set by [`configure`].

use crate::lm::LM;
use std::future::Future;
use std::sync::{Arc, RwLock};

static GLOBAL_LM: RwLock<Option<Arc<dyn LM>>> = RwLock::new(None);

tokio::task_local! {
    static SCOPED_LM: Arc<dyn LM>;
}

/// Sets the process-wide LM, like `dspy.configure(lm=...)`. Any thread or task may call it;
/// the last call wins.
///
/// ```
/// use dspy::prelude::*;
/// dspy::configure(ScriptedLm::new(["..."]));
/// ```
pub fn configure(lm: impl LM + 'static) {
    configure_arc(Arc::new(lm));
}

/// [`configure`] with an LM that is already shared.
pub fn configure_arc(lm: Arc<dyn LM>) {
    match GLOBAL_LM.write() {
        Ok(mut slot) => *slot = Some(lm),
        Err(poisoned) => *poisoned.into_inner() = Some(lm),
    }
}

/// Runs `fut` with `lm` as the LM of every predictor inside it that has none of its own,
/// like `with dspy.context(lm=...)`. Spawned tasks do not inherit the scope.
pub async fn with_lm<F: Future>(lm: Arc<dyn LM>, fut: F) -> F::Output {
    SCOPED_LM.scope(lm, fut).await
}

/// The LM in effect here: the scoped one, else the configured one.
pub fn current_lm() -> Option<Arc<dyn LM>> {
    SCOPED_LM
        .try_with(Arc::clone)
        .ok()
        .or_else(|| match GLOBAL_LM.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
}
