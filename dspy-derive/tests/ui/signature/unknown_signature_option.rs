use dspy::Signature;

#[derive(Signature)]
#[signature(instruction = "typo: the option is `instructions`")]
struct Unknown {
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn main() {}
