//! Errors: one enum per boundary, each variant carrying what a user needs to act on it.

use crate::lm::LmError;
use crate::signature::Fields;
use std::fmt;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a predictor call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The LM (or the network, or the provider) failed.
    #[error(transparent)]
    Lm(#[from] LmError),
    /// The LM answered, but its text did not fit the signature.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The signature is malformed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// No LM was given: none on the predictor, none in scope, none configured.
    #[error(
        "no LM configured: call `dspy::configure(lm)`, run inside `dspy::with_lm(lm, ..)`, or give the predictor one with `.with_lm(lm)`"
    )]
    NoLm,
    /// The LM-call budget of an enclosing
    /// [`tracked_with_budget`](crate::usage::tracked_with_budget) scope is spent.
    #[error("LM call budget of {limit} calls is spent")]
    BudgetExhausted {
        /// The budget, in LM calls.
        limit: u64,
    },
    /// An optimizer gave up (too many failed examples, nothing to work with).
    #[error("optimizer {optimizer} stopped: {message}")]
    Optimizer {
        /// The optimizer's name.
        optimizer: String,
        /// Why.
        message: String,
    },
    /// A module's own logic gave up (e.g. ProgramOfThought's code kept failing).
    #[error("{module} failed: {message}")]
    Module {
        /// The module's name.
        module: String,
        /// Why.
        message: String,
    },
    /// An input value could not be turned into JSON fields.
    #[error("input for `{signature}` is not a JSON object of fields: {message}")]
    InvalidInput {
        /// The signature's name.
        signature: String,
        /// What went wrong.
        message: String,
    },
}

/// A signature that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A string signature did not parse.
    #[error("invalid signature `{input}`: {message}")]
    Parse {
        /// The text given.
        input: String,
        /// What is wrong with it.
        message: String,
    },
    /// No input field.
    #[error("a signature needs at least one input field")]
    NoInputs,
    /// No output field.
    #[error("a signature needs at least one output field")]
    NoOutputs,
    /// A field name repeats (in the signature, or with one a predictor adds).
    #[error("field `{name}` appears more than once")]
    DuplicateField {
        /// The repeated name.
        name: String,
    },
    /// A field name is not an identifier.
    #[error("`{name}` is not a valid field name")]
    InvalidName {
        /// The offending name.
        name: String,
    },
}

/// One output field that did not parse.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FieldError {
    /// The field's name.
    pub field: String,
    /// The type expected, as named in the prompt (`float`, `Literal['a', 'b']`).
    pub expected: String,
    /// The text the LM gave for the field; `None` when the field was missing.
    pub raw: Option<String>,
    /// Why it was rejected.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.raw {
            None => write!(f, "`{}` ({}) is missing", self.field, self.expected),
            Some(raw) => write!(
                f,
                "`{}` expected {}, got {:?}: {}",
                self.field,
                self.expected,
                clip(raw, 120),
                self.reason
            ),
        }
    }
}

/// The LM's text did not fit the signature. Every field's problem is listed, and the
/// fields that did parse are kept.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParseError {
    /// The adapter that parsed (`ChatAdapter`, `JSONAdapter`).
    pub adapter: &'static str,
    /// The problem with the response as a whole, when there is one (empty text, no JSON object).
    pub message: Option<String>,
    /// One entry per output field that is missing or did not fit its type.
    pub fields: Vec<FieldError>,
    /// The output fields that did parse.
    pub parsed: Fields,
    /// The LM's whole text.
    pub raw: String,
}

impl ParseError {
    /// An error about the response as a whole.
    pub fn whole(adapter: &'static str, message: impl Into<String>, raw: &str) -> Self {
        ParseError {
            adapter,
            message: Some(message.into()),
            fields: Vec::new(),
            parsed: Fields::new(),
            raw: raw.to_string(),
        }
    }

    /// A one-paragraph account of what was wrong, for re-asking the LM.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.message.iter().cloned().collect();
        parts.extend(self.fields.iter().map(ToString::to_string));
        parts.join("; ")
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} could not parse the LM response: {}. Response was: {:?}",
            self.adapter,
            self.summary(),
            clip(&self.raw, 500)
        )
    }
}

impl std::error::Error for ParseError {}

/// The first `max` characters of `text`, with `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
