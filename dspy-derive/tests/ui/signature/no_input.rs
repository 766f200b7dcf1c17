use dspy::Signature;

/// Answer the question.
#[derive(Signature)]
struct NoInput {
    #[output]
    answer: String,
}

fn main() {}
