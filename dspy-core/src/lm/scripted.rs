//! An LM that answers from a script, for tests and examples.

use super::{Capabilities, ChatRequest, ChatResponse, LM, LmError};
use std::collections::VecDeque;
use std::sync::Mutex;

type Responder = Box<dyn Fn(&ChatRequest) -> Result<String, LmError> + Send + Sync>;

/// An LM whose answers are given in advance (in order) or computed by a closure, and that
/// records every request it receives.
///
/// ```
/// # tokio_test_block(async {
/// use dspy::prelude::*;
/// let lm = ScriptedLm::new(["[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"]);
/// let qa = Predict::<Dynamic>::parse("question -> answer").unwrap();
/// let mut input = dspy::Fields::new();
/// input.insert("question".into(), "Capital of France?".into());
/// let out = qa.call_with(&lm, input).await.unwrap();
/// assert_eq!(out["answer"], "Paris");
/// assert_eq!(lm.requests().len(), 1);
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct ScriptedLm {
    script: Mutex<VecDeque<Result<String, LmError>>>,
    responder: Option<Responder>,
    requests: Mutex<Vec<ChatRequest>>,
    capabilities: Capabilities,
}

impl std::fmt::Debug for ScriptedLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedLm")
            .field(
                "remaining",
                &self.script.lock().map(|s| s.len()).unwrap_or(0),
            )
            .field("capabilities", &self.capabilities)
            .finish()
    }
}

impl ScriptedLm {
    /// Answers with these texts, one per call, in order; fails once they run out.
    pub fn new(responses: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::with_results(responses.into_iter().map(|r| Ok(r.into())))
    }

    /// Answers (or fails) with these results, one per call, in order.
    pub fn with_results(results: impl IntoIterator<Item = Result<String, LmError>>) -> Self {
        ScriptedLm {
            script: Mutex::new(results.into_iter().collect()),
            responder: None,
            requests: Mutex::new(Vec::new()),
            capabilities: Capabilities::none(),
        }
    }

    /// Answers every call with `f(request)`.
    pub fn from_fn(
        f: impl Fn(&ChatRequest) -> Result<String, LmError> + Send + Sync + 'static,
    ) -> Self {
        ScriptedLm {
            script: Mutex::new(VecDeque::new()),
            responder: Some(Box::new(f)),
            requests: Mutex::new(Vec::new()),
            capabilities: Capabilities::none(),
        }
    }

    /// Declares structured-output support, as a real endpoint would.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl LM for ScriptedLm {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        if let Ok(mut seen) = self.requests.lock() {
            seen.push(request.clone());
        }
        let answer = match &self.responder {
            Some(f) => f(request),
            None => self
                .script
                .lock()
                .map_err(|_| LmError::Other("ScriptedLm script lock poisoned".into()))?
                .pop_front()
                .unwrap_or_else(|| Err(LmError::Other("ScriptedLm has no more responses".into()))),
        }?;
        Ok(ChatResponse::from_text(answer))
    }

    fn model(&self) -> &str {
        "scripted"
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }
}
