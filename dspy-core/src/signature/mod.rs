//! Signatures: what an LM step takes and what it gives.
//!
//! A signature is declared once, as a struct with `#[derive(Signature)]`:
//!
//! ```
//! use dspy::prelude::*;
//!
//! /// Answer questions with short factoid answers.
//! #[derive(Signature)]
//! struct QA {
//!     #[input]
//!     question: String,
//!     /// often between 1 and 5 words
//!     #[output]
//!     answer: String,
//! }
//!
//! let spec = QA::spec();
//! assert_eq!(spec.instructions, "Answer questions with short factoid answers.");
//! assert_eq!(spec.outputs[0].description(), Some("often between 1 and 5 words"));
//! // The derive also writes the typed halves: `QAInput { question }` and `QAOutput { answer }`.
//! let _input = QAInput { question: "Who wrote Hamlet?".into() };
//! ```
//!
//! or parsed from a string into a [`SignatureSpec`] over JSON values (the [`Dynamic`]
//! signature): `"context: list[str], question -> answer: int"`.

mod parse;
mod shape;
mod spec;

pub use shape::{TypeShape, display_schema};
pub use spec::{FieldRole, FieldSpec, Fields, SignatureSpec};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The input and output types of an LM step.
///
/// Every predictor is generic over a `Signature`; its `Input` is what a call takes and its
/// `Output` what the call returns, parsed from the LM's text. `#[derive(Signature)]`
/// implements it (together with [`TypedSignature`]); [`Dynamic`] implements it over JSON
/// maps for signatures parsed from strings.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a signature",
    label = "expected a type with `#[derive(Signature)]`",
    note = "add `#[derive(Signature)]` to the struct, or use `Dynamic` with a string signature"
)]
pub trait Signature: Send + Sync + 'static {
    /// What a call takes: the input fields.
    type Input: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// What a call gives: the output fields.
    type Output: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
}

/// A signature whose fields are known from its type alone (every derived signature).
pub trait TypedSignature: Signature {
    /// Every field name, inputs first, so predictors can reject a clash with a field they
    /// add (e.g. `ChainOfThought` adds `reasoning`) at compile time.
    const FIELD_NAMES: &'static [&'static str];

    /// The runtime description: instructions, ordered fields, their types and schemas.
    fn spec() -> SignatureSpec;
}

/// The signature of a predictor built from a string or a [`SignatureSpec`] at run time: its
/// inputs and outputs are JSON maps keyed by field name.
///
/// ```
/// use dspy::prelude::*;
/// let predict = Predict::<Dynamic>::parse("question -> answer: int").unwrap();
/// assert_eq!(predict.signature().outputs[0].type_label(), "int");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Dynamic;

impl Signature for Dynamic {
    type Input = Fields;
    type Output = Fields;
}
