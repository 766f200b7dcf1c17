use dspy::prelude::*;

#[derive(Signature)]
struct QA {
    #[input]
    question: String,
    #[output]
    answer: String,
}

struct Retriever;

#[derive(Module)]
struct Rag {
    retriever: Retriever,
    answer: Predict<QA>,
}

fn main() {}
