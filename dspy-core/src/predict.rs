//! `Predict`: one LM call for one signature, with its own optimizable state.

use crate::adapter::{Adapter, ChatAdapter};
use crate::error::{Error, ParseError, Result};
use crate::lm::{ChatRequest, LM, LmConfig, Message, Usage};
use crate::module::{Module, Program, Visitor, VisitorMut};
use crate::predictor::{BoxFuture, Predictor, PredictorId};
use crate::settings::current_lm;
use crate::signature::{Dynamic, Fields, Signature, SignatureSpec, TypedSignature};
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// The basic predictor: formats the signature, demos and inputs with an adapter, calls the
/// LM, and parses the answer into `S::Output`.
///
/// It holds what an optimizer changes, the **instructions** and the **demos** (few-shot
/// examples, as field maps), plus an optional LM, adapter and settings of its own.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
///
/// /// Classify the sentiment of a product review.
/// #[derive(Signature)]
/// struct Classify {
///     #[input]
///     review: String,
///     #[output]
///     positive: bool,
/// }
///
/// let lm = ScriptedLm::new(["[[ ## positive ## ]]\nTrue\n\n[[ ## completed ## ]]"]);
/// let classify = Predict::<Classify>::new();
/// let out = classify
///     .call_with(&lm, ClassifyInput { review: "Best purchase ever!".into() })
///     .await?;
/// assert!(out.positive);
/// # Ok::<(), dspy::Error>(()) }).unwrap();
/// ```
pub struct Predict<S: Signature> {
    id: PredictorId,
    signature: SignatureSpec,
    demos: Vec<Fields>,
    lm: Option<Arc<dyn LM>>,
    adapter: Arc<dyn Adapter>,
    config: LmConfig,
    reasks: u32,
    json_fallback: bool,
    /// The adapter's messages before the inputs' turn (system and demos), formatted at
    /// the first call and kept until the signature, the demos or the adapter change; the
    /// inner `None` when the adapter does not split its format.
    prefix: OnceLock<Option<Vec<Message>>>,
    _signature: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for Predict<S> {
    fn clone(&self) -> Self {
        Predict {
            // A clone is another predictor: its calls are traced under its own id.
            id: PredictorId::fresh(),
            signature: self.signature.clone(),
            demos: self.demos.clone(),
            lm: self.lm.clone(),
            adapter: Arc::clone(&self.adapter),
            config: self.config.clone(),
            reasks: self.reasks,
            json_fallback: self.json_fallback,
            prefix: self.prefix.clone(),
            _signature: PhantomData,
        }
    }
}

impl<S: Signature> std::fmt::Debug for Predict<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predict")
            .field("signature", &self.signature.short())
            .field("instructions", &self.signature.instructions)
            .field("demos", &self.demos.len())
            .field("lm", &self.lm.as_ref().map(|lm| lm.model().to_string()))
            .field("adapter", &self.adapter.name())
            .field("config", &self.config)
            .finish()
    }
}

impl<S: TypedSignature> Predict<S> {
    /// A predictor for a derived signature, with its doc-comment instructions and no demos.
    pub fn new() -> Self {
        Self::from_parts(S::spec())
    }
}

impl<S: TypedSignature> Default for Predict<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl Predict<Dynamic> {
    /// A predictor for a string signature (`"question -> answer: int"`).
    pub fn parse(signature: &str) -> Result<Self> {
        Ok(Self::from_parts(SignatureSpec::parse(signature)?))
    }

    /// A predictor for a signature built at run time.
    pub fn from_spec(signature: SignatureSpec) -> Self {
        Self::from_parts(signature)
    }
}

impl<S: Signature> Predict<S> {
    /// A predictor over `signature`; the caller guarantees that `S`'s types fit it.
    pub(crate) fn from_parts(signature: SignatureSpec) -> Self {
        Predict {
            id: PredictorId::fresh(),
            signature,
            demos: Vec::new(),
            lm: None,
            adapter: Arc::new(ChatAdapter),
            config: LmConfig::default(),
            reasks: 0,
            json_fallback: true,
            prefix: OnceLock::new(),
            _signature: PhantomData,
        }
    }

    /// The signature, with the current instructions.
    pub fn signature(&self) -> &SignatureSpec {
        &self.signature
    }

    /// The current instructions.
    pub fn instructions(&self) -> &str {
        &self.signature.instructions
    }

    /// Replaces the instructions.
    pub fn set_instructions(&mut self, instructions: impl Into<String>) {
        self.signature.instructions = instructions.into();
        self.changed();
    }

    /// With other instructions.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.set_instructions(instructions);
        self
    }

    /// The demos, as field maps (input and output fields, plus any other keys).
    pub fn demos(&self) -> &[Fields] {
        &self.demos
    }

    /// Replaces the demos.
    pub fn set_demos(&mut self, demos: Vec<Fields>) {
        self.demos = demos;
        self.changed();
    }

    /// With these demos (field maps; keys that are not fields are ignored in prompts).
    pub fn with_demos(mut self, demos: impl IntoIterator<Item = Fields>) -> Self {
        self.demos = demos.into_iter().collect();
        self.changed();
        self
    }

    /// With one more demo, from typed input and output.
    pub fn with_demo(mut self, input: &S::Input, output: &S::Output) -> Result<Self> {
        let mut demo = to_fields(&self.signature, input)?;
        demo.extend(to_fields(&self.signature, output)?);
        self.demos.push(demo);
        self.changed();
        Ok(self)
    }

    /// With an LM of its own, used instead of the one in scope.
    pub fn with_lm(mut self, lm: impl LM + 'static) -> Self {
        self.lm = Some(Arc::new(lm));
        self
    }

    /// With an adapter (default: [`ChatAdapter`]).
    pub fn with_adapter(mut self, adapter: impl Adapter + 'static) -> Self {
        self.adapter = Arc::new(adapter);
        self.changed();
        self
    }

    /// With settings for its calls (temperature, max_tokens, n, stop…), over the LM's.
    pub fn with_config(mut self, config: LmConfig) -> Self {
        self.config = config;
        self
    }

    /// Whether a ChatAdapter answer that does not parse is retried once with the JSON
    /// adapter, as DSPy does (default: on). The retry is a second LM call.
    pub fn with_json_fallback(mut self, on: bool) -> Self {
        self.json_fallback = on;
        self
    }

    /// Up to `n` re-asks when an answer does not parse: the model sees its own answer and
    /// what was wrong with it, and answers again (default: 0). Beyond DSPy.
    pub fn with_reasks(mut self, n: u32) -> Self {
        self.reasks = n;
        self
    }

    /// Calls the LM in effect: the predictor's own, else the scoped one
    /// ([`with_lm`](crate::with_lm)), else the configured one ([`configure`](crate::configure)).
    pub async fn call(&self, input: S::Input) -> Result<S::Output> {
        let lm = match &self.lm {
            Some(lm) => Arc::clone(lm),
            None => current_lm().ok_or(Error::NoLm)?,
        };
        self.call_with(&*lm, input).await
    }

    /// Calls `lm` (unless the predictor has an LM of its own).
    pub async fn call_with(&self, lm: &dyn LM, input: S::Input) -> Result<S::Output> {
        let inputs = to_fields(&self.signature, &input)?;
        let lm = self.lm.as_deref().unwrap_or(lm);
        let fields = self.forward_fields(lm, inputs).await?;
        from_fields::<S::Output>(&self.signature, fields)
    }

    /// Streams the answer of the LM in effect (see [`call`](Self::call)): with the chat
    /// adapter, a [`StreamEvent::Field`] for each piece of an output field's text as the
    /// model generates it, then [`StreamEvent::Done`] with the typed output. Other adapters
    /// yield only `Done`. An answer that does not parse goes to the JSON fallback as in
    /// [`call`](Self::call) (not streamed); re-asks are not made while streaming.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use dspy::prelude::*;
    /// use dspy::StreamEvent;
    /// use futures::StreamExt;
    ///
    /// let lm = ScriptedLm::new(["[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"]);
    /// let qa = Predict::<Dynamic>::parse("question -> answer")?;
    /// let mut input = dspy::Fields::new();
    /// input.insert("question".into(), "Capital of France?".into());
    /// let events: Vec<_> = qa.stream_with(lm, input).collect().await;
    /// assert!(matches!(&events[0], Ok(StreamEvent::Field { field, text }) if field == "answer" && text == "Paris"));
    /// assert!(matches!(&events[1], Ok(StreamEvent::Done(out)) if out["answer"] == "Paris"));
    /// # Ok::<(), dspy::Error>(()) }).unwrap();
    /// ```
    pub fn stream(
        &self,
        input: S::Input,
    ) -> futures::stream::BoxStream<'_, Result<crate::stream::StreamEvent<S::Output>>> {
        let lm = match &self.lm {
            Some(lm) => Ok(Arc::clone(lm)),
            None => current_lm().ok_or(Error::NoLm),
        };
        Box::pin(self.stream_inner(lm, input))
    }

    /// [`stream`](Self::stream) with `lm` (unless the predictor has an LM of its own).
    pub fn stream_with(
        &self,
        lm: impl LM + 'static,
        input: S::Input,
    ) -> futures::stream::BoxStream<'_, Result<crate::stream::StreamEvent<S::Output>>> {
        let lm: Arc<dyn LM> = match &self.lm {
            Some(own) => Arc::clone(own),
            None => Arc::new(lm),
        };
        Box::pin(self.stream_inner(Ok(lm), input))
    }

    fn stream_inner(
        &self,
        lm: Result<Arc<dyn LM>>,
        input: S::Input,
    ) -> impl futures::Stream<Item = Result<crate::stream::StreamEvent<S::Output>>> + Send + '_
    {
        use crate::stream::{FieldSplitter, StreamEvent};
        use futures::StreamExt;
        use std::collections::VecDeque;

        /// What a stream starts from: the LM to call and the inputs, or why not.
        type Start = (Result<Arc<dyn LM>>, Result<Fields>);
        /// A stream under way.
        struct Open {
            lm: Arc<dyn LM>,
            inputs: Fields,
            request: ChatRequest,
            chunks: crate::lm::ChatStream,
            splitter: Option<FieldSplitter>,
            text: String,
            finish_reason: Option<String>,
            usage: Usage,
            started: std::time::Instant,
            span: tracing::Span,
        }
        enum State {
            Start(Box<Start>),
            Streaming(Box<Open>),
            Done,
        }
        let inputs = to_fields(&self.signature, &input);
        let state = (State::Start(Box::new((lm, inputs))), VecDeque::new());
        futures::stream::unfold(state, move |(mut state, mut queue)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((event, (state, queue)));
                }
                state = match state {
                    State::Done => return None,
                    State::Start(start) => {
                        let (lm, inputs) = *start;
                        let opened = async {
                            let lm = lm?;
                            let inputs = inputs?;
                            let adapter = &*self.adapter;
                            let request = self.request(&*lm, adapter, self.messages(&inputs));
                            crate::usage::reserve_call()
                                .map_err(|limit| Error::BudgetExhausted { limit })?;
                            let span = lm_span(lm.model());
                            let started = std::time::Instant::now();
                            let chunks = match lm.chat_stream(&request).await {
                                Ok(chunks) => chunks,
                                Err(e) => {
                                    observe(lm.model(), &span, request, started, &Err(e.clone()));
                                    return Err(e.into());
                                }
                            };
                            let splitter = adapter.end_marker().map(|_| {
                                FieldSplitter::new(
                                    self.signature
                                        .outputs
                                        .iter()
                                        .map(|f| f.name.clone())
                                        .collect(),
                                )
                            });
                            Ok(State::Streaming(Box::new(Open {
                                lm,
                                inputs,
                                request,
                                chunks,
                                splitter,
                                text: String::new(),
                                finish_reason: None,
                                usage: Usage::default(),
                                started,
                                span,
                            })))
                        };
                        match opened.await {
                            Ok(next) => next,
                            Err(e) => {
                                queue.push_back(Err(e));
                                State::Done
                            }
                        }
                    }
                    State::Streaming(mut open) => match open.chunks.next().await {
                        Some(Ok(chunk)) => {
                            if let Some(splitter) = &mut open.splitter {
                                for (field, piece) in splitter.feed(&chunk.text) {
                                    queue.push_back(Ok(StreamEvent::Field { field, text: piece }));
                                }
                            }
                            open.text.push_str(&chunk.text);
                            if chunk.finish_reason.is_some() {
                                open.finish_reason = chunk.finish_reason;
                            }
                            if let Some(u) = chunk.usage {
                                open.usage = u;
                            }
                            State::Streaming(open)
                        }
                        Some(Err(e)) => {
                            let Open {
                                lm,
                                request,
                                started,
                                span,
                                ..
                            } = *open;
                            observe(lm.model(), &span, request, started, &Err(e.clone()));
                            queue.push_back(Err(e.into()));
                            State::Done
                        }
                        None => {
                            let Open {
                                lm,
                                inputs,
                                request,
                                chunks,
                                mut splitter,
                                text,
                                finish_reason,
                                usage,
                                started,
                                span,
                            } = *open;
                            if let Some(splitter) = &mut splitter {
                                for (field, piece) in splitter.finish() {
                                    queue.push_back(Ok(StreamEvent::Field { field, text: piece }));
                                }
                            }
                            let mut response = crate::lm::ChatResponse::from_text(text.clone());
                            response.choices[0].finish_reason = finish_reason;
                            response.usage = usage;
                            response.cached = chunks.is_cached();
                            observe(lm.model(), &span, request, started, &Ok(response));
                            let done = self
                                .finish_streamed(&*lm, &inputs, &text)
                                .await
                                .and_then(|fields| {
                                    from_fields::<S::Output>(&self.signature, fields)
                                })
                                .map(StreamEvent::Done);
                            queue.push_back(done);
                            State::Done
                        }
                    },
                };
            }
        })
    }

    /// Parses a streamed answer, with the adapter's fallback (a second, unstreamed call)
    /// when it does not parse.
    async fn finish_streamed(&self, lm: &dyn LM, inputs: &Fields, text: &str) -> Result<Fields> {
        let adapter = &*self.adapter;
        let error = match adapter.parse(&self.signature, text) {
            Ok(fields) => return Ok(self.traced(inputs, fields)),
            Err(error) => error,
        };
        if self.json_fallback
            && let Some(other) = adapter.fallback()
        {
            let messages = other.format(&self.signature, &self.demos, inputs);
            let other_text = self.complete(lm, &*other, messages).await?;
            if let Ok(fields) = other.parse(&self.signature, &other_text) {
                return Ok(self.traced(inputs, fields));
            }
        }
        Err(error.into())
    }

    /// The messages a call with `input` would send, without calling anything.
    pub fn format(&self, input: &S::Input) -> Result<Vec<Message>> {
        let inputs = to_fields(&self.signature, input)?;
        Ok(self.messages(&inputs))
    }

    /// The adapter's messages for these inputs: the kept prefix (system and demos, made
    /// at the first call) and the inputs' turn.
    fn messages(&self, inputs: &Fields) -> Vec<Message> {
        let adapter = &*self.adapter;
        let prefix = self
            .prefix
            .get_or_init(|| adapter.format_prefix(&self.signature, &self.demos));
        match prefix {
            Some(prefix) => {
                let mut messages = Vec::with_capacity(prefix.len() + 1);
                messages.extend_from_slice(prefix);
                messages.push(adapter.format_inputs(&self.signature, inputs));
                messages
            }
            None => adapter.format(&self.signature, &self.demos, inputs),
        }
    }

    /// Forgets the kept prefix: the signature, the demos or the adapter changed.
    fn changed(&mut self) {
        self.prefix = OnceLock::new();
    }

    /// One call on field maps: format, complete, parse (with fallback and re-asks).
    ///
    /// When the answer does not parse, the adapter's fallback (JSON, for the chat adapter)
    /// is tried once; if that fails too, the re-asks continue the original conversation,
    /// and the error returned is the original adapter's, which names the fields at fault.
    pub async fn forward_fields(&self, lm: &dyn LM, inputs: Fields) -> Result<Fields> {
        use tracing::Instrument;
        let span =
            tracing::debug_span!("predict", signature = %self.signature.name, model = lm.model());
        self.forward_fields_inner(lm, inputs).instrument(span).await
    }

    async fn forward_fields_inner(&self, lm: &dyn LM, inputs: Fields) -> Result<Fields> {
        let adapter = &*self.adapter;
        let mut messages = self.messages(&inputs);
        let mut fallback = if self.json_fallback {
            adapter.fallback()
        } else {
            None
        };
        let mut reasks_left = self.reasks;
        loop {
            // The conversation is kept only when a re-ask may continue it.
            let sent = if reasks_left > 0 {
                messages.clone()
            } else {
                std::mem::take(&mut messages)
            };
            let text = self.complete(lm, adapter, sent).await?;
            let error = match adapter.parse(&self.signature, &text) {
                Ok(fields) => return Ok(self.traced(&inputs, fields)),
                Err(error) => error,
            };
            tracing::warn!(adapter = adapter.name(), error = %error.summary(), "LM answer did not parse");
            if let Some(other) = fallback.take() {
                let other_messages = other.format(&self.signature, &self.demos, &inputs);
                let other_text = self.complete(lm, &*other, other_messages).await?;
                match other.parse(&self.signature, &other_text) {
                    Ok(fields) => return Ok(self.traced(&inputs, fields)),
                    Err(e) => {
                        tracing::warn!(adapter = other.name(), error = %e.summary(), "fallback answer did not parse")
                    }
                }
            }
            if reasks_left == 0 {
                return Err(error.into());
            }
            reasks_left -= 1;
            messages.push(Message::assistant(text));
            messages.push(Message::user(format!(
                "Your previous response could not be used: {}.\n\n{}",
                error.summary(),
                adapter.output_requirements(&self.signature)
            )));
        }
    }

    /// Records a successful call in the enclosing traced scope.
    fn traced(&self, inputs: &Fields, outputs: Fields) -> Fields {
        crate::trace::record(self.id, &self.signature.name, inputs, &outputs);
        outputs
    }

    /// The request for these messages: the predictor's settings, the adapter's end marker
    /// as a stop sequence, its response format.
    fn request(&self, lm: &dyn LM, adapter: &dyn Adapter, messages: Vec<Message>) -> ChatRequest {
        let mut config = self.config.clone();
        if let Some(marker) = adapter.end_marker() {
            config
                .stop
                .get_or_insert_with(Vec::new)
                .push(marker.to_string());
        }
        ChatRequest::new(messages)
            .with_config(config)
            .with_response_format(adapter.response_format(&self.signature, lm.capabilities()))
    }

    /// One LM call with these messages; the text of the first completion.
    async fn complete(
        &self,
        lm: &dyn LM,
        adapter: &dyn Adapter,
        messages: Vec<Message>,
    ) -> Result<String> {
        let request = self.request(lm, adapter, messages);
        let response = call_lm(lm, request).await?;
        Ok(response.text().unwrap_or_default().to_string())
    }
}

/// One LM call outside any predictor, counted as a predictor's call is: it takes a call
/// from the enclosing budget ([`Error::BudgetExhausted`] when none is left), its tokens go
/// to the tracked usage, and it gets an `lm_call` span and a history entry. Optimizers
/// that prompt an LM with free text (GEPA's reflection) call it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::{ChatRequest, Message};
/// let lm = ScriptedLm::new(["Hello."]);
/// let (reply, usage) = dspy::usage::tracked(dspy::predict::call_lm(
///     &lm,
///     ChatRequest::new(vec![Message::user("Say hello.")]),
/// ))
/// .await;
/// assert_eq!(reply.unwrap().text(), Some("Hello."));
/// assert_eq!(usage.calls, 1);
/// # });
/// ```
pub async fn call_lm(lm: &dyn LM, request: ChatRequest) -> Result<crate::lm::ChatResponse> {
    crate::usage::reserve_call().map_err(|limit| Error::BudgetExhausted { limit })?;
    let span = lm_span(lm.model());
    let started = std::time::Instant::now();
    let result = {
        use tracing::Instrument;
        lm.chat(&request).instrument(span.clone()).await
    };
    observe(lm.model(), &span, request, started, &result);
    Ok(result?)
}

/// The `lm_call` span, its fields filled in when the call ends.
fn lm_span(model: &str) -> tracing::Span {
    tracing::debug_span!(
        "lm_call",
        model,
        prompt_tokens = tracing::field::Empty,
        completion_tokens = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        cached = tracing::field::Empty,
        retries = tracing::field::Empty,
    )
}

/// Records a finished LM call: usage in the tracked scopes, the `lm_call` span's fields,
/// and the history.
fn observe(
    model: &str,
    span: &tracing::Span,
    request: ChatRequest,
    started: std::time::Instant,
    result: &std::result::Result<crate::lm::ChatResponse, crate::lm::LmError>,
) {
    let latency = started.elapsed();
    let (usage, cached, retries) = match result {
        Ok(r) => (r.usage, r.cached, r.retries),
        Err(_) => (Usage::default(), false, 0),
    };
    crate::usage::record_tokens(model, &usage, cached);
    span.record("prompt_tokens", usage.prompt_tokens);
    span.record("completion_tokens", usage.completion_tokens);
    span.record("latency_ms", latency.as_millis() as u64);
    span.record("cached", cached);
    span.record("retries", retries);
    let _entered = span.enter();
    match result {
        Ok(_) => tracing::debug!("lm call done"),
        Err(error) => tracing::debug!(%error, "lm call failed"),
    }
    crate::lm::history::record(crate::lm::history::HistoryEntry {
        model: model.to_string(),
        messages: request.messages,
        config: request.config,
        outputs: result
            .as_ref()
            .map(|r| r.choices.iter().map(|c| c.text.clone()).collect())
            .unwrap_or_default(),
        error: result.as_ref().err().map(ToString::to_string),
        usage,
        latency,
        cached,
        retries,
        timestamp: std::time::SystemTime::now(),
    });
}

impl<S: Signature> Predictor for Predict<S> {
    fn id(&self) -> PredictorId {
        self.id
    }
    fn signature(&self) -> &SignatureSpec {
        &self.signature
    }
    fn set_instructions(&mut self, instructions: String) {
        self.signature.instructions = instructions;
        self.changed();
    }
    fn set_field_text(&mut self, index: usize, prefix: String, description: String) {
        let inputs = self.signature.inputs.len();
        let field = if index < inputs {
            self.signature.inputs.get_mut(index)
        } else {
            self.signature.outputs.get_mut(index - inputs)
        };
        if let Some(field) = field {
            field.prefix = prefix;
            field.desc = description;
        }
        self.changed();
    }
    fn demos(&self) -> &[Fields] {
        &self.demos
    }
    fn set_demos(&mut self, demos: Vec<Fields>) {
        self.demos = demos;
        self.changed();
    }
    fn lm(&self) -> Option<Arc<dyn LM>> {
        self.lm.clone()
    }
    fn set_lm(&mut self, lm: Option<Arc<dyn LM>>) {
        self.lm = lm;
    }
    fn call_fields<'a>(&'a self, lm: &'a dyn LM, inputs: Fields) -> BoxFuture<'a, Result<Fields>> {
        Box::pin(async move {
            let lm = self.lm.as_deref().unwrap_or(lm);
            self.forward_fields(lm, inputs).await
        })
    }
}

impl<S: Signature> Module for Predict<S> {
    fn visit_predictors<'a>(&'a self, visitor: &mut dyn Visitor<'a>) {
        visitor.visit(self);
    }
    fn visit_predictors_mut<'a>(&'a mut self, visitor: &mut dyn VisitorMut<'a>) {
        visitor.visit(self);
    }
}

impl<S: Signature> Program for Predict<S> {
    type Input = S::Input;
    type Output = S::Output;
    async fn forward(&self, input: S::Input) -> Result<S::Output> {
        self.call(input).await
    }
}

/// A typed input or output as a field map.
pub(crate) fn to_fields<T: serde::Serialize>(
    signature: &SignatureSpec,
    value: &T,
) -> Result<Fields> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::InvalidInput {
            signature: signature.name.clone(),
            message: format!("expected an object, got {other}"),
        }),
        Err(e) => Err(Error::InvalidInput {
            signature: signature.name.clone(),
            message: e.to_string(),
        }),
    }
}

/// Parsed fields as the typed output.
pub(crate) fn from_fields<T: serde::de::DeserializeOwned>(
    signature: &SignatureSpec,
    fields: Fields,
) -> Result<T> {
    let value = Value::Object(fields);
    // Deserialized from a borrow: the fields are copied only for an error's report.
    T::deserialize(&value).map_err(|e| {
        let raw = crate::value::py_json(&value, None);
        let fields = match value {
            Value::Object(fields) => fields,
            _ => Fields::new(),
        };
        Error::Parse(ParseError {
            adapter: "typed output",
            message: Some(format!(
                "the parsed fields do not fit `{}`'s output type: {e}",
                signature.name
            )),
            fields: Vec::new(),
            parsed: fields,
            raw,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{Capabilities, LmError, ScriptedLm};

    fn qa() -> Predict<Dynamic> {
        Predict::parse("question -> answer: int").expect("valid")
    }

    fn input() -> Fields {
        let mut f = Fields::new();
        f.insert("question".into(), "1 + 1?".into());
        f
    }

    fn demo(question: Option<&str>, answer: i64) -> Fields {
        let mut d = Fields::new();
        if let Some(q) = question {
            d.insert("question".into(), q.into());
        }
        d.insert("answer".into(), answer.into());
        d
    }

    #[test]
    fn the_split_format_is_the_whole_format() {
        let sig = SignatureSpec::parse("question, hint -> answer: int").expect("valid");
        // A complete demo and an incomplete one (no hint), which goes first.
        let mut full = demo(Some("2 + 2?"), 4);
        full.insert("hint".into(), "add".into());
        let demos = vec![full, demo(Some("3 + 3?"), 6)];
        let mut inputs = input();
        inputs.insert("hint".into(), "sum".into());
        let adapters: [&dyn Adapter; 2] = [&ChatAdapter, &crate::adapter::JsonAdapter];
        for adapter in adapters {
            let mut split = adapter
                .format_prefix(&sig, &demos)
                .expect("built-ins split");
            split.push(adapter.format_inputs(&sig, &inputs));
            assert_eq!(
                split,
                adapter.format(&sig, &demos, &inputs),
                "{}",
                adapter.name()
            );
            assert_eq!(split.len(), 6);
        }
    }

    #[tokio::test]
    async fn the_kept_prefix_follows_every_change() {
        let lm = ScriptedLm::from_fn(|_| Ok("[[ ## answer ## ]]\n2".into()));
        let mut qa = qa();
        qa.call_with(&lm, input()).await.expect("parses");
        qa.set_instructions("Answer with a number.");
        qa.call_with(&lm, input()).await.expect("parses");
        qa.set_demos(vec![demo(Some("3 + 3?"), 6)]);
        qa.call_with(&lm, input()).await.expect("parses");
        Predictor::set_field_text(&mut qa, 1, "Answer:".into(), "a whole number".into());
        qa.call_with(&lm, input()).await.expect("parses");
        let qa = qa.with_adapter(crate::adapter::JsonAdapter);
        let _ = qa.call_with(&lm, input()).await;
        let requests = lm.requests();
        let system = |i: usize| requests[i].messages[0].content.clone();
        assert!(!system(0).contains("Answer with a number."));
        assert!(system(1).contains("Answer with a number."));
        assert_eq!(requests[1].messages.len(), 2);
        assert_eq!(requests[2].messages.len(), 4, "the demo is in the prompt");
        assert!(system(3).contains("a whole number") && !system(2).contains("a whole number"));
        assert!(system(4).contains("JSON object"));
        // Each prompt is exactly what the adapter formats from scratch.
        for request in &requests {
            assert_eq!(
                request.messages.last().map(|m| m.role),
                Some(crate::lm::Role::User)
            );
        }
        assert_eq!(
            requests[4].messages,
            crate::adapter::JsonAdapter.format(qa.signature(), qa.demos(), &input())
        );
    }

    #[tokio::test]
    async fn chat_failure_falls_back_to_json_once() {
        let lm = ScriptedLm::new(["the answer is two", "{\"answer\": 2}"]);
        let out = qa().call_with(&lm, input()).await.expect("fallback parses");
        assert_eq!(out["answer"], 2);
        let requests = lm.requests();
        assert_eq!(requests.len(), 2);
        assert!(
            requests[1].messages[0]
                .content
                .contains("Outputs will be a JSON object")
        );
    }

    #[tokio::test]
    async fn without_fallback_the_parse_error_surfaces() {
        let lm = ScriptedLm::new(["the answer is two"]);
        let err = qa()
            .with_json_fallback(false)
            .call_with(&lm, input())
            .await
            .expect_err("fails");
        let Error::Parse(parse) = err else {
            panic!("expected a parse error, got {err:?}")
        };
        assert_eq!(parse.fields[0].field, "answer");
        assert_eq!(lm.requests().len(), 1);
    }

    #[tokio::test]
    async fn reask_feeds_the_error_back() {
        let lm = ScriptedLm::new([
            "[[ ## answer ## ]]\ntwo",
            "[[ ## answer ## ]]\n2\n\n[[ ## completed ## ]]",
        ]);
        let out = qa()
            .with_json_fallback(false)
            .with_reasks(1)
            .call_with(&lm, input())
            .await
            .expect("second answer parses");
        assert_eq!(out["answer"], 2);
        let second = &lm.requests()[1].messages;
        assert_eq!(second[second.len() - 2].content, "[[ ## answer ## ]]\ntwo");
        let last = &second[second.len() - 1].content;
        assert!(
            last.contains("`answer` expected int, got \"two\""),
            "{last}"
        );
    }

    #[tokio::test]
    async fn lm_errors_pass_through_typed() {
        let lm = ScriptedLm::with_results([Err(LmError::Http {
            endpoint: "x".into(),
            status: 401,
            message: "bad key".into(),
            retry_after: None,
        })]);
        let err = qa().call_with(&lm, input()).await.expect_err("fails");
        assert!(
            matches!(err, Error::Lm(LmError::Http { status: 401, .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn json_adapter_requests_structured_output_when_supported() {
        let lm = ScriptedLm::new(["{\"answer\": 2}"]).with_capabilities(Capabilities::structured());
        qa().with_adapter(crate::JsonAdapter)
            .call_with(&lm, input())
            .await
            .expect("parses");
        assert!(matches!(
            lm.requests()[0].response_format,
            Some(crate::ResponseFormat::JsonSchema { .. })
        ));
    }

    #[tokio::test]
    async fn no_lm_is_a_clear_error() {
        // Nothing in this test binary calls `configure`.
        let err = qa().call(input()).await.expect_err("no LM anywhere");
        assert!(matches!(err, Error::NoLm));
        assert!(err.to_string().contains("dspy::configure"));
    }

    #[tokio::test]
    async fn scoped_lm_is_used() {
        let err = crate::settings::with_lm(
            Arc::new(ScriptedLm::new(["[[ ## answer ## ]]\n3"])),
            async { qa().call(input()).await },
        )
        .await;
        assert_eq!(err.expect("scoped LM is used")["answer"], 3);
    }
}
