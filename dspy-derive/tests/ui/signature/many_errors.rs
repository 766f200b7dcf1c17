use dspy::Signature;

// Every problem is reported in one build, each at its own token.
#[derive(Signature)]
struct Many {
    #[input(desc = "fine", bogus = 1)]
    question: String,
    stray: String,
    #[output]
    #[input]
    completed: String,
}

fn main() {}
