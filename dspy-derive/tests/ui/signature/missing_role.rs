use dspy::Signature;

#[derive(Signature)]
struct Missing {
    #[input]
    question: String,
    context: String,
    #[output]
    answer: String,
}

fn main() {}
