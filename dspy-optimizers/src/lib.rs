//! Optimizers (DSPy's teleprompters) for dspy-rs.
//!
//! An optimizer compiles a program: it runs it over a training set, scores each run with a
//! metric, and rewrites the program's optimizable state (each predictor's instructions and
//! demos) to maximise the score. The few-shot optimizers (LabeledFewShot,
//! BootstrapFewShot, random search, KNN) and the instruction optimizers (COPRO, MIPROv2,
//! SIMBA, GEPA) arrive here once programs can be traced and evaluated; this crate holds
//! none yet.

#![warn(missing_docs)]

pub use dspy_core;
