use dspy::Signature;

#[derive(Signature)]
struct Generic<T> {
    #[input]
    question: T,
    #[output]
    answer: String,
}

fn main() {}
