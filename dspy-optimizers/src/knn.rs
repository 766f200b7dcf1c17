//! `KnnFewShot`: per input, the nearest training examples become the demos.

use crate::labeled::{fields_of, record};
use crate::report::CompileReport;
use dspy_core::embed::{Embedder, cosine};
use dspy_core::value::py_str;
use dspy_core::{Error, Example, Fields, LmError, Module, Program, Result, Visitor, VisitorMut};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The `k` training examples nearest an input, by the cosine similarity of their inputs'
/// embeddings (DSPy's `KNN`). The training set is embedded once, when built; query
/// embeddings are cached (up to 10,000 distinct inputs).
///
/// An example is embedded as DSPy does: its input fields as `name: value`, joined by ` | `.
pub struct Knn {
    k: usize,
    embedder: Arc<dyn Embedder>,
    records: Vec<Fields>,
    vectors: Vec<Vec<f32>>,
    cache: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

impl std::fmt::Debug for Knn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knn")
            .field("k", &self.k)
            .field("embedder", &self.embedder.name())
            .field("examples", &self.records.len())
            .finish()
    }
}

const QUERY_CACHE_CAP: usize = 10_000;

impl Knn {
    /// Embeds `trainset` with `embedder`, to answer queries for the `k` nearest.
    pub async fn new<I, L>(
        k: usize,
        trainset: &[Example<I, L>],
        embedder: Arc<dyn Embedder>,
    ) -> Result<Self>
    where
        I: Serialize,
        L: Serialize,
    {
        let mut records = Vec::with_capacity(trainset.len());
        let mut texts = Vec::with_capacity(trainset.len());
        for example in trainset {
            let inputs = fields_of(&example.input)?;
            texts.push(embedding_text(&inputs));
            records.push(record(example)?);
        }
        let vectors = embedder.embed(&texts).await?;
        if vectors.len() != texts.len() {
            return Err(LmError::MalformedResponse {
                endpoint: embedder.name().to_string(),
                message: format!(
                    "asked for {} embeddings, got {}",
                    texts.len(),
                    vectors.len()
                ),
                body: String::new(),
            }
            .into());
        }
        Ok(Knn {
            k,
            embedder,
            records,
            vectors,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The training examples (inputs and labels as one field map) nearest `inputs`, nearest
    /// first; ties keep training-set order.
    pub async fn nearest(&self, inputs: &Fields) -> Result<Vec<&Fields>> {
        let text = embedding_text(inputs);
        let cached = self.lock_cache().get(&text).cloned();
        let query = match cached {
            Some(v) => v,
            None => {
                let v = self
                    .embedder
                    .embed(std::slice::from_ref(&text))
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        Error::from(LmError::MalformedResponse {
                            endpoint: self.embedder.name().to_string(),
                            message: "asked for 1 embedding, got none".into(),
                            body: String::new(),
                        })
                    })?;
                let v = Arc::new(v);
                let mut cache = self.lock_cache();
                if cache.len() >= QUERY_CACHE_CAP {
                    cache.clear();
                }
                cache.insert(text, Arc::clone(&v));
                v
            }
        };
        let mut scored: Vec<(usize, f32)> = self
            .vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (i, cosine(&query, v)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored
            .into_iter()
            .take(self.k)
            .map(|(i, _)| &self.records[i])
            .collect())
    }

    /// How many training examples it searches.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it has no training examples.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<f32>>>> {
        match self.cache.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// DSPy's text for an example's inputs: `name: value | name: value`.
fn embedding_text(inputs: &Fields) -> String {
    inputs
        .iter()
        .map(|(k, v)| format!("{k}: {}", py_str(v)))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Compiles a program so that every call gets, as the demos of each of its predictors, the
/// `k` training examples nearest its input (DSPy's `KNNFewShot`, with labeled demos).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::Example;
/// use dspy::embed::HashingEmbedder;
/// use dspy::optimizers::KnnFewShot;
/// use std::sync::Arc;
///
/// #[derive(Signature)]
/// struct QA {
///     #[input] question: String,
///     #[output] answer: String,
/// }
/// let trainset = vec![
///     Example::split(QA { question: "capital of France".into(), answer: "Paris".into() }),
///     Example::split(QA { question: "largest planet".into(), answer: "Jupiter".into() }),
/// ];
/// let (knn, _report) = KnnFewShot::new(1, Arc::new(HashingEmbedder::default()))
///     .compile(Predict::<QA>::new(), &trainset)
///     .await
///     .unwrap();
/// let demos = knn.demos_for(&QAInput { question: "capital of Spain".into() }).await.unwrap();
/// assert_eq!(demos[0]["answer"], "Paris");
/// # });
/// ```
#[derive(Clone)]
pub struct KnnFewShot {
    k: usize,
    embedder: Arc<dyn Embedder>,
}

impl std::fmt::Debug for KnnFewShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnnFewShot")
            .field("k", &self.k)
            .field("embedder", &self.embedder.name())
            .finish()
    }
}

impl KnnFewShot {
    /// `k` demos per call, chosen by `embedder`.
    pub fn new(k: usize, embedder: Arc<dyn Embedder>) -> Self {
        KnnFewShot { k, embedder }
    }

    /// Embeds `trainset` and returns `student` wrapped so that each call picks its demos.
    /// The report counts the embedding time; embedders make no LM calls.
    pub async fn compile<P, I, L>(
        &self,
        student: P,
        trainset: &[Example<I, L>],
    ) -> Result<(KnnProgram<P>, CompileReport)>
    where
        P: Program<Input = I> + Clone,
        I: Serialize,
        L: Serialize,
    {
        let started = Instant::now();
        let knn = Knn::new(self.k, trainset, Arc::clone(&self.embedder)).await?;
        let mut report = CompileReport::new("KnnFewShot", 0);
        report.wall_seconds = started.elapsed().as_secs_f64();
        Ok((
            KnnProgram {
                student,
                knn: Arc::new(knn),
            },
            report,
        ))
    }
}

/// A program whose predictors get the nearest training examples as demos on every call;
/// what [`KnnFewShot::compile`] returns. Its predictors (those of the student) keep the
/// demos they had; each call runs on a copy.
#[derive(Clone)]
pub struct KnnProgram<P> {
    student: P,
    knn: Arc<Knn>,
}

impl<P> std::fmt::Debug for KnnProgram<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnnProgram")
            .field("knn", &self.knn)
            .finish()
    }
}

impl<P: Program + Clone> KnnProgram<P>
where
    P::Input: Serialize,
{
    /// The demos a call with `input` would get.
    pub async fn demos_for(&self, input: &P::Input) -> Result<Vec<Fields>> {
        let inputs = fields_of(input)?;
        Ok(self
            .knn
            .nearest(&inputs)
            .await?
            .into_iter()
            .cloned()
            .collect())
    }

    /// The wrapped program.
    pub fn student(&self) -> &P {
        &self.student
    }

    /// The neighbour index.
    pub fn knn(&self) -> &Knn {
        &self.knn
    }
}

impl<P: Module> Module for KnnProgram<P> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        self.student.visit_predictors(visitor);
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        self.student.visit_predictors_mut(visitor);
    }
}

impl<P> Program for KnnProgram<P>
where
    P: Program + Clone,
    P::Input: Serialize,
{
    type Input = P::Input;
    type Output = P::Output;

    async fn forward(&self, input: P::Input) -> Result<P::Output> {
        let demos = self.demos_for(&input).await?;
        let mut program = self.student.clone();
        for (_, predictor) in program.named_predictors_mut() {
            predictor.set_demos(demos.clone());
        }
        program.forward(input).await
    }
}
