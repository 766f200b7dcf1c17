//! Tools for agents: an async Rust function with typed, JSON-schema-described arguments.
//!
//! Whatever goes wrong in a call — arguments that do not fit the type, an error the
//! function returns, a timeout, a panic — comes back as an observation text the model
//! can read and act on, never as a crash of the agent.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use dspy::Tool;
//! use dspy::prelude::*;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Add {
//!     /// The first number.
//!     a: f64,
//!     /// The second number.
//!     b: f64,
//! }
//!
//! let add = Tool::from_fn("add", "Adds two numbers.", |args: Add| async move {
//!     Ok::<_, std::convert::Infallible>(args.a + args.b)
//! });
//! assert_eq!(add.call(&serde_json::json!({"a": 2, "b": 3})).await, "5.0");
//! assert!(add.call(&serde_json::json!({"a": "two"})).await.starts_with("Execution error in add"));
//! # });
//! ```

use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

type Call = dyn Fn(Value) -> BoxFuture<'static, Result<Value, String>> + Send + Sync;

/// A tool an agent may call: a name, a description, the JSON schema of its arguments, and
/// the function.
#[derive(Clone)]
pub struct Tool {
    name: String,
    desc: String,
    args: Map<String, Value>,
    schema: Value,
    timeout: Duration,
    call: Arc<Call>,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("desc", &self.desc)
            .field("args", &self.args)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Tool {
    /// A tool calling `f` with arguments parsed into `A` (whose JSON schema, doc comments
    /// included, is shown to the model). `f`'s output is shown as text (strings as they
    /// are, anything else as JSON); its error as `Execution error in <name>: <error>`.
    pub fn from_fn<A, F, Fut, T, E>(name: impl Into<String>, desc: impl Into<String>, f: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
        T: Serialize,
        E: fmt::Display,
    {
        let schema = serde_json::to_value(schemars::schema_for!(A)).unwrap_or(Value::Null);
        let args = schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let f = Arc::new(f);
        let call = move |raw: Value| -> BoxFuture<'static, Result<Value, String>> {
            let parsed = serde_json::from_value::<A>(raw);
            let f = Arc::clone(&f);
            async move {
                let args = parsed.map_err(|e| format!("the arguments do not fit: {e}"))?;
                let output = f(args).await.map_err(|e| e.to_string())?;
                serde_json::to_value(output).map_err(|e| format!("its output is not JSON: {e}"))
            }
            .boxed()
        };
        Tool {
            name: name.into(),
            desc: desc.into(),
            args,
            schema,
            timeout: Duration::from_secs(60),
            call: Arc::new(call),
        }
    }

    /// A tool that takes no arguments.
    pub fn without_args<F, Fut, T, E>(
        name: impl Into<String>,
        desc: impl Into<String>,
        f: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
        T: Serialize,
        E: fmt::Display,
    {
        let mut tool = Self::from_fn(name, desc, move |_: NoArgs| f());
        tool.schema = serde_json::json!({"type": "object", "properties": {}});
        tool
    }

    /// With a time limit per call (default 60 s); past it, the observation says so.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The name the model calls it by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it does.
    pub fn desc(&self) -> &str {
        &self.desc
    }

    /// Its arguments: name → JSON schema (the schema's `properties`).
    pub fn args(&self) -> &Map<String, Value> {
        &self.args
    }

    /// The whole JSON schema of its arguments.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Calls it with JSON arguments and returns the observation: its output, or what went
    /// wrong (bad arguments, its error, a timeout, a panic).
    pub async fn call(&self, args: &Value) -> String {
        let args = match args {
            Value::Null => Value::Object(Map::new()),
            other => other.clone(),
        };
        let run = std::panic::AssertUnwindSafe((self.call)(args.clone())).catch_unwind();
        let outcome = match tokio::time::timeout(self.timeout, run).await {
            Err(_) => Err(format!("timed out after {:?}", self.timeout)),
            Ok(Err(_)) => Err("the tool panicked".to_string()),
            Ok(Ok(result)) => result,
        };
        match outcome {
            Ok(Value::String(text)) => text,
            Ok(other) => other.to_string(),
            Err(message) => format!("Execution error in {}: {message}", self.name),
        }
    }

    /// How DSPy lists a tool in an agent's instructions:
    /// `name, whose description is <desc>…</desc>. It takes arguments {…}.` (the
    /// arguments written as Python writes a dict).
    pub fn describe(&self) -> String {
        format!(
            "{}, whose description is <desc>{}</desc>. It takes arguments {}.",
            self.name,
            self.desc,
            crate::value::py_repr(&Value::Object(self.args.clone()))
        )
    }
}

/// The arguments of a tool that takes none (any object is accepted).
#[derive(serde::Deserialize, JsonSchema)]
struct NoArgs {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, JsonSchema)]
    struct Query {
        /// What to look for.
        query: String,
    }

    #[tokio::test]
    async fn every_failure_is_an_observation() {
        let search = Tool::from_fn("search", "Searches.", |q: Query| async move {
            match q.query.as_str() {
                "boom" => Err("index offline".to_string()),
                "panic" => panic!("tool bug"),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(json!([]))
                }
                other => Ok(json!([format!("result for {other}")])),
            }
        })
        .with_timeout(Duration::from_millis(50));
        assert_eq!(
            search.call(&json!({"query": "rust"})).await,
            r#"["result for rust"]"#
        );
        let bad = search.call(&json!({"q": "rust"})).await;
        assert!(
            bad.starts_with("Execution error in search: the arguments do not fit"),
            "{bad}"
        );
        assert_eq!(
            search.call(&json!({"query": "boom"})).await,
            "Execution error in search: index offline"
        );
        assert_eq!(
            search.call(&json!({"query": "panic"})).await,
            "Execution error in search: the tool panicked"
        );
        assert!(
            search
                .call(&json!({"query": "slow"}))
                .await
                .contains("timed out")
        );
    }

    #[test]
    fn tools_describe_themselves_as_dspy_does() {
        let search = Tool::from_fn("search", "Searches the corpus.", |q: Query| async move {
            Ok::<_, String>(q.query)
        });
        assert_eq!(
            search.describe(),
            "search, whose description is <desc>Searches the corpus.</desc>. It takes arguments {'query': {'description': 'What to look for.', 'type': 'string'}}."
        );
        let finish = Tool::without_args("finish", "Done.", || async {
            Ok::<_, String>("Completed.")
        });
        assert!(finish.describe().ends_with("It takes arguments {}."));
        assert_eq!(
            crate::value::py_repr(&json!({"a": [true, null, "it's"], "b": 1e20})),
            r#"{'a': [True, None, "it's"], 'b': 1e+20}"#
        );
    }
}
