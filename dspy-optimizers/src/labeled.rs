//! `LabeledFewShot`: labeled examples as demos, no LM calls.

use crate::Optimizer;
use crate::report::CompileReport;
use dspy_core::rng::PyRandom;
use dspy_core::{Error, Example, Fields, Metric, Module, Program, Result};
use serde::Serialize;
use serde_json::Value;

/// Gives every predictor `k` labeled training examples as demos, sampled with a seed
/// (DSPy's `LabeledFewShot`). Each predictor draws its own sample, in turn from one
/// [`PyRandom`] seeded with the seed, as DSPy draws from `random.Random(0)`: the same
/// seed over the same training set gives the demos DSPy gives. A demo holds the example's
/// input and label fields.
///
/// ```
/// use dspy::prelude::*;
/// use dspy::Example;
/// use dspy::optimizers::LabeledFewShot;
///
/// #[derive(Signature)]
/// struct QA {
///     #[input] question: String,
///     #[output] answer: String,
/// }
///
/// let trainset: Vec<Example<QAInput, QAOutput>> = (0..10)
///     .map(|i| Example::split(QA { question: format!("{i} + 1?"), answer: format!("{}", i + 1) }))
///     .collect();
/// let compiled = LabeledFewShot::new(3).compile(Predict::<QA>::new(), &trainset).unwrap();
/// assert_eq!(compiled.demos().len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct LabeledFewShot {
    k: usize,
    seed: u64,
}

impl LabeledFewShot {
    /// Up to `k` demos per predictor (DSPy's default is 16).
    pub fn new(k: usize) -> Self {
        LabeledFewShot { k, seed: 0 }
    }

    /// With a sampling seed (default 0, DSPy's): the same seed gives the same demos.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the demos of every predictor of `program` and returns it.
    pub fn compile<P, I, L>(&self, program: P, trainset: &[Example<I, L>]) -> Result<P>
    where
        P: Module,
        I: Serialize,
        L: Serialize,
    {
        let records = trainset.iter().map(record).collect::<Result<Vec<_>>>()?;
        Ok(self.compile_records(program, &records))
    }

    /// [`compile`](LabeledFewShot::compile) on examples already turned into field maps.
    pub(crate) fn compile_records<P: Module>(&self, mut program: P, records: &[Fields]) -> P {
        let mut rng = PyRandom::new(self.seed);
        for (path, predictor) in program.named_predictors_mut() {
            let demos: Vec<Fields> = rng
                .sample_indices(records.len(), self.k)
                .into_iter()
                .map(|i| records[i].clone())
                .collect();
            tracing::debug!(path = %path, demos = demos.len(), "LabeledFewShot");
            predictor.set_demos(demos);
        }
        program
    }
}

impl Optimizer for LabeledFewShot {
    async fn compile_with_valset<'d, P, I, L, M>(
        &self,
        program: P,
        trainset: &'d [Example<I, L>],
        _valset: Option<&'d [Example<I, L>]>,
        _metric: &M,
    ) -> Result<(P, CompileReport)>
    where
        P: Program<Input = I> + Clone,
        I: Clone + Serialize + Send + Sync + 'static,
        L: Serialize + Send + Sync,
        M: Metric<I, L, P::Output>,
    {
        let started = std::time::Instant::now();
        let program = LabeledFewShot::compile(self, program, trainset)?;
        let mut report = CompileReport::new("LabeledFewShot", self.seed);
        report.wall_seconds = started.elapsed().as_secs_f64();
        Ok((program, report))
    }
}

/// An example's input and label fields in one map.
pub(crate) fn record<I: Serialize, L: Serialize>(example: &Example<I, L>) -> Result<Fields> {
    let mut fields = fields_of(&example.input)?;
    fields.extend(fields_of(&example.label)?);
    Ok(fields)
}

/// A serializable value as a map of fields (an error for anything but a JSON object).
pub(crate) fn fields_of<T: Serialize>(value: &T) -> Result<Fields> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::InvalidInput {
            signature: "example".into(),
            message: format!("expected an object of fields, got {other}"),
        }),
        Err(e) => Err(Error::InvalidInput {
            signature: "example".into(),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dspy_core::{Dynamic, Predict};
    use serde_json::json;

    fn trainset(n: usize) -> Vec<Example<Fields, Fields>> {
        (0..n)
            .map(|i| {
                let record = json!({"q": format!("q{i}"), "a": format!("a{i}")});
                Example::with_inputs(record.as_object().cloned().expect("object"), &["q"])
            })
            .collect()
    }

    fn demo_ids(p: &Predict<Dynamic>) -> Vec<String> {
        p.demos()
            .iter()
            .map(|d| d["q"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn k_distinct_labeled_demos_seeded() {
        let data = trainset(20);
        let program = vec![
            Predict::<Dynamic>::parse("q -> a").expect("valid"),
            Predict::parse("q -> a").expect("valid"),
        ];
        let compiled = LabeledFewShot::new(4)
            .seed(7)
            .compile(program, &data)
            .expect("compiles");
        let first = demo_ids(&compiled[0]);
        assert_eq!(first.len(), 4);
        let mut unique = first.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4, "no example twice");
        assert_ne!(
            first,
            demo_ids(&compiled[1]),
            "each predictor draws its own sample"
        );
        assert_eq!(
            compiled[0].demos()[0]["a"],
            compiled[0].demos()[0]["q"]
                .as_str()
                .expect("q")
                .replace('q', "a")
        );
        let again = LabeledFewShot::new(4)
            .seed(7)
            .compile(
                vec![Predict::<Dynamic>::parse("q -> a").expect("valid")],
                &data,
            )
            .expect("compiles");
        assert_eq!(demo_ids(&again[0]), first, "same seed, same demos");
    }

    #[test]
    fn the_demos_are_the_ones_dspy_draws() {
        // r = random.Random(0); r.sample(trainset, 16); r.sample(trainset, 16)
        let program = vec![
            Predict::<Dynamic>::parse("q -> a").expect("valid"),
            Predict::parse("q -> a").expect("valid"),
        ];
        let compiled = LabeledFewShot::new(16)
            .compile(program, &trainset(40))
            .expect("compiles");
        let ids = |p: &Predict<Dynamic>| -> Vec<usize> {
            demo_ids(p)
                .iter()
                .map(|q| q[1..].parse().expect("an index"))
                .collect()
        };
        assert_eq!(
            ids(&compiled[0]),
            [24, 26, 2, 16, 32, 31, 25, 19, 30, 11, 18, 28, 6, 36, 4, 9]
        );
        assert_eq!(
            ids(&compiled[1]),
            [8, 6, 16, 34, 9, 19, 38, 4, 21, 15, 17, 3, 11, 13, 10, 36]
        );
    }

    #[test]
    fn a_small_trainset_gives_all_it_has() {
        let compiled = LabeledFewShot::new(16)
            .compile(
                Predict::<Dynamic>::parse("q -> a").expect("valid"),
                &trainset(3),
            )
            .expect("compiles");
        assert_eq!(compiled.demos().len(), 3);
    }
}
