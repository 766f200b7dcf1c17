//! Embedders: text to vectors, for retrieval and for KNN demo selection.
//!
//! - [`OpenAiEmbedder`]: any server speaking OpenAI's `/embeddings` protocol (OpenAI,
//!   vLLM, llama.cpp server, Ollama, TEI behind a proxy…).
//! - [`HashingEmbedder`]: a local, model-free embedder (hashed word and character n-grams),
//!   deterministic and instant; nearest neighbours by it are nearest by shared wording.

use crate::error::clip;
use crate::lm::{LM, LmError, OpenAiCompatible};
use serde_json::{Value, json};

/// Turns texts into vectors, one per text, in order.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// The vectors of `texts`, in the same order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LmError>;

    /// The embedder's name (its model), for reports and cache keys.
    fn name(&self) -> &str;
}

#[async_trait::async_trait]
impl<T: Embedder + ?Sized> Embedder for std::sync::Arc<T> {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        (**self).embed(texts).await
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}

/// An embedding model behind an OpenAI-compatible `/embeddings` endpoint.
///
/// ```no_run
/// # async fn run() -> Result<(), dspy::LmError> {
/// use dspy::embed::{Embedder, OpenAiEmbedder};
/// // Key from OPENAI_API_KEY, as for chat models:
/// let embedder = OpenAiEmbedder::from_model("openai/text-embedding-3-small")?;
/// let local = OpenAiEmbedder::new("http://127.0.0.1:8080/v1", "nomic-embed-text");
/// let vectors = local.embed(&["a sentence".to_string()]).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    client: OpenAiCompatible,
    batch: usize,
}

impl OpenAiEmbedder {
    /// An embedder for `model` at `base_url` (the URL `/embeddings` is appended to).
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiEmbedder {
            client: OpenAiCompatible::new(base_url, model),
            batch: 256,
        }
    }

    /// From a `provider/model` string, with the key and base URL from the provider's
    /// environment variables, as [`OpenAiCompatible::from_model`].
    pub fn from_model(model: &str) -> Result<Self, LmError> {
        Ok(OpenAiEmbedder {
            client: OpenAiCompatible::from_model(model)?,
            batch: 256,
        })
    }

    /// With an API key, sent as a bearer token.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.client = self.client.with_api_key(key);
        self
    }

    /// At most `n` texts per request (default 256); longer lists are sent in batches.
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    async fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        let body = json!({"model": self.client.wire_model(), "input": texts});
        let text = self.client.post("embeddings", &body).await?;
        let malformed = |message: String| LmError::MalformedResponse {
            endpoint: self.client.base_url().to_string(),
            message,
            body: clip(&text, 300),
        };
        let parsed: Value =
            serde_json::from_str(&text).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
        let data = parsed
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("no `data` array".into()))?;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (position, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map_or(position, |i| i as usize);
            let values = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed(format!("item {position} has no `embedding` array")))?;
            let vector = values
                .iter()
                .map(|v| v.as_f64().map(|x| x as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| malformed(format!("item {position} has a non-number")))?;
            match vectors.get_mut(index) {
                Some(slot) => *slot = Some(vector),
                None => return Err(malformed(format!("index {index} is out of range"))),
            }
        }
        vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| malformed(format!("no embedding for input {i}"))))
            .collect()
    }
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        let mut all = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch) {
            all.extend(self.embed_batch(chunk).await?);
        }
        Ok(all)
    }
    fn name(&self) -> &str {
        self.client.model()
    }
}

/// A local embedder with no model: each text becomes a bag of its lowercased words, word
/// pairs and character trigrams, hashed into `dims` signed buckets and scaled to unit
/// length. Cosine similarity between two such vectors measures shared wording, which is
/// what KNN demo selection needs from a baseline; use a real embedding model for meaning.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::embed::{Embedder, HashingEmbedder, cosine};
/// let e = HashingEmbedder::new(256);
/// let v = e.embed(&["a great film".into(), "a great movie".into(), "tax law".into()]).await.unwrap();
/// assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dims: usize,
    name: String,
}

impl HashingEmbedder {
    /// An embedder into `dims` dimensions (at least 1; 512 is a good size).
    pub fn new(dims: usize) -> Self {
        let dims = dims.max(1);
        HashingEmbedder {
            dims,
            name: format!("hashing-{dims}"),
        }
    }

    /// The vector of one text.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0f32; self.dims];
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut add = |feature: &[u8], weight: f32| {
            let h = fnv1a(feature);
            let bucket = (h % self.dims as u64) as usize;
            let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign * weight;
        };
        for w in &words {
            add(w.as_bytes(), 1.0);
        }
        for pair in words.windows(2) {
            add(format!("{} {}", pair[0], pair[1]).as_bytes(), 0.5);
        }
        for w in &words {
            let padded: Vec<char> = format!(" {w} ").chars().collect();
            for tri in padded.windows(3) {
                add(tri.iter().collect::<String>().as_bytes(), 0.25);
            }
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        HashingEmbedder::new(512)
    }
}

#[async_trait::async_trait]
impl Embedder for HashingEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
    fn name(&self) -> &str {
        &self.name
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Cosine similarity of two vectors (0 when either is all zeros or their lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_deterministic_and_unit_length() {
        let e = HashingEmbedder::new(64);
        let a = e.embed_one("The film is great");
        assert_eq!(a, e.embed_one("the FILM is great!"));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(e.embed_one(""), vec![0.0; 64]);
    }

    #[test]
    fn cosine_edge_cases() {
        assert_eq!(cosine(&[1.0, 0.0], &[1.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
    }
}
