use dspy::Signature;

#[derive(Signature)]
struct Unit;

fn main() {}
