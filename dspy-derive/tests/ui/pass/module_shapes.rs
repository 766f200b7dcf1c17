use dspy::prelude::*;

#[derive(Signature)]
struct QA {
    #[input]
    question: String,
    #[output]
    answer: String,
}

// Generic over its steps, a tuple struct, and a unit struct: all are modules.
#[derive(Module)]
struct Chain<M> {
    steps: Vec<M>,
    last: Option<Box<ChainOfThought<QA>>>,
}

#[derive(Module)]
struct Pair(Predict<QA>, #[module(skip)] u32, Predict<QA>);

#[derive(Module)]
struct Empty;

fn main() {
    let chain = Chain {
        steps: vec![Pair(Predict::new(), 0, Predict::new())],
        last: Some(Box::new(ChainOfThought::new())),
    };
    let paths: Vec<String> = chain.named_predictors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["steps.0.0", "steps.0.2", "last.predict"]);
    assert!(Empty.named_predictors().is_empty());
}
