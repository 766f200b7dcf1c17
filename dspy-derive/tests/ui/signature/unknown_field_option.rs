use dspy::Signature;

#[derive(Signature)]
struct Unknown {
    #[input(description = "the question")]
    question: String,
    #[output]
    answer: String,
}

fn main() {}
