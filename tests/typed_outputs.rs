//! Typed outputs end to end: what a model writes, parsed into the user's own types.

use dspy::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Intent {
    BookFlight,
    CancelFlight,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Citation {
    /// Index of the passage.
    passage: usize,
    quote: String,
    intent: Option<Intent>,
}

/// Read the request and answer with structured data.
#[derive(Signature)]
struct Extract {
    #[input]
    request: String,
    #[output]
    intent: Intent,
    #[output]
    seats: u32,
    #[output]
    urgent: bool,
    #[output]
    budget: Option<f64>,
    #[output]
    tags: Vec<Intent>,
    #[output]
    scores: HashMap<String, f32>,
    #[output]
    best: Citation,
    #[output]
    all: Vec<Citation>,
}

fn input() -> ExtractInput {
    ExtractInput {
        request: "Book two seats to Oslo, fast!".into(),
    }
}

#[tokio::test]
async fn chat_answers_in_loose_spellings_parse_into_user_types() {
    let answer = "[[ ## intent ## ]]\nBook_Flight\n\n\
        [[ ## seats ## ]]\n\"2\"\n\n\
        [[ ## urgent ## ]]\nyes\n\n\
        [[ ## budget ## ]]\nNone\n\n\
        [[ ## tags ## ]]\n['BOOK_FLIGHT', 'other']\n\n\
        [[ ## scores ## ]]\n```json\n{\"book_flight\": 0.9, \"other\": \"0.1\"}\n```\n\n\
        [[ ## best ## ]]\n{'passage': 1, 'quote': 'two seats', 'intent': 'Book_Flight'}\n\n\
        [[ ## all ## ]]\n[{\"passage\": 0, \"quote\": \"Oslo\", \"intent\": null}]\n\n\
        [[ ## completed ## ]]";
    let lm = ScriptedLm::new([answer]);
    let out = Predict::<Extract>::new()
        .call_with(&lm, input())
        .await
        .expect("parses");
    assert_eq!(out.intent, Intent::BookFlight);
    assert_eq!(out.seats, 2);
    assert!(out.urgent);
    assert_eq!(out.budget, None);
    assert_eq!(out.tags, [Intent::BookFlight, Intent::Other]);
    assert_eq!(out.scores["other"], 0.1);
    assert_eq!(
        out.best,
        Citation {
            passage: 1,
            quote: "two seats".into(),
            intent: Some(Intent::BookFlight)
        }
    );
    assert_eq!(out.all.len(), 1);
}

#[tokio::test]
async fn json_answers_parse_into_the_same_types() {
    let answer = r#"Here it is: {"intent": "cancel_flight", "seats": 1.0, "urgent": false, "budget": "120.5",
        "tags": [], "scores": {}, "best": {"passage": 0, "quote": "q"}, "all": []}"#;
    let lm = ScriptedLm::new([answer]);
    let out = Predict::<Extract>::new()
        .with_adapter(JsonAdapter)
        .call_with(&lm, input())
        .await
        .expect("parses");
    assert_eq!(out.intent, Intent::CancelFlight);
    assert_eq!(out.seats, 1);
    assert_eq!(out.budget, Some(120.5));
    assert_eq!(out.best.intent, None);
}

#[tokio::test]
async fn a_nested_field_that_does_not_fit_names_the_field_and_the_property() {
    let answer = "[[ ## intent ## ]]\nother\n\n[[ ## seats ## ]]\n1\n\n[[ ## urgent ## ]]\nno\n\n\
        [[ ## budget ## ]]\n3\n\n[[ ## tags ## ]]\n[]\n\n[[ ## scores ## ]]\n{}\n\n\
        [[ ## best ## ]]\n{\"passage\": \"first\", \"quote\": \"x\"}\n\n[[ ## all ## ]]\n[]";
    let lm = ScriptedLm::new([answer]);
    let err = Predict::<Extract>::new()
        .with_json_fallback(false)
        .call_with(&lm, input())
        .await
        .expect_err("passage is not an integer");
    let dspy::Error::Parse(parse) = &err else {
        panic!("expected a parse error: {err:?}")
    };
    assert_eq!(parse.fields.len(), 1);
    assert_eq!(parse.fields[0].field, "best");
    assert_eq!(parse.fields[0].expected, "Citation");
    assert!(
        parse.fields[0].reason.contains("`passage`"),
        "{}",
        parse.fields[0].reason
    );
    // The seven fields that did parse are kept.
    assert_eq!(parse.parsed.len(), 7);
}

#[tokio::test]
async fn a_missing_required_property_is_a_typed_error_not_a_panic() {
    let answer = "[[ ## intent ## ]]\nother\n\n[[ ## seats ## ]]\n1\n\n[[ ## urgent ## ]]\nno\n\n\
        [[ ## budget ## ]]\n3\n\n[[ ## tags ## ]]\n[]\n\n[[ ## scores ## ]]\n{}\n\n\
        [[ ## best ## ]]\n{\"passage\": 2}\n\n[[ ## all ## ]]\n[]";
    let lm = ScriptedLm::new([answer]);
    let err = Predict::<Extract>::new()
        .with_json_fallback(false)
        .call_with(&lm, input())
        .await
        .expect_err("quote is missing");
    assert!(err.to_string().contains("missing field `quote`"), "{err}");
}
