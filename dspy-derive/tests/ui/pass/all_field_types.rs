use dspy::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Intent {
    BookFlight,
    CancelFlight,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, JsonSchema)]
struct Citation {
    /// Index of the passage.
    passage: usize,
    quote: String,
}

/// Every supported field type in one signature.
#[derive(Signature)]
pub struct Everything {
    /// passages to read
    #[input]
    context: Vec<String>,
    #[input(desc = "the user's question")]
    question: String,
    #[input]
    r#type: Option<String>,
    #[output]
    intent: Intent,
    #[output]
    count: u32,
    #[output]
    score: f64,
    #[output]
    ok: bool,
    #[output]
    maybe: Option<i64>,
    #[output]
    table: HashMap<String, Vec<f32>>,
    #[output]
    citations: Vec<Citation>,
}

fn main() {
    let spec = Everything::spec();
    assert_eq!(spec.inputs.len(), 3);
    assert_eq!(spec.inputs[2].name, "type");
    assert_eq!(spec.outputs[0].type_label(), "Literal['book_flight', 'cancel_flight']");
    assert_eq!(spec.outputs[5].type_label(), "dict[str, list[float]]");
    assert_eq!(spec.outputs[6].type_label(), "list[Citation]");
    let _ = Predict::<Everything>::new();
    let _ = ChainOfThought::<Everything>::new();
}
