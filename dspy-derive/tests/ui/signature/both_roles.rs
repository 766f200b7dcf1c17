use dspy::Signature;

#[derive(Signature)]
struct Both {
    #[input]
    #[output]
    question: String,
    #[output]
    answer: String,
}

fn main() {}
