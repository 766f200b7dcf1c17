use dspy::Signature;

#[derive(Signature)]
struct Reserved {
    #[input]
    question: String,
    #[output]
    completed: bool,
}

fn main() {}
