use dspy::Signature;

#[derive(Signature)]
#[output]
struct OnStruct {
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn main() {}
