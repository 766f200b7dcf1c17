use dspy::Signature;

#[derive(Signature)]
enum NotAStruct {
    A,
}

fn main() {}
