use dspy::prelude::*;

#[derive(Signature)]
struct Explain {
    #[input]
    question: String,
    #[output]
    reasoning: String,
}

fn main() {
    let _cot = ChainOfThought::<Explain>::new();
}
