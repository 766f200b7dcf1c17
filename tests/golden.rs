//! The prompts and parses Python DSPy 3.4.1 produced (`tests/data/golden/`), reproduced
//! byte for byte through the public API.

use dspy::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

/// Classify the sentiment of a product review.
#[derive(Signature)]
struct Classify {
    #[input]
    review: String,
    #[output]
    sentiment: Sentiment,
    /// between 0 and 1
    #[output]
    confidence: f32,
}

/// Answer questions with short factoid answers.
#[derive(Signature)]
struct QA {
    #[input]
    question: String,
    #[output(desc = "often between 1 and 5 words")]
    answer: String,
}

#[derive(Signature)]
#[allow(clippy::upper_case_acronyms)]
struct RAGSig {
    /// may contain relevant facts
    #[input]
    context: Vec<String>,
    #[input]
    question: String,
    #[output]
    answer: String,
    #[output]
    citations: Vec<i64>,
}

struct Golden {
    demos: Vec<Fields>,
    inputs: Fields,
    messages: Vec<dspy::Message>,
}

fn golden(name: &str) -> Golden {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).expect("golden is JSON");
    let demos = file["demos"]
        .as_array()
        .expect("demos")
        .iter()
        .map(|d| d.as_object().expect("demo object").clone())
        .collect();
    Golden {
        demos,
        inputs: file["inputs"].as_object().expect("inputs").clone(),
        messages: serde_json::from_value(file["messages"].clone()).expect("messages"),
    }
}

/// Messages for a golden file's signature (by the file's name), through the adapter it names.
fn render(name: &str, g: &Golden) -> Vec<dspy::Message> {
    let json = name.contains(".json.");
    let adapter: Box<dyn Adapter> = if json {
        Box::new(JsonAdapter)
    } else {
        Box::new(ChatAdapter)
    };
    let input = |g: &Golden| Value::Object(g.inputs.clone());
    let typed = match name.split('.').next().expect("name") {
        "classify_predict" => Predict::<Classify>::new()
            .with_demos(g.demos.clone())
            .format(&serde_json::from_value(input(g)).expect("ClassifyInput")),
        "qa_predict" => Predict::<QA>::new()
            .with_demos(g.demos.clone())
            .format(&serde_json::from_value(input(g)).expect("QAInput")),
        "qa_cot" => ChainOfThought::<QA>::new()
            .with_demos(g.demos.clone())
            .format(&serde_json::from_value(input(g)).expect("QAInput")),
        "rag_predict" => Predict::<RAGSig>::new()
            .with_demos(g.demos.clone())
            .format(&serde_json::from_value(input(g)).expect("RAGSigInput")),
        "inline_typed" => Predict::<Dynamic>::parse("question -> answer: int")
            .expect("valid")
            .with_demos(g.demos.clone())
            .format(&g.inputs),
        other => panic!("no signature for golden file {other}"),
    }
    .expect("formats");
    // `format` uses the predictor's adapter (ChatAdapter); the JSON files need JSONAdapter.
    if json {
        let spec = spec_of(name);
        adapter.format(&spec, &g.demos, &g.inputs)
    } else {
        typed
    }
}

fn spec_of(name: &str) -> SignatureSpec {
    match name.split('.').next().expect("name") {
        "classify_predict" => Classify::spec(),
        "qa_predict" => QA::spec(),
        "qa_cot" => ChainOfThought::<QA>::new().predict().signature().clone(),
        "rag_predict" => RAGSig::spec(),
        "inline_typed" => SignatureSpec::parse("question -> answer: int").expect("valid"),
        other => panic!("no signature for golden file {other}"),
    }
}

fn assert_same(name: &str, got: &[dspy::Message], want: &[dspy::Message]) {
    assert_eq!(got.len(), want.len(), "{name}: message count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.role, w.role, "{name}: role of message {i}");
        assert_eq!(
            g.content, w.content,
            "{name}: content of message {i} differs\n--- got ---\n{}\n--- want ---\n{}",
            g.content, w.content
        );
    }
}

#[test]
fn every_message_golden_is_reproduced_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".messages.json"))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        10,
        "all ten message goldens are checked: {names:?}"
    );
    for name in &names {
        let g = golden(name);
        assert_same(name, &render(name, &g), &g.messages);
    }
}

#[test]
fn json_goldens_match_through_the_predictor_too() {
    // The same JSON layout when the adapter is set on the predictor, typed end to end.
    let g = golden("classify_predict.json.messages.json");
    let got = Predict::<Classify>::new()
        .with_adapter(JsonAdapter)
        .format(&ClassifyInput {
            review: "Best purchase I've ever made!".into(),
        })
        .expect("formats");
    assert_same("classify json", &got, &g.messages);
}

#[test]
fn string_signatures_with_descriptions_match_derived_ones() {
    // QA written as a string signature plus descriptions gives the derived QA's prompt.
    let g = golden("qa_predict.chat.messages.json");
    let mut spec = SignatureSpec::parse("question -> answer")
        .expect("valid")
        .with_instructions("Answer questions with short factoid answers.");
    spec.outputs[0] = spec.outputs[0]
        .clone()
        .with_desc("often between 1 and 5 words");
    let got = Predict::from_spec(spec)
        .with_demos(g.demos.clone())
        .format(&g.inputs)
        .expect("formats");
    assert_same("qa dynamic", &got, &g.messages);
}

#[test]
fn parse_golden_gives_the_typed_output() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/classify.chat.parse.json");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    let completion = file["completion"].as_str().expect("completion");
    let parsed = ChatAdapter
        .parse(&Classify::spec(), completion)
        .expect("parses");
    assert_eq!(Value::Object(parsed.clone()), file["parsed"]);
    let typed: ClassifyOutput = serde_json::from_value(Value::Object(parsed)).expect("typed");
    assert_eq!(typed.sentiment, Sentiment::Positive);
    assert_eq!(typed.confidence, 0.97);
}
