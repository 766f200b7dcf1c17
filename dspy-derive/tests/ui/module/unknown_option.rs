use dspy::prelude::*;

#[derive(Signature)]
struct QA {
    #[input]
    question: String,
    #[output]
    answer: String,
}

#[derive(Module)]
struct Program {
    #[module(ignore)]
    helper: String,
    answer: Predict<QA>,
}

fn main() {}
