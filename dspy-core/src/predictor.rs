//! `Predictor`: the type-erased view of a predictor that optimizers and save/load use.

use crate::error::Result;
use crate::lm::LM;
use crate::signature::{Fields, SignatureSpec};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one predictor instance (a clone is another instance), so that trace entries
/// can be matched to predictor paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PredictorId(u64);

impl PredictorId {
    /// A fresh id, never handed out before in this process.
    pub fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        PredictorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A boxed future, for the one async method of an object-safe trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What every predictor exposes, whatever its signature type: its signature, its
/// optimizable state (instructions and demos), its LM, and a call on field maps.
///
/// Programs hand their predictors out as `&dyn Predictor` / `&mut dyn Predictor` through
/// [`Module`](crate::Module), so an optimizer treats every predictor alike.
pub trait Predictor: Send + Sync {
    /// This instance's id.
    fn id(&self) -> PredictorId;

    /// The signature, with the current instructions and field descriptions.
    fn signature(&self) -> &SignatureSpec;

    /// Replaces the instructions.
    fn set_instructions(&mut self, instructions: String);

    /// Replaces the prefix and description of the field at `index` (inputs first, then
    /// outputs), as DSPy's saved state does. Out-of-range indices are ignored.
    fn set_field_text(&mut self, index: usize, prefix: String, description: String);

    /// The demos, as field maps.
    fn demos(&self) -> &[Fields];

    /// Replaces the demos.
    fn set_demos(&mut self, demos: Vec<Fields>);

    /// The predictor's own LM, if it has one.
    fn lm(&self) -> Option<Arc<dyn LM>>;

    /// Gives the predictor an LM of its own (or takes it away).
    fn set_lm(&mut self, lm: Option<Arc<dyn LM>>);

    /// One call on field maps with `lm` (unless the predictor has its own), traced like
    /// any other call.
    fn call_fields<'a>(&'a self, lm: &'a dyn LM, inputs: Fields) -> BoxFuture<'a, Result<Fields>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _predictor_is_object_safe(_: &dyn Predictor) {}

    #[test]
    fn ids_are_unique() {
        assert_ne!(PredictorId::fresh(), PredictorId::fresh());
    }
}
