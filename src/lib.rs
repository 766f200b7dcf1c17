//! # dspy: programming, not prompting, language models
//!
//! A Rust take on Stanford's [DSPy](https://dspy.ai): declare what each LM step takes and
//! gives as a typed **signature**, call it through a **predictor** (`Predict`,
//! `ChainOfThought`), and get your own types back, parsed from the model's text.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
//! #[serde(rename_all = "lowercase")]
//! enum Sentiment { Positive, Negative, Neutral }
//!
//! /// Classify the sentiment of a product review.
//! #[derive(Signature)]
//! struct Classify {
//!     #[input]
//!     review: String,
//!     #[output]
//!     sentiment: Sentiment,
//!     /// between 0 and 1
//!     #[output]
//!     confidence: f32,
//! }
//!
//! // Any OpenAI-compatible endpoint: OpenAiCompatible::from_model("openai/gpt-4o-mini")?
//! let lm = ScriptedLm::new([
//!     "[[ ## sentiment ## ]]\nPositive\n\n[[ ## confidence ## ]]\n0.97\n\n[[ ## completed ## ]]",
//! ]);
//! let classify = Predict::<Classify>::new();
//! let out: ClassifyOutput = classify
//!     .call_with(&lm, ClassifyInput { review: "Best purchase I've ever made!".into() })
//!     .await?;
//! assert_eq!(out.sentiment, Sentiment::Positive);
//! assert_eq!(out.confidence, 0.97);
//! # Ok::<(), dspy::Error>(()) }).unwrap();
//! ```
//!
//! ## `#[derive(Signature)]`
//!
//! - The struct's doc comment is the **instruction** (`#[signature(instructions = "…")]`
//!   overrides it); without one, DSPy's default is used.
//! - Each field is `#[input]` or `#[output]`; its doc comment, or `desc = "…"`
//!   (`#[output(desc = "between 0 and 1")]`), is its **description**.
//! - Field types: `String`, integers, floats, `bool`, unit enums (shown as
//!   `Literal['a', 'b']`), `Vec<T>`, `Option<T>`, `HashMap<String, T>` and your own structs
//!   deriving `Serialize + Deserialize + JsonSchema`.
//! - It writes `<Name>Input` and `<Name>Output` structs with the same fields, and
//!   implements [`Signature`] and [`TypedSignature`].
//! - Misuse is a compile error at the offending token: no input or output field, a field
//!   marked both, an unknown option, a tuple or unit struct, generics, a reserved name.
//!   `ChainOfThought` refuses, at compile time, a signature with its own `reasoning` field.
//! - `#[signature(crate = "path")]` names the runtime when it is not reachable as `::dspy`.
//!
//! ## Programs: `#[derive(Module)]`, save/load, evaluation
//!
//! A program is a struct of predictors and sub-modules. `#[derive(Module)]` lets
//! optimizers and save/load find every predictor by its path (`generate_query.predict`,
//! `hops.0.answer`); fields without predictors take `#[module(skip)]`. You write its
//! behaviour as [`Program::forward`], typed in and out:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//! use dspy::{Evaluate, Example};
//!
//! #[derive(Signature)]
//! struct QA {
//!     #[input] question: String,
//!     #[output] answer: String,
//! }
//!
//! #[derive(Module)]
//! struct Answerer {
//!     answer: ChainOfThought<QA>,
//!     #[module(skip)]
//!     calls: std::sync::atomic::AtomicUsize,
//! }
//!
//! impl Program for Answerer {
//!     type Input = QAInput;
//!     type Output = QAOutput;
//!     async fn forward(&self, input: QAInput) -> dspy::Result<QAOutput> {
//!         self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//!         Ok(self.answer.call(input).await?.into_inner())
//!     }
//! }
//!
//! dspy::configure(ScriptedLm::from_fn(|_| {
//!     Ok("[[ ## reasoning ## ]]\nEasy.\n\n[[ ## answer ## ]]\n4".into())
//! }));
//! let program = Answerer { answer: ChainOfThought::new(), calls: Default::default() };
//! assert_eq!(program.named_predictors()[0].0, "answer.predict");
//!
//! let devset = vec![Example::split(QA { question: "2+2?".into(), answer: "4".into() })];
//! let metric = |ex: &Example<QAInput, QAOutput>, out: &QAOutput, _: Option<&dspy::Trace>| {
//!     out.answer == ex.label.answer
//! };
//! let report = Evaluate::new(&devset, metric).run(&program).await;
//! assert_eq!(report.mean(), 1.0);
//!
//! let path = std::env::temp_dir().join("answerer.json");
//! program.save(&path)?; // Python DSPy's layout: it loads there too
//! let mut loaded = Answerer { answer: ChainOfThought::new(), calls: Default::default() };
//! loaded.load(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! ## String signatures
//!
//! `Predict::<Dynamic>::parse("context: list[str], question -> answer: int")` builds a
//! predictor over JSON maps ([`Fields`]), for quick use and for signatures made at run time.

#![warn(missing_docs)]

pub use dspy_core::*;

/// The optimizers (teleprompters).
pub use dspy_optimizers as optimizers;

#[cfg(feature = "derive")]
pub use dspy_derive::{Module, Signature};

/// Everything a typical program needs: `use dspy::prelude::*;`.
pub mod prelude {
    pub use crate::schemars::JsonSchema;
    pub use crate::{
        Adapter, ChainOfThought, ChatAdapter, Dynamic, Error, Fields, JsonAdapter, LM, LmConfig,
        Module, OpenAiCompatible, Predict, Predictor, Program, Result, ScriptedLm, Signature,
        SignatureSpec, TypedSignature, WithReasoning,
    };
}

/// Re-exported so that user types can derive `JsonSchema` without a direct dependency.
pub use dspy_core::__private::schemars;
