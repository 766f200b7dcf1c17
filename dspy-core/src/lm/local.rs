//! A GGUF model run in-process by llama.cpp (feature `local`): no server, no key.
//!
//! One worker thread owns the model and its context; calls queue for it on a bounded
//! channel, so any number of tasks can share one loaded model. Between calls the worker
//! keeps the KV cache of the previous prompt and re-evaluates only what changed, which
//! makes few-shot prompts (same system message and demos, new input) cheap.
//!
//! When a request asks for structured output, the JSON schema is compiled to a llama.cpp
//! grammar and sampling is constrained by it, so the answer always parses.

use super::{
    Capabilities, ChatRequest, ChatResponse, ChatStream, Choice, LM, LmConfig, LmError, Message,
    ResponseFormat, Role, StreamChunk, Usage,
};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

/// The file name `scripts/install-model.sh` installs.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// Tokens decoded per batch while reading a prompt.
const BATCH: usize = 512;

/// llama.cpp's backend may be initialised once per process.
static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

fn backend() -> Result<&'static LlamaBackend, LmError> {
    BACKEND
        .get_or_init(|| {
            LlamaBackend::init()
                .map(|mut b| {
                    b.void_logs();
                    b
                })
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LmError::Config(format!("llama.cpp backend: {e}")))
}

/// How chat messages become the model's prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChatFormat {
    /// The GGUF's own chat template when it has one, else Gemma turns for Gemma models,
    /// else ChatML.
    #[default]
    Auto,
    /// `<start_of_turn>user … <end_of_turn>` / `<start_of_turn>model` (the system message
    /// opens the first user turn, as Gemma has no system role).
    Gemma,
    /// `<|im_start|>role … <|im_end|>`.
    ChatMl,
}

/// Settings for [`LocalLm`], set with [`LocalLm::builder`].
#[derive(Debug, Clone)]
pub struct LocalLmBuilder {
    path: PathBuf,
    context: u32,
    threads: Option<i32>,
    queue: usize,
    format: ChatFormat,
    config: LmConfig,
}

impl LocalLmBuilder {
    /// Context window in tokens (default 4096).
    pub fn context(mut self, tokens: u32) -> Self {
        self.context = tokens.max(64);
        self
    }
    /// CPU threads (default: all cores).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1) as i32);
        self
    }
    /// How many calls may wait for the model before callers are held back (default 1024).
    pub fn queue(mut self, calls: usize) -> Self {
        self.queue = calls.max(1);
        self
    }
    /// How chat messages are rendered (default: [`ChatFormat::Auto`]).
    pub fn chat_format(mut self, format: ChatFormat) -> Self {
        self.format = format;
        self
    }
    /// Default settings for every request (temperature 0 and 512 new tokens unless set).
    pub fn config(mut self, config: LmConfig) -> Self {
        self.config = config;
        self
    }

    /// Loads the model (once) and starts its worker.
    pub fn build(self) -> Result<LocalLm, LmError> {
        if !self.path.is_file() {
            return Err(LmError::Config(format!(
                "no model file at {}: install one with scripts/install-model.sh, or set DSPY_LOCAL_MODEL",
                self.path.display()
            )));
        }
        let (jobs, receiver) = tokio::sync::mpsc::channel::<Job>(self.queue);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let settings = self.clone();
        std::thread::Builder::new()
            .name("dspy-local-lm".into())
            .spawn(move || worker(settings, receiver, ready_tx))
            .map_err(|e| LmError::Config(format!("could not start the model thread: {e}")))?;
        let info = ready_rx
            .recv()
            .map_err(|_| LmError::Config("the model thread stopped while loading".into()))??;
        let name = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Ok(LocalLm {
            name: format!("local/{name}"),
            jobs,
            config: self.config,
            info,
        })
    }
}

/// What was loaded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalInfo {
    /// The model file.
    pub path: PathBuf,
    /// Seconds taken to load it.
    pub load_seconds: f64,
    /// The chat format in use.
    pub format: String,
    /// The context window in tokens.
    pub context: u32,
    /// Parameters in the model.
    pub parameters: u64,
}

/// A GGUF model in this process (feature `local`).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use dspy::prelude::*;
/// use dspy::lm::LocalLm;
/// let lm = LocalLm::from_env()?; // DSPY_LOCAL_MODEL, else the installer's default path
/// let qa = Predict::<Dynamic>::parse("question -> answer")?;
/// let mut input = dspy::Fields::new();
/// input.insert("question".into(), "What is the capital of France?".into());
/// println!("{}", qa.call_with(&lm, input).await?["answer"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LocalLm {
    name: String,
    jobs: tokio::sync::mpsc::Sender<Job>,
    config: LmConfig,
    info: LocalInfo,
}

impl LocalLm {
    /// Settings for loading the model at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> LocalLmBuilder {
        LocalLmBuilder {
            path: path.into(),
            context: 4096,
            threads: None,
            queue: 1024,
            format: ChatFormat::Auto,
            config: LmConfig::default(),
        }
    }

    /// Loads the model at `path` with default settings.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, LmError> {
        Self::builder(path).build()
    }

    /// Loads the model named by `DSPY_LOCAL_MODEL`, else the one `scripts/install-model.sh`
    /// installs ([`default_model_path`](Self::default_model_path)).
    pub fn from_env() -> Result<Self, LmError> {
        Self::load(Self::env_model_path())
    }

    /// `DSPY_LOCAL_MODEL`, else [`default_model_path`](Self::default_model_path).
    pub fn env_model_path() -> PathBuf {
        std::env::var_os("DSPY_LOCAL_MODEL")
            .map(PathBuf::from)
            .unwrap_or_else(Self::default_model_path)
    }

    /// Where the installer puts the model: `$DSPY_MODEL_DIR`, else
    /// `~/.cache/dspy-rs/models`, then the file name.
    pub fn default_model_path() -> PathBuf {
        let dir = std::env::var_os("DSPY_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."));
                home.join(".cache/dspy-rs/models")
            });
        dir.join(DEFAULT_MODEL_FILE)
    }

    /// What was loaded.
    pub fn info(&self) -> &LocalInfo {
        &self.info
    }
}

#[async_trait::async_trait]
impl LM for LocalLm {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let mut request = request.clone();
        request.config = self.config.merged(&request.config);
        let (reply, response) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job {
                request,
                reply,
                sink: None,
            })
            .await
            .map_err(|_| LmError::Other("the local model's worker has stopped".into()))?;
        response
            .await
            .map_err(|_| LmError::Other("the local model's worker dropped the call".into()))?
    }

    fn model(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::structured()
    }

    fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({ "model": self.name, "config": self.config })
    }

    /// Streams the first completion's text as tokens are generated (text that may turn
    /// out to begin a stop sequence is held back until it does not).
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        let mut request = request.clone();
        request.config = self.config.merged(&request.config);
        let (reply, response) = tokio::sync::oneshot::channel();
        let (sink, pieces) = tokio::sync::mpsc::unbounded_channel();
        self.jobs
            .send(Job {
                request,
                reply,
                sink: Some(sink),
            })
            .await
            .map_err(|_| LmError::Other("the local model's worker has stopped".into()))?;
        // Pieces while the model generates; once it is done, one last chunk with the
        // finish reason and the token counts.
        Ok(ChatStream::new(futures::stream::unfold(
            Some((pieces, response)),
            |state| async move {
                let (mut pieces, response) = state?;
                if let Some(text) = pieces.recv().await {
                    return Some((Ok(StreamChunk::text(text)), Some((pieces, response))));
                }
                let last = match response.await {
                    Ok(Ok(whole)) => Ok(StreamChunk {
                        text: String::new(),
                        finish_reason: whole.choices.first().and_then(|c| c.finish_reason.clone()),
                        usage: Some(whole.usage),
                    }),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(LmError::Other(
                        "the local model's worker dropped the call".into(),
                    )),
                };
                Some((last, None))
            },
        )))
    }
}

struct Job {
    request: ChatRequest,
    reply: tokio::sync::oneshot::Sender<Result<ChatResponse, LmError>>,
    /// Where the first completion's text goes as it is generated, when streaming.
    sink: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

enum Format {
    Template(LlamaChatTemplate),
    Gemma,
    ChatMl,
}

impl Format {
    fn end_marker(&self) -> Option<&'static str> {
        match self {
            Format::Gemma => Some("<end_of_turn>"),
            Format::ChatMl => Some("<|im_end|>"),
            Format::Template(_) => None,
        }
    }
}

fn worker(
    settings: LocalLmBuilder,
    mut jobs: tokio::sync::mpsc::Receiver<Job>,
    ready: std::sync::mpsc::Sender<Result<LocalInfo, LmError>>,
) {
    let started = Instant::now();
    let loaded = (|| {
        let backend = backend()?;
        let model =
            LlamaModel::load_from_file(backend, &settings.path, &LlamaModelParams::default())
                .map_err(|e| {
                    LmError::Config(format!("could not load {}: {e}", settings.path.display()))
                })?;
        Ok::<_, LmError>((backend, model))
    })();
    let (backend, model) = match loaded {
        Ok(pair) => pair,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let architecture = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    let format = match settings.format {
        ChatFormat::Gemma => Format::Gemma,
        ChatFormat::ChatMl => Format::ChatMl,
        ChatFormat::Auto => match model.chat_template(None) {
            Ok(template) => Format::Template(template),
            Err(_) if architecture.starts_with("gemma") => Format::Gemma,
            Err(_) => Format::ChatMl,
        },
    };
    let threads = settings.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as i32)
            .unwrap_or(2)
    });
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(settings.context))
        .with_n_batch(BATCH as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut context = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(LmError::Config(format!(
                "could not create a llama.cpp context: {e}"
            ))));
            return;
        }
    };
    let info = LocalInfo {
        path: settings.path.clone(),
        load_seconds: started.elapsed().as_secs_f64(),
        format: match &format {
            Format::Template(_) => "gguf template".into(),
            Format::Gemma => "gemma".into(),
            Format::ChatMl => "chatml".into(),
        },
        context: settings.context,
        parameters: model.n_params(),
    };
    if ready.send(Ok(info)).is_err() {
        return;
    }
    let mut engine = Engine {
        model: &model,
        context: &mut context,
        cached: Vec::new(),
        size: settings.context as usize,
        closers: None,
    };
    while let Some(job) = jobs.blocking_recv() {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.respond(&format, &job.request, job.sink.as_ref())
        }));
        let result = outcome.unwrap_or_else(|_| {
            // The context may be half-written: forget what it holds.
            engine.reset();
            Err(LmError::Other("llama.cpp panicked during this call".into()))
        });
        let _ = job.reply.send(result);
    }
}

struct Engine<'m, 'c> {
    model: &'m LlamaModel,
    context: &'c mut LlamaContext<'m>,
    /// The tokens whose keys and values are in the context's cache, in order.
    cached: Vec<LlamaToken>,
    size: usize,
    /// Biases towards tokens that close JSON (inside a string, outside), computed on the
    /// first constrained call.
    closers: Option<(Vec<LlamaLogitBias>, Vec<LlamaLogitBias>)>,
}

impl Engine<'_, '_> {
    fn reset(&mut self) {
        self.context.clear_kv_cache();
        self.cached.clear();
    }

    fn respond(
        &mut self,
        format: &Format,
        request: &ChatRequest,
        sink: Option<&tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<ChatResponse, LmError> {
        let started = Instant::now();
        let prompt = render(self.model, format, &request.messages)?;
        let tokens = self.model.vocab().tokenize(prompt.as_bytes(), true, true);
        if tokens.is_empty() {
            return Err(LmError::Other("the prompt is empty".into()));
        }
        let config = &request.config;
        let wanted = config.max_tokens.unwrap_or(512) as usize;
        if tokens.len() >= self.size {
            return Err(LmError::ContextWindowExceeded {
                prompt_tokens: tokens.len() as u64,
                limit: self.size as u64,
            });
        }
        let max_new = wanted.min(self.size - tokens.len());
        let grammar = match &request.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema.to_string()),
            Some(ResponseFormat::JsonObject) => Some(r#"{"type": "object"}"#.to_string()),
            None => None,
        }
        .map(|schema| {
            llama_cpp_2::json_schema_to_grammar(&schema).map_err(|e| {
                LmError::Other(format!(
                    "could not turn the output schema into a grammar: {e}"
                ))
            })
        })
        .transpose()?;
        let mut stops: Vec<String> = config.stop.clone().unwrap_or_default();
        stops.extend(format.end_marker().map(str::to_string));
        let n = config.n.unwrap_or(1).max(1);
        let seed = config.seed.unwrap_or(0);
        let mut choices = Vec::with_capacity(n as usize);
        let mut generated = 0u64;
        for i in 0..n {
            let last = self.feed(&tokens)?;
            let seed = seed.wrapping_add(u64::from(i));
            let (text, count, finish) = self.generate(
                grammar.as_deref(),
                config,
                seed,
                last,
                max_new,
                Streamer {
                    stops: &stops,
                    sink: sink.filter(|_| i == 0),
                    sent: 0,
                },
            )?;
            generated += count;
            choices.push(Choice {
                text,
                finish_reason: Some(finish.into()),
                logprobs: None,
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        tracing::debug!(
            prompt_tokens = tokens.len(),
            completion_tokens = generated,
            seconds,
            constrained = grammar.is_some(),
            "local lm call"
        );
        Ok(ChatResponse {
            choices,
            usage: Usage {
                prompt_tokens: tokens.len() as u64 * u64::from(n),
                completion_tokens: generated,
            },
            model: None,
            cached: false,
            retries: 0,
        })
    }

    /// Brings the cache to exactly `tokens`, reusing the longest common prefix; returns
    /// the batch index whose logits predict the next token.
    fn feed(&mut self, tokens: &[LlamaToken]) -> Result<i32, LmError> {
        let common = self
            .cached
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count();
        // At least one token is decoded, so there are fresh logits to sample from.
        let keep = common.min(tokens.len() - 1);
        if self
            .context
            .kv_cache_seq_rm(0, Some(keep as u32), None)
            .is_err()
        {
            self.reset();
        }
        let keep = keep.min(self.cached.len());
        self.cached.truncate(keep);
        let mut batch = LlamaBatch::new(BATCH, 1);
        let rest = &tokens[keep..];
        let mut last_index = 0;
        for (chunk_no, chunk) in rest.chunks(BATCH).enumerate() {
            batch.clear();
            let final_chunk = (chunk_no + 1) * BATCH >= rest.len();
            for (i, token) in chunk.iter().enumerate() {
                let position = (keep + chunk_no * BATCH + i) as i32;
                let wants_logits = final_chunk && i + 1 == chunk.len();
                batch
                    .add(*token, position, &[0], wants_logits)
                    .map_err(decode_error)?;
            }
            if let Err(e) = self.context.decode(&mut batch) {
                self.reset();
                return Err(decode_error(e));
            }
            last_index = chunk.len() as i32 - 1;
        }
        self.cached.extend_from_slice(rest);
        Ok(last_index)
    }

    /// Samples up to `max_new` tokens. Under a grammar, the last stretch of the budget
    /// steers towards closing the JSON (strings, then arrays and objects), so that a model
    /// caught in a loop (`"", "", "", …`) still ends with a value that parses.
    fn generate(
        &mut self,
        grammar: Option<&str>,
        config: &LmConfig,
        seed: u64,
        mut index: i32,
        max_new: usize,
        mut streamer: Streamer<'_>,
    ) -> Result<(String, u64, &'static str), LmError> {
        let stops = streamer.stops;
        let mut sampler = sampler(self.model, grammar, config, seed)?;
        // Closing a nested answer (keys the grammar still requires, inner objects) can
        // take a few dozen tokens: keep half the budget, up to 128, for it.
        let reserve = (max_new / 2).clamp(16, 128).min(max_new);
        let mut bytes: Vec<u8> = Vec::new();
        let mut batch = LlamaBatch::new(1, 1);
        let mut count = 0u64;
        let mut sampled: Vec<LlamaToken> = Vec::new();
        // In the closing stretch: one chain for inside a JSON string (close it) and one
        // for outside (close lists and objects), kept in step with every token.
        let mut closing: Option<(LlamaSampler, LlamaSampler)> = None;
        for step in 0..max_new {
            if let Some(grammar) = grammar
                && step == max_new - reserve
            {
                let (in_string, outside) = self.closers().clone();
                let chain = |biases: &[LlamaLogitBias]| -> Result<LlamaSampler, LmError> {
                    let mut chain = LlamaSampler::chain_simple([
                        LlamaSampler::grammar(self.model, grammar, "root").map_err(|e| {
                            LmError::Other(format!("llama.cpp rejected the output grammar: {e}"))
                        })?,
                        LlamaSampler::logit_bias(self.model.n_vocab(), biases),
                        LlamaSampler::greedy(),
                    ]);
                    chain.accept_many(&sampled);
                    Ok(chain)
                };
                closing = Some((chain(&in_string)?, chain(&outside)?));
            }
            let token = match &mut closing {
                None => sampler.sample(self.context, index),
                Some((in_string, outside)) => {
                    let (used, other) = if inside_json_string(&bytes) {
                        (in_string, outside)
                    } else {
                        (outside, in_string)
                    };
                    let token = used.sample(self.context, index);
                    other.accept(token);
                    token
                }
            };
            let vocab = self.model.vocab();
            sampled.push(token);
            if vocab.is_eog(token) {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                streamer.finish(&text);
                return Ok((text, count, "stop"));
            }
            count += 1;
            bytes.extend(vocab.token_to_piece(token, true, None));
            let text = String::from_utf8_lossy(&bytes);
            if let Some(cut) = stops.iter().filter_map(|s| text.find(s.as_str())).min() {
                streamer.finish(&text[..cut]);
                return Ok((text[..cut].to_string(), count, "stop"));
            }
            streamer.advance(&bytes);
            batch.clear();
            batch
                .add(token, self.cached.len() as i32, &[0], true)
                .map_err(decode_error)?;
            if let Err(e) = self.context.decode(&mut batch) {
                self.reset();
                return Err(decode_error(e));
            }
            self.cached.push(token);
            index = 0;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        streamer.finish(&text);
        Ok((text, count, "length"))
    }
}

/// The stop sequences of a generation, and where its text goes as it becomes final (when
/// streaming): whole UTF-8 characters only, and not a tail that could still become a stop
/// sequence.
struct Streamer<'s> {
    stops: &'s [String],
    sink: Option<&'s tokio::sync::mpsc::UnboundedSender<String>>,
    sent: usize,
}

impl Streamer<'_> {
    fn advance(&mut self, bytes: &[u8]) {
        let stops = self.stops;
        if self.sink.is_none() {
            return;
        }
        let valid = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        };
        let held = stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len().min(valid.len() + 1))
                    .rev()
                    .filter(|&n| {
                        valid.is_char_boundary(valid.len() - n)
                            && stop.starts_with(&valid[valid.len() - n..])
                    })
                    .take(1)
            })
            .max()
            .unwrap_or(0);
        self.send(valid, valid.len() - held);
    }

    fn finish(&mut self, text: &str) {
        self.send(text, text.len());
    }

    fn send(&mut self, text: &str, end: usize) {
        if let Some(sink) = self.sink
            && end > self.sent
            && text.is_char_boundary(self.sent)
            && text.is_char_boundary(end)
        {
            let _ = sink.send(text[self.sent..end].to_string());
            self.sent = end;
        }
    }
}

impl Engine<'_, '_> {
    /// Biases that wrap a JSON answer up, found once per model: inside a string, tokens
    /// that close it (`"`, `"]`, `"}`…); outside, tokens made only of `]` and `}`, ahead of
    /// `,`, and against bare whitespace. Each is large enough to decide whenever the
    /// grammar allows the token (JSON whitespace is always optional).
    fn closers(&mut self) -> &(Vec<LlamaLogitBias>, Vec<LlamaLogitBias>) {
        let model = self.model;
        self.closers.get_or_insert_with(|| {
            let vocab = model.vocab();
            let (mut in_string, mut outside) = (Vec::new(), Vec::new());
            for token in vocab.tokens() {
                let piece = vocab.token_to_piece(token, false, None);
                let Ok(text) = std::str::from_utf8(&piece) else {
                    continue;
                };
                let core = text.trim_matches([' ', '\n']);
                let only_closers =
                    |t: &str| !t.is_empty() && t.chars().all(|c| matches!(c, ']' | '}'));
                if core == "\"" {
                    in_string.push(LlamaLogitBias::new(token, 50.0));
                } else if let Some(rest) = text.strip_prefix('"')
                    && only_closers(rest.trim_matches([' ', '\n']))
                {
                    in_string.push(LlamaLogitBias::new(token, 100.0));
                } else if only_closers(core) {
                    outside.push(LlamaLogitBias::new(token, 100.0));
                } else if core == "," {
                    outside.push(LlamaLogitBias::new(token, 10.0));
                } else if !text.is_empty() && core.is_empty() {
                    // Layout whitespace spends the budget without closing anything.
                    outside.push(LlamaLogitBias::new(token, -50.0));
                }
            }
            (in_string, outside)
        })
    }
}

/// Whether JSON text, cut off here, is inside a string.
fn inside_json_string(bytes: &[u8]) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for &b in bytes {
        if escaped {
            escaped = false;
        } else if inside && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            inside = !inside;
        }
    }
    inside
}

fn decode_error(e: impl std::fmt::Display) -> LmError {
    LmError::Other(format!("llama.cpp could not decode: {e}"))
}

/// Greedy at temperature 0 (the default), else top-p and temperature with a seed; the
/// grammar, when there is one, filters first.
fn sampler(
    model: &LlamaModel,
    grammar: Option<&str>,
    config: &LmConfig,
    seed: u64,
) -> Result<LlamaSampler, LmError> {
    let mut chain = Vec::new();
    if let Some(grammar) = grammar {
        chain.push(
            LlamaSampler::grammar(model, grammar, "root").map_err(|e| {
                LmError::Other(format!("llama.cpp rejected the output grammar: {e}"))
            })?,
        );
    }
    match config.temperature {
        Some(t) if t > 0.0 => {
            chain.push(LlamaSampler::top_p(config.top_p.unwrap_or(0.95), 1));
            chain.push(LlamaSampler::temp(t));
            chain.push(LlamaSampler::dist(seed as u32));
        }
        _ => chain.push(LlamaSampler::greedy()),
    }
    Ok(LlamaSampler::chain_simple(chain))
}

/// The prompt text for `messages` in the model's chat format.
fn render(model: &LlamaModel, format: &Format, messages: &[Message]) -> Result<String, LmError> {
    match format {
        Format::Template(template) => {
            let chat = messages
                .iter()
                .map(|m| LlamaChatMessage::new(role_name(m.role).into(), m.content.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LmError::Other(format!("a message cannot be rendered: {e}")))?;
            model
                .apply_chat_template(template, &chat, true)
                .map_err(|e| LmError::Other(format!("the model's chat template failed: {e}")))
        }
        Format::Gemma => Ok(render_gemma(messages)),
        Format::ChatMl => {
            let mut out = String::new();
            for m in messages {
                out.push_str(&format!(
                    "<|im_start|>{}\n{}<|im_end|>\n",
                    role_name(m.role),
                    m.content
                ));
            }
            out.push_str("<|im_start|>assistant\n");
            Ok(out)
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Gemma's turns; its chat format has no system role, so the system message opens the
/// first user turn (as Gemma's own template does).
pub(crate) fn render_gemma(messages: &[Message]) -> String {
    let mut out = String::new();
    let mut pending_system: Option<&str> = None;
    for m in messages {
        match m.role {
            Role::System => pending_system = Some(&m.content),
            Role::User => {
                out.push_str("<start_of_turn>user\n");
                if let Some(system) = pending_system.take() {
                    out.push_str(system);
                    out.push_str("\n\n");
                }
                out.push_str(&m.content);
                out.push_str("<end_of_turn>\n");
            }
            Role::Assistant => {
                out.push_str("<start_of_turn>model\n");
                out.push_str(&m.content);
                out.push_str("<end_of_turn>\n");
            }
        }
    }
    if let Some(system) = pending_system {
        out.push_str(&format!("<start_of_turn>user\n{system}<end_of_turn>\n"));
    }
    out.push_str("<start_of_turn>model\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemma_turns_fold_the_system_message_into_the_first_user_turn() {
        let text = render_gemma(&[
            Message::system("Be brief."),
            Message::user("Hi"),
            Message::assistant("Hello"),
            Message::user("Bye"),
        ]);
        assert_eq!(
            text,
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn string_state_follows_quotes_and_escapes() {
        assert!(!inside_json_string(br#"{"a": "b""#));
        assert!(inside_json_string(br#"{"a": "b"#));
        assert!(inside_json_string(br#"{"a": "b\"#));
        assert!(!inside_json_string(br#"{"a": "b\\""#));
    }

    #[test]
    fn a_missing_model_file_is_a_config_error() {
        let err = LocalLm::load("/nonexistent/model.gguf").expect_err("no file");
        assert!(err.to_string().contains("install-model.sh"), "{err}");
    }
}
