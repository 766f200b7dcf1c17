//! The context a predictor runs in: which LM it uses when it has none of its own, and the
//! trace it records into while a program is traced.
//!
//! A predictor looks, in order, at its own LM (`.with_lm(..)`), at the LM of the enclosing
//! [`with_lm`] scope (task-local, so concurrent requests in one server can use different
//! LMs), and at the process-wide LM set by [`configure`].
//!
//! Scopes are task-local: they cover `tokio::join!` and every future awaited inside them.
//! A task started with plain `tokio::spawn` starts outside them; start it with [`spawn`]
//! to carry the scope (LM and trace) into it.

use crate::lm::LM;
use crate::trace::TraceBuffer;
use std::future::Future;
use std::sync::{Arc, RwLock};

static GLOBAL_LM: RwLock<Option<Arc<dyn LM>>> = RwLock::new(None);

/// What a scope sets; cloned into spawned tasks.
#[derive(Clone, Default)]
pub(crate) struct Context {
    pub(crate) lm: Option<Arc<dyn LM>>,
    pub(crate) trace: Option<Arc<TraceBuffer>>,
    pub(crate) usage: Option<Arc<crate::usage::Tracker>>,
}

tokio::task_local! {
    static CONTEXT: Context;
}

pub(crate) fn current_context() -> Context {
    CONTEXT.try_with(Clone::clone).unwrap_or_default()
}

pub(crate) async fn scoped<F: Future>(context: Context, fut: F) -> F::Output {
    CONTEXT.scope(context, fut).await
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
/// like `with dspy.context(lm=...)`.
pub async fn with_lm<F: Future>(lm: Arc<dyn LM>, fut: F) -> F::Output {
    let mut context = current_context();
    context.lm = Some(lm);
    scoped(context, fut).await
}

/// The LM in effect here: the scoped one, else the configured one.
pub fn current_lm() -> Option<Arc<dyn LM>> {
    current_context().lm.or_else(|| match GLOBAL_LM.read() {
        Ok(slot) => slot.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    })
}

/// `tokio::spawn` that carries the current scope (LM and trace) into the new task.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// let lm = Arc::new(dspy::ScriptedLm::new(["x"]));
/// let model = dspy::with_lm(lm, async {
///     dspy::spawn(async { dspy::settings::current_lm().map(|lm| lm.model().to_string()) })
///         .await
///         .unwrap()
/// })
/// .await;
/// assert_eq!(model.as_deref(), Some("scripted"));
/// # });
/// ```
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let context = current_context();
    tokio::spawn(CONTEXT.scope(context, fut))
}
