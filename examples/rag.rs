//! Retrieval-augmented QA as a two-step program: write a search query, retrieve passages
//! from a small in-memory corpus, answer from them. Evaluated on a dev set, saved, loaded.
//!
//! ```text
//! cargo run --example rag
//! ```
//!
//! Talks to `DSPY_MODEL` (and `DSPY_BASE_URL`) when set, like `quickstart`. Otherwise a
//! loopback OpenAI-compatible server answers with a stand-in rule (echo the question as
//! the query; answer with the end of the best-matching passage), so the example runs
//! anywhere; retrieval, the module tree, evaluation and save/load are the real ones.

use dspy::prelude::*;
use dspy::testing::{Reply, StubServer};
use dspy::{Evaluate, Example, Trace};

/// Write a short search query that would find the facts needed to answer the question.
#[derive(Signature)]
struct GenerateQuery {
    #[input]
    question: String,
    #[output]
    query: String,
}

/// Answer the question from the context, in a few words.
#[derive(Signature)]
struct AnswerWithContext {
    /// passages that may contain the answer
    #[input]
    context: Vec<String>,
    #[input]
    question: String,
    /// often between 1 and 5 words
    #[output]
    answer: String,
}

/// The task: a question in, an answer out.
#[derive(Signature)]
struct QA {
    #[input]
    question: String,
    #[output]
    answer: String,
}

const CORPUS: &[&str] = &[
    "The capital of France is Paris.",
    "The capital of Japan is Tokyo.",
    "The capital of Canada is Ottawa.",
    "The longest river in Africa is the Nile.",
    "The author of Hamlet is William Shakespeare.",
    "The painter of the Mona Lisa is Leonardo da Vinci.",
    "The largest planet in the solar system is Jupiter.",
    "The chemical symbol for gold is Au.",
    "The inventor of the telephone is Alexander Graham Bell.",
    "The tallest mountain on Earth is Mount Everest.",
    "The currency of Japan is the yen.",
    "The language spoken in Brazil is Portuguese.",
];

/// Keyword-overlap retrieval over the corpus.
struct Retriever {
    passages: Vec<String>,
}

impl Retriever {
    fn words(text: &str) -> Vec<String> {
        dspy::metrics::normalize_text(text)
            .split_whitespace()
            .filter(|w| !matches!(*w, "what" | "who" | "is" | "of" | "in" | "on" | "for"))
            .map(str::to_string)
            .collect()
    }

    fn search(&self, query: &str, k: usize) -> Vec<String> {
        let q = Self::words(query);
        let mut scored: Vec<(usize, &String)> = self
            .passages
            .iter()
            .map(|p| (Self::words(p).iter().filter(|w| q.contains(w)).count(), p))
            .collect();
        scored.sort_by_key(|(hits, _)| std::cmp::Reverse(*hits));
        scored.into_iter().take(k).map(|(_, p)| p.clone()).collect()
    }
}

#[derive(Module)]
struct Rag {
    generate_query: ChainOfThought<GenerateQuery>,
    answer: ChainOfThought<AnswerWithContext>,
    #[module(skip)]
    retriever: Retriever,
}

impl Rag {
    fn new() -> Self {
        Rag {
            generate_query: ChainOfThought::new(),
            answer: ChainOfThought::new(),
            retriever: Retriever {
                passages: CORPUS.iter().map(|s| s.to_string()).collect(),
            },
        }
    }
}

impl Program for Rag {
    type Input = QAInput;
    type Output = QAOutput;

    async fn forward(&self, input: QAInput) -> dspy::Result<QAOutput> {
        let query = self
            .generate_query
            .call(GenerateQueryInput {
                question: input.question.clone(),
            })
            .await?
            .into_inner()
            .query;
        let context = self.retriever.search(&query, 2);
        let answer = self
            .answer
            .call(AnswerWithContextInput {
                context,
                question: input.question,
            })
            .await?;
        Ok(QAOutput {
            answer: answer.into_inner().answer,
        })
    }
}

/// The stand-in "model": a rule, not an LM.
fn stand_in(prompt: &str) -> String {
    let section = |name: &str| {
        prompt
            .split(&format!("[[ ## {name} ## ]]\n"))
            .nth(1)
            .map(|rest| {
                rest.split("\n\n[[")
                    .next()
                    .unwrap_or(rest)
                    .split("\n\nRespond")
                    .next()
                    .unwrap_or(rest)
                    .to_string()
            })
    };
    let question = section("question").unwrap_or_default();
    match section("context") {
        None => format!(
            "[[ ## reasoning ## ]]\nSearch for the key terms.\n\n[[ ## query ## ]]\n{question}\n\n[[ ## completed ## ]]"
        ),
        Some(context) => {
            let passages: Vec<String> = serde_json::from_str(context.trim()).unwrap_or_default();
            let q = Retriever::words(&question);
            let best = passages
                .iter()
                .max_by_key(|p| Retriever::words(p).iter().filter(|w| q.contains(w)).count())
                .cloned()
                .unwrap_or_default();
            let answer = best
                .rsplit(" is ")
                .next()
                .unwrap_or(&best)
                .trim_end_matches('.');
            format!(
                "[[ ## reasoning ## ]]\nThe passage \"{best}\" answers it.\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
            )
        }
    }
}

fn devset() -> Vec<Example<QAInput, QAOutput>> {
    [
        ("What is the capital of Japan?", "Tokyo"),
        ("Who is the author of Hamlet?", "William Shakespeare"),
        ("What is the longest river in Africa?", "the Nile"),
        ("What is the chemical symbol for gold?", "Au"),
        ("Who painted the Mona Lisa?", "Leonardo da Vinci"),
        ("What is the currency of Japan?", "yen"),
        ("Which language do people speak in Brazil?", "Portuguese"),
        ("What is the capital of Australia?", "Canberra"),
    ]
    .into_iter()
    .map(|(q, a)| {
        Example::split(QA {
            question: q.into(),
            answer: a.into(),
        })
    })
    .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _server = match (std::env::var("DSPY_MODEL"), std::env::var("DSPY_BASE_URL")) {
        (Ok(model), Ok(base)) => {
            dspy::configure(OpenAiCompatible::new(base, model).with_temperature(0.0));
            None
        }
        (Ok(model), Err(_)) => {
            dspy::configure(OpenAiCompatible::from_model(&model)?.with_temperature(0.0));
            None
        }
        _ => {
            let server =
                StubServer::start(|request| Reply::completion(stand_in(request.last_message())))
                    .await?;
            println!(
                "No DSPY_MODEL set: a stand-in rule answers at {}\n",
                server.url()
            );
            dspy::configure(OpenAiCompatible::new(server.url(), "stand-in"));
            Some(server)
        }
    };

    let program = Rag::new();
    println!("Predictors:");
    for (path, predictor) in program.named_predictors() {
        println!("  {path:<24} {}", predictor.signature().short());
    }

    let dev = devset();
    let metric = |ex: &Example<QAInput, QAOutput>, out: &QAOutput, _: Option<&Trace>| {
        dspy::metrics::normalized_match(&out.answer, &ex.label.answer)
    };
    let report = Evaluate::new(&dev, metric)
        .concurrency(4)
        .run(&program)
        .await;
    println!("\n{report}");

    let path = std::env::temp_dir().join("rag.json");
    program.save(&path)?;
    let mut loaded = Rag::new();
    loaded.load(&path)?;
    let again = Evaluate::new(&dev, metric)
        .concurrency(4)
        .run(&loaded)
        .await;
    println!(
        "Saved to {}, loaded, evaluated again: {:.2}%",
        path.display(),
        again.percent()
    );
    Ok(())
}
