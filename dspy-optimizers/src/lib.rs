//! Optimizers (DSPy's teleprompters) for dspy-rs.
//!
//! An optimizer compiles a program: it rewrites the program's optimizable state (each
//! predictor's instructions and demos) to maximise a metric on a training set.
//!
//! Here so far: [`LabeledFewShot`]. BootstrapFewShot, random search, KNN and the
//! instruction optimizers (COPRO, MIPROv2, SIMBA, GEPA) are still to come.

#![warn(missing_docs)]

mod labeled;

pub use labeled::LabeledFewShot;
