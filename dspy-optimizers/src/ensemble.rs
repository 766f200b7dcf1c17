//! `Ensemble`: several programs answer; one answer is kept.

use dspy_core::metrics::normalize_text;
use dspy_core::rng::Rng;
use dspy_core::{Error, Module, Program, Result, Visitor, VisitorMut};
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// How an [`Ensemble`] turns its programs' outputs into one.
pub enum Reduce<O> {
    /// [`majority`]: the most common value of the output's last field.
    Majority,
    /// A function of every successful output, in program order.
    With(Arc<dyn Fn(Vec<O>) -> Result<O> + Send + Sync>),
}

impl<O> Clone for Reduce<O> {
    fn clone(&self) -> Self {
        match self {
            Reduce::Majority => Reduce::Majority,
            Reduce::With(f) => Reduce::With(Arc::clone(f)),
        }
    }
}

impl<O> std::fmt::Debug for Reduce<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reduce::Majority => f.write_str("Majority"),
            Reduce::With(_) => f.write_str("With(<fn>)"),
        }
    }
}

/// DSPy's `majority`: the output whose last field (in serialization order) has the most
/// common value, strings compared after [`normalize_text`]; ties go to the value seen
/// first. `None` for no outputs.
///
/// ```
/// use dspy::optimizers::majority;
/// use serde_json::json;
/// let votes = vec![json!({"answer": "Paris"}), json!({"answer": "Rome"}), json!({"answer": "paris."})];
/// assert_eq!(majority(votes).unwrap()["answer"], "Paris");
/// ```
pub fn majority<O: Serialize>(outputs: Vec<O>) -> Option<O> {
    let keys: Vec<String> = outputs
        .iter()
        .map(|o| match serde_json::to_value(o) {
            Ok(Value::Object(map)) => map.values().next_back().map(vote_key).unwrap_or_default(),
            Ok(other) => vote_key(&other),
            Err(_) => String::new(),
        })
        .collect();
    let mut counts: Vec<(&str, usize, usize)> = Vec::new(); // key, count, first index
    for (i, key) in keys.iter().enumerate() {
        match counts.iter_mut().find(|(k, ..)| *k == key) {
            Some(entry) => entry.1 += 1,
            None => counts.push((key, 1, i)),
        }
    }
    let winner = counts
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))?
        .2;
    outputs.into_iter().nth(winner)
}

fn vote_key(value: &Value) -> String {
    match value {
        Value::String(s) => normalize_text(s),
        other => other.to_string(),
    }
}

/// Runs several programs on each input, concurrently, and reduces their outputs to one
/// (DSPy's `Ensemble`). With [`size`](Ensemble::size), each call runs a random subset.
/// Outputs of programs that failed are left out; if all fail, the first error is returned.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::optimizers::Ensemble;
///
/// let answers = ["[[ ## answer ## ]]\nParis", "[[ ## answer ## ]]\nLyon", "[[ ## answer ## ]]\nParis"];
/// let programs: Vec<Predict<Dynamic>> = answers
///     .iter()
///     .map(|a| Predict::parse("question -> answer").unwrap().with_lm(ScriptedLm::new([*a])))
///     .collect();
/// let ensemble = Ensemble::new(programs);
/// let mut input = dspy::Fields::new();
/// input.insert("question".into(), "Capital of France?".into());
/// let out = ensemble.forward(input).await.unwrap();
/// assert_eq!(out["answer"], "Paris");
/// # });
/// ```
pub struct Ensemble<P: Program> {
    programs: Vec<P>,
    reduce: Reduce<P::Output>,
    size: Option<usize>,
    rng: Arc<Mutex<Rng>>,
}

impl<P: Program + Clone> Clone for Ensemble<P> {
    fn clone(&self) -> Self {
        Ensemble {
            programs: self.programs.clone(),
            reduce: self.reduce.clone(),
            size: self.size,
            rng: Arc::new(Mutex::new(self.lock_rng().clone())),
        }
    }
}

impl<P: Program> std::fmt::Debug for Ensemble<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensemble")
            .field("programs", &self.programs.len())
            .field("reduce", &self.reduce)
            .field("size", &self.size)
            .finish()
    }
}

impl<P: Program> Ensemble<P> {
    /// An ensemble of `programs`, reduced by [`majority`].
    pub fn new(programs: Vec<P>) -> Self {
        Ensemble {
            programs,
            reduce: Reduce::Majority,
            size: None,
            rng: Arc::new(Mutex::new(Rng::new(0))),
        }
    }

    /// Reduces the outputs with `f` instead of by majority.
    pub fn reduce_with(
        mut self,
        f: impl Fn(Vec<P::Output>) -> Result<P::Output> + Send + Sync + 'static,
    ) -> Self {
        self.reduce = Reduce::With(Arc::new(f));
        self
    }

    /// Runs `n` programs per call, drawn at random (seeded by [`seed`](Ensemble::seed)).
    pub fn size(mut self, n: usize) -> Self {
        self.size = Some(n.max(1));
        self
    }

    /// The seed of the draws made by [`size`](Ensemble::size) (default 0).
    pub fn seed(self, seed: u64) -> Self {
        *self.lock_rng() = Rng::new(seed);
        self
    }

    /// The programs.
    pub fn programs(&self) -> &[P] {
        &self.programs
    }

    fn lock_rng(&self) -> std::sync::MutexGuard<'_, Rng> {
        match self.rng.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl<P: Program> Module for Ensemble<P> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        visitor.enter("programs");
        self.programs.visit_predictors(visitor);
        visitor.exit();
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        visitor.enter("programs");
        self.programs.visit_predictors_mut(visitor);
        visitor.exit();
    }
}

impl<P> Program for Ensemble<P>
where
    P: Program,
    P::Input: Clone,
    P::Output: Serialize,
{
    type Input = P::Input;
    type Output = P::Output;

    async fn forward(&self, input: P::Input) -> Result<P::Output> {
        let chosen: Vec<usize> = match self.size {
            Some(n) if n < self.programs.len() => {
                let mut picked = self.lock_rng().sample_indices(self.programs.len(), n);
                picked.sort_unstable();
                picked
            }
            _ => (0..self.programs.len()).collect(),
        };
        let results = futures::future::join_all(
            chosen
                .iter()
                .map(|&i| self.programs[i].forward(input.clone())),
        )
        .await;
        let mut outputs = Vec::with_capacity(results.len());
        let mut first_error = None;
        for result in results {
            match result {
                Ok(output) => outputs.push(output),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if outputs.is_empty() {
            return Err(first_error.unwrap_or_else(|| Error::Optimizer {
                optimizer: "Ensemble".into(),
                message: "the ensemble has no programs".into(),
            }));
        }
        match &self.reduce {
            Reduce::Majority => majority(outputs).ok_or_else(|| Error::Optimizer {
                optimizer: "Ensemble".into(),
                message: "no output to vote on".into(),
            }),
            Reduce::With(f) => f(outputs),
        }
    }
}
