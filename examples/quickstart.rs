//! Classify product reviews with a typed signature, through `Predict`, `ChainOfThought`
//! and a string signature.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With `DSPY_MODEL=openai/gpt-4o-mini` (and `OPENAI_API_KEY`), or
//! `DSPY_BASE_URL=http://127.0.0.1:8080/v1 DSPY_MODEL=my-model` for any OpenAI-compatible
//! server, it talks to that model. With neither, it starts a loopback server on 127.0.0.1
//! that speaks the same protocol and answers with a keyword rule, a stand-in so the example
//! runs anywhere; the requests, the HTTP and the parsing are the real ones.

use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use serde::{Deserialize, Serialize};

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

const REVIEWS: &[&str] = &[
    "Best purchase I've ever made!",
    "Broke after two days. Terrible.",
    "It arrived on Tuesday.",
];

/// The stand-in model: reads the review from the prompt, answers in the chat layout.
fn keyword_model(prompt: &str, chain_of_thought: bool) -> String {
    let review = prompt
        .split("[[ ## review ## ]]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_lowercase();
    let (sentiment, confidence, why) =
        if ["best", "great", "love"].iter().any(|w| review.contains(w)) {
            ("positive", 0.95, "The reviewer praises the product.")
        } else if ["broke", "terrible", "awful"]
            .iter()
            .any(|w| review.contains(w))
        {
            ("negative", 0.9, "The reviewer reports a failure.")
        } else {
            (
                "neutral",
                0.6,
                "The review states a fact without judgement.",
            )
        };
    let reasoning = if chain_of_thought {
        format!("[[ ## reasoning ## ]]\n{why}\n\n")
    } else {
        String::new()
    };
    format!(
        "{reasoning}[[ ## sentiment ## ]]\n{sentiment}\n\n[[ ## confidence ## ]]\n{confidence}\n\n[[ ## completed ## ]]"
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (lm, _server) = match (std::env::var("DSPY_MODEL"), std::env::var("DSPY_BASE_URL")) {
        (Ok(model), Ok(base)) => {
            let mut lm = OpenAiCompatible::new(base, model).with_temperature(0.0);
            if let Ok(key) = std::env::var("DSPY_API_KEY") {
                lm = lm.with_api_key(key);
            }
            (lm, None)
        }
        (Ok(model), Err(_)) => (
            OpenAiCompatible::from_model(&model)?.with_temperature(0.0),
            None,
        ),
        _ => {
            let server = StubServer::start(|request| {
                let system = request.body["messages"][0]["content"]
                    .as_str()
                    .unwrap_or_default();
                Reply::completion(keyword_model(
                    request.last_message(),
                    system.contains("`reasoning`"),
                ))
            })
            .await?;
            println!(
                "No DSPY_MODEL set: using a keyword-rule stand-in served at {}\n",
                server.url()
            );
            (
                OpenAiCompatible::new(server.url(), "keyword-stand-in"),
                Some(server),
            )
        }
    };
    dspy::configure(lm);

    let classify = Predict::<Classify>::new();
    let first = ClassifyInput {
        review: REVIEWS[0].into(),
    };
    println!("The prompt Predict<Classify> sends:\n");
    for message in classify.format(&first)? {
        println!("--- {:?} ---\n{}\n", message.role, message.content);
    }

    println!("Predict<Classify>:");
    for review in REVIEWS {
        let out: ClassifyOutput = classify
            .call(ClassifyInput {
                review: review.to_string(),
            })
            .await?;
        println!(
            "  {review:<34} -> {:?} ({:.2})",
            out.sentiment, out.confidence
        );
    }

    println!("\nChainOfThought<Classify>:");
    let cot = ChainOfThought::<Classify>::new();
    for review in REVIEWS {
        let out = cot
            .call(ClassifyInput {
                review: review.to_string(),
            })
            .await?;
        println!(
            "  {review:<34} -> {:?} ({:.2}), because: {}",
            out.sentiment, out.confidence, out.reasoning
        );
    }

    println!(
        "\nString signature \"review -> sentiment: Literal['positive', 'negative', 'neutral'], confidence: float\":"
    );
    let dynamic = Predict::<Dynamic>::parse(
        "review -> sentiment: Literal['positive', 'negative', 'neutral'], confidence: float",
    )?
    .with_instructions("Classify the sentiment of a product review.");
    let mut input = dspy::Fields::new();
    input.insert("review".into(), REVIEWS[1].into());
    let out = dynamic.call(input).await?;
    println!("  {} -> {}", REVIEWS[1], serde_json::Value::Object(out));
    Ok(())
}
