//! Modules: programs as trees of predictors.
//!
//! A program is a struct whose fields are predictors and other modules.
//! `#[derive(Module)]` writes the visitor that finds every predictor by its dotted path
//! (`generate_query.predict`, `hops.0.answer`); everything that treats a program as a
//! whole (optimizers, save/load, traces) is built on that visitor. The program's own
//! behaviour is its [`Program::forward`], written by the user with typed input and output.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use dspy::prelude::*;
//!
//! #[derive(Module)]
//! struct TwoStep {
//!     draft: Predict<Dynamic>,
//!     polish: ChainOfThought<Dynamic>,
//!     #[module(skip)]
//!     label: String,
//! }
//!
//! impl Program for TwoStep {
//!     type Input = dspy::Fields;
//!     type Output = dspy::Fields;
//!     async fn forward(&self, input: dspy::Fields) -> dspy::Result<dspy::Fields> {
//!         let draft = self.draft.call(input).await?;
//!         Ok(self.polish.call(draft).await?.into_inner())
//!     }
//! }
//!
//! let program = TwoStep {
//!     draft: Predict::parse("topic -> text").unwrap(),
//!     polish: ChainOfThought::parse("text -> text_out").unwrap(),
//!     label: "demo".into(),
//! };
//! let paths: Vec<String> = program.named_predictors().into_iter().map(|(p, _)| p).collect();
//! assert_eq!(paths, ["draft", "polish.predict"]);
//! # });
//! ```

use crate::error::Result;
use crate::predictor::Predictor;
use std::future::Future;

/// Walks a module tree by reference. `enter`/`exit` bracket each named child, so the
/// visitor builds paths itself.
pub trait Visitor<'a> {
    /// Entering the child called `segment` (a field name or a list index).
    fn enter(&mut self, segment: &str);
    /// Leaving the child entered last.
    fn exit(&mut self);
    /// A predictor at the current path.
    fn visit(&mut self, predictor: &'a dyn Predictor);
}

/// Walks a module tree by mutable reference.
pub trait VisitorMut<'a> {
    /// Entering the child called `segment`.
    fn enter(&mut self, segment: &str);
    /// Leaving the child entered last.
    fn exit(&mut self);
    /// A predictor at the current path.
    fn visit(&mut self, predictor: &'a mut dyn Predictor);
}

/// A tree of predictors: what `#[derive(Module)]` implements, and what optimizers,
/// save/load and traces work on.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a module",
    label = "this field's type is not a predictor or a module",
    note = "derive `Module` for it, or mark the field `#[module(skip)]` if it holds no predictors"
)]
pub trait Module: Send + Sync {
    /// Calls `visitor` for each predictor, depth first, in field order.
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>);

    /// Calls `visitor` for each predictor, mutably, in the same order.
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>);

    /// Every predictor with its dotted path, in visiting order. A bare predictor's path is
    /// the empty string.
    fn named_predictors(&self) -> Vec<(String, &dyn Predictor)> {
        struct Collect<'a> {
            path: Vec<String>,
            found: Vec<(String, &'a dyn Predictor)>,
        }
        impl<'a> Visitor<'a> for Collect<'a> {
            fn enter(&mut self, segment: &str) {
                self.path.push(segment.to_string());
            }
            fn exit(&mut self) {
                self.path.pop();
            }
            fn visit(&mut self, predictor: &'a dyn Predictor) {
                self.found.push((self.path.join("."), predictor));
            }
        }
        let mut collect = Collect {
            path: Vec::new(),
            found: Vec::new(),
        };
        self.visit_predictors(&mut collect);
        collect.found
    }

    /// Every predictor with its dotted path, mutably.
    fn named_predictors_mut(&mut self) -> Vec<(String, &mut dyn Predictor)> {
        struct Collect<'a> {
            path: Vec<String>,
            found: Vec<(String, &'a mut dyn Predictor)>,
        }
        impl<'a> VisitorMut<'a> for Collect<'a> {
            fn enter(&mut self, segment: &str) {
                self.path.push(segment.to_string());
            }
            fn exit(&mut self) {
                self.path.pop();
            }
            fn visit(&mut self, predictor: &'a mut dyn Predictor) {
                self.found.push((self.path.join("."), predictor));
            }
        }
        let mut collect = Collect {
            path: Vec::new(),
            found: Vec::new(),
        };
        self.visit_predictors_mut(&mut collect);
        collect.found
    }

    /// Saves every predictor's state (instructions, field descriptions, demos) to `path`
    /// as JSON in Python DSPy's layout, atomically: a crash mid-save leaves the old file.
    fn save(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> std::result::Result<(), crate::state::StateError>
    where
        Self: Sized,
    {
        crate::state::save(self, path.as_ref())
    }

    /// Loads state saved by [`save`](Module::save) (or by Python DSPy's `save`) into this
    /// program. Every mismatch is reported at once, and on any error the program is left
    /// unchanged.
    fn load(
        &mut self,
        path: impl AsRef<std::path::Path>,
    ) -> std::result::Result<(), crate::state::StateError>
    where
        Self: Sized,
    {
        crate::state::load(self, path.as_ref(), crate::state::LoadOptions::default())
    }
}

/// A module that runs: typed input in, typed output out.
///
/// Implement it with an `async fn forward`; predictors and built-in modules implement it
/// too, so `Evaluate` and optimizers take a bare `Predict` as well as a whole program.
pub trait Program: Module {
    /// What the program takes.
    type Input: Send + Sync + 'static;
    /// What the program gives.
    type Output: Send + 'static;

    /// Runs the program on one input.
    fn forward(&self, input: Self::Input) -> impl Future<Output = Result<Self::Output>> + Send;

    /// Runs the program on many inputs, at most `concurrency` at a time, and returns the
    /// results in input order (DSPy's `batch`).
    fn batch(
        &self,
        inputs: Vec<Self::Input>,
        concurrency: usize,
    ) -> impl Future<Output = Vec<Result<Self::Output>>> + Send
    where
        Self: Sized,
    {
        async move {
            let count = inputs.len();
            // Each input is taken once, by the worker that reaches its index.
            let inputs: Vec<std::sync::Mutex<Option<Self::Input>>> = inputs
                .into_iter()
                .map(|input| std::sync::Mutex::new(Some(input)))
                .collect();
            crate::pool::run_pooled(
                count,
                concurrency,
                |i| {
                    let input = inputs[i].lock().ok().and_then(|mut slot| slot.take());
                    async move {
                        match input {
                            Some(input) => self.forward(input).await,
                            None => Err(crate::Error::Module {
                                module: "batch".into(),
                                message: format!("input {i} was taken twice"),
                            }),
                        }
                    }
                },
                |_| {},
            )
            .await
        }
    }
}

impl<M: Module> Module for Vec<M> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        for (i, module) in self.iter().enumerate() {
            visitor.enter(&i.to_string());
            module.visit_predictors(visitor);
            visitor.exit();
        }
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        for (i, module) in self.iter_mut().enumerate() {
            visitor.enter(&i.to_string());
            module.visit_predictors_mut(visitor);
            visitor.exit();
        }
    }
}

impl<M: Module> Module for Option<M> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        if let Some(module) = self {
            module.visit_predictors(visitor);
        }
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        if let Some(module) = self {
            module.visit_predictors_mut(visitor);
        }
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        (**self).visit_predictors(visitor);
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        (**self).visit_predictors_mut(visitor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _module_is_object_safe(_: &dyn Module) {}
}
