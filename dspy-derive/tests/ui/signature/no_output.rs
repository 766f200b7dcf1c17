use dspy::Signature;

#[derive(Signature)]
struct NoOutput {
    #[input]
    question: String,
}

fn main() {}
