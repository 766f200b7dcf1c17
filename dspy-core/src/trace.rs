//! Traces: what each predictor was given and gave while a program ran.
//!
//! Run a program inside [`traced`] and every predictor call in it (across `tokio::join!`,
//! and in tasks started with [`spawn`](crate::spawn)) is recorded in order. Optimizers turn
//! the entries of a successful run into demos; metrics receive the trace as DSPy's `trace`
//! argument.

use crate::module::Module;
use crate::predictor::PredictorId;
use crate::settings::{current_context, scoped};
use crate::signature::Fields;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// One predictor call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TraceEntry {
    /// Which predictor ran (see [`Trace::path_of`] for its path in a program).
    pub predictor: PredictorId,
    /// Its signature's name.
    pub signature: String,
    /// The input fields it was given.
    pub inputs: Fields,
    /// The output fields it produced (parsed).
    pub outputs: Fields,
}

impl TraceEntry {
    /// Inputs and outputs in one map: the shape of a demo.
    pub fn fields(&self) -> Fields {
        let mut all = self.inputs.clone();
        all.extend(self.outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

/// The predictor calls of one traced run, in the order they finished.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    entries: Vec<TraceEntry>,
}

impl Trace {
    /// Every entry, in order.
    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    /// How many calls were recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The path in `program` of the predictor that made `entry` (`None` if it is not in
    /// the program).
    pub fn path_of<M: Module + ?Sized>(&self, program: &M, entry: &TraceEntry) -> Option<String> {
        program
            .named_predictors()
            .into_iter()
            .find(|(_, p)| p.id() == entry.predictor)
            .map(|(path, _)| path)
    }

    /// The entries with their predictor paths in `program`, in order.
    pub fn with_paths<M: Module + ?Sized>(
        &self,
        program: &M,
    ) -> Vec<(Option<String>, &TraceEntry)> {
        let named = program.named_predictors();
        self.entries
            .iter()
            .map(|e| {
                let path = named
                    .iter()
                    .find(|(_, p)| p.id() == e.predictor)
                    .map(|(path, _)| path.clone());
                (path, e)
            })
            .collect()
    }
}

/// Where a traced scope collects entries.
#[derive(Default)]
pub(crate) struct TraceBuffer(Mutex<Vec<TraceEntry>>);

impl TraceBuffer {
    fn push(&self, entry: TraceEntry) {
        match self.0.lock() {
            Ok(mut entries) => entries.push(entry),
            Err(poisoned) => poisoned.into_inner().push(entry),
        }
    }

    fn take(&self) -> Vec<TraceEntry> {
        match self.0.lock() {
            Ok(mut entries) => std::mem::take(&mut *entries),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

/// Runs `fut` and returns its output with the trace of every predictor call inside it.
/// Traced scopes nest: an inner scope records its own calls, not the outer one's.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// let lm = ScriptedLm::new(["[[ ## answer ## ]]\n4"]);
/// let qa = Predict::<Dynamic>::parse("question -> answer: int").unwrap();
/// let mut input = dspy::Fields::new();
/// input.insert("question".into(), "2+2?".into());
/// let (out, trace) = dspy::trace::traced(qa.call_with(&lm, input)).await;
/// assert_eq!(out.unwrap()["answer"], 4);
/// assert_eq!(trace.len(), 1);
/// assert_eq!(trace.path_of(&qa, &trace.entries()[0]).as_deref(), Some(""));
/// # });
/// ```
pub async fn traced<F: Future>(fut: F) -> (F::Output, Trace) {
    let buffer = Arc::new(TraceBuffer::default());
    let mut context = current_context();
    context.trace = Some(Arc::clone(&buffer));
    let output = scoped(context, fut).await;
    let entries = buffer.take();
    (output, Trace { entries })
}

/// Records a predictor call in the enclosing traced scope, if any.
pub(crate) fn record(predictor: PredictorId, signature: &str, inputs: &Fields, outputs: &Fields) {
    if let Some(buffer) = current_context().trace {
        buffer.push(TraceEntry {
            predictor,
            signature: signature.to_string(),
            inputs: inputs.clone(),
            outputs: outputs.clone(),
        });
    }
}
