use dspy::Signature;

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
struct Opaque {
    x: i32,
}

#[derive(Signature)]
struct NoSchema {
    #[input]
    question: String,
    #[output]
    answer: Opaque,
}

fn main() {}
