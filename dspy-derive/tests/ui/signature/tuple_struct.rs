use dspy::Signature;

#[derive(Signature)]
struct Tuple(String, String);

fn main() {}
