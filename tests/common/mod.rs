//! What the optimizer test files share: the add-one task, its metric, and how to read a
//! scripted request. Each includes it with `mod common;`.

#![allow(dead_code)]

use dspy::optimizers::{CompileReport, Optimizer};
use dspy::prelude::*;
use dspy::{ChatRequest, Example, Trace};
use std::sync::Arc;

/// Add one to a number.
#[derive(Signature)]
pub struct AddOne {
    #[input]
    pub question: String,
    #[output]
    pub answer: String,
}

pub type Ex = Example<AddOneInput, AddOneOutput>;

pub fn trainset(n: usize) -> Vec<Ex> {
    (0..n)
        .map(|i| {
            Example::split(AddOne {
                question: format!("{i} plus one"),
                answer: (i + 1).to_string(),
            })
        })
        .collect()
}

pub fn exact(ex: &Ex, out: &AddOneOutput, _: Option<&Trace>) -> bool {
    out.answer == ex.label.answer
}

/// Compiles a fresh add-one `Predict` with `optimizer` on `trainset(n)` by exact match,
/// with `lm` in scope; a compile error fails the test.
pub async fn compile_add_one<O: Optimizer>(
    optimizer: &O,
    lm: Arc<dyn LM>,
    n: usize,
) -> (Predict<AddOne>, CompileReport) {
    dspy::with_lm(lm, async {
        optimizer
            .compile(Predict::<AddOne>::new(), &trainset(n), &exact)
            .await
    })
    .await
    .expect("compiles")
}

/// The number asked about in the last user message.
pub fn asked(req: &ChatRequest) -> i64 {
    let last = &req
        .messages
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    last.split("[[ ## question ## ]]\n")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1)
}

pub fn reply(answer: impl std::fmt::Display) -> String {
    format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]")
}

/// How many demos (user/assistant pairs before the final input) a request carries.
pub fn demo_count(req: &ChatRequest) -> usize {
    (req.messages.len().saturating_sub(2)) / 2
}
