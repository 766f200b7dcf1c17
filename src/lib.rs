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
