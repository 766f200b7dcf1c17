//! Runtime of dspy-rs: signatures, adapters, LM clients and predictors.
//!
//! Users depend on the `dspy` facade crate, which re-exports everything here together with
//! the derive macros; this crate is where the pieces live:
//!
//! - [`signature`]: what an LM step takes and gives ([`Signature`], [`SignatureSpec`],
//!   [`FieldSpec`]), typed through `#[derive(Signature)]` or parsed from a string such as
//!   `"context: list[str], question -> answer"`.
//! - [`adapter`]: how a signature, demos and inputs become chat messages and how the LM's
//!   text becomes typed values again ([`ChatAdapter`], [`JsonAdapter`]).
//! - [`lm`]: the [`LM`] trait, the OpenAI-compatible client and a scripted LM for tests.
//! - [`predict`] and [`chain_of_thought`]: the predictors, each holding its own optimizable
//!   state (instructions and demos).

#![warn(missing_docs)]

// Lets this crate's own tests use `#[derive(Signature)]`, whose expansion names `::dspy`.
extern crate self as dspy;

/// `into_inner`, `Deref` and `DerefMut` for a module's output wrapper (`WithReasoning`,
/// `WithTrajectory`…), whose `output` field holds the signature's outputs.
macro_rules! output_wrapper {
    ($wrapper:ident) => {
        impl<O> $wrapper<O> {
            /// The signature's outputs alone.
            pub fn into_inner(self) -> O {
                self.output
            }
        }

        impl<O> std::ops::Deref for $wrapper<O> {
            type Target = O;
            fn deref(&self) -> &O {
                &self.output
            }
        }

        impl<O> std::ops::DerefMut for $wrapper<O> {
            fn deref_mut(&mut self) -> &mut O {
                &mut self.output
            }
        }
    };
}

pub mod adapter;
pub mod chain_of_thought;
pub mod embed;
pub mod error;
pub mod evaluate;
pub mod example;
pub mod lm;
pub mod module;
pub mod multi_chain;
pub mod pool;
pub mod predict;
pub mod predictor;
pub mod program_of_thought;
pub mod react;
pub mod refine;
pub mod rng;
pub mod sandbox;
pub mod settings;
pub mod signature;
pub mod state;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tool;
pub mod trace;
pub mod usage;
pub mod value;

/// Implementing [`LM`] takes `#[dspy::async_trait]` on the impl block.
pub use async_trait::async_trait;

pub use adapter::{Adapter, ChatAdapter, JsonAdapter};
pub use chain_of_thought::{ChainOfThought, WithReasoning};
pub use embed::Embedder;
pub use error::{Error, FieldError, ParseError, Result, SignatureError};
pub use evaluate::{EvalReport, Evaluate, Metric, metrics};
pub use example::Example;
pub use lm::{
    Anthropic, Cache, Capabilities, ChatRequest, ChatResponse, LM, LmBuilder, LmConfig, LmError,
    Message, OpenAiCompatible, ResponseFormat, RetryPolicy, Role, ScriptedLm, Usage,
    inspect_history,
};
pub use module::{Module, Program, Visitor, VisitorMut};
pub use multi_chain::{MultiChainComparison, WithRationale};
pub use predict::Predict;
pub use predictor::{Predictor, PredictorId};
pub use program_of_thought::{ProgramOfThought, WithCode};
pub use react::{ReAct, Step, WithTrajectory};
pub use refine::{BestOfN, Refine};
pub use settings::{configure, configure_arc, spawn, with_lm};
pub use signature::{
    Dynamic, FieldRole, FieldSpec, Fields, Signature, SignatureSpec, TypeShape, TypedSignature,
};
pub use state::{LoadOptions, StateError};
pub use stream::StreamEvent;
pub use tool::Tool;
pub use trace::{Trace, TraceEntry, traced};
pub use usage::{UsageSummary, tracked};

/// Items that `#[derive(Signature)]` expansions name. Not public API: it may change in any
/// release, in step with `dspy-derive`.
#[doc(hidden)]
pub mod __private {
    pub use crate::module::{Module, Visitor, VisitorMut};
    pub use crate::signature::{FieldRole, FieldSpec, Signature, SignatureSpec, TypedSignature};
    pub use ::core::clone::Clone;
    pub use ::core::fmt::Debug;
    pub use ::core::option::Option;
    pub use ::core::result::Result;
    pub use ::schemars;
    pub use ::serde;
    pub use ::serde_json;
    pub use ::std::string::String;
    pub use ::std::vec::Vec;

    /// The spec of a derived signature. The derive has checked what
    /// [`SignatureSpec::new`] checks (at least one input and one output, distinct
    /// identifier names), so this cannot fail.
    pub fn derived_spec(
        name: &str,
        instructions: Option<String>,
        inputs: Vec<FieldSpec>,
        outputs: Vec<FieldSpec>,
    ) -> SignatureSpec {
        SignatureSpec::from_checked_parts(name, instructions, inputs, outputs)
    }

    /// `true` when `names` holds `name`; a `const fn` so that predictors can reject a clash
    /// with a field they add (e.g. ChainOfThought's `reasoning`) at compile time.
    pub const fn contains_name(names: &[&str], name: &str) -> bool {
        let mut i = 0;
        while i < names.len() {
            let a = names[i].as_bytes();
            let b = name.as_bytes();
            if a.len() == b.len() {
                let mut j = 0;
                let mut same = true;
                while j < a.len() {
                    if a[j] != b[j] {
                        same = false;
                    }
                    j += 1;
                }
                if same {
                    return true;
                }
            }
            i += 1;
        }
        false
    }
}
