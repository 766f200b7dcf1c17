//! The response cache: an in-memory LRU over an on-disk SQLite store, keyed by a hash of
//! the exact request.
//!
//! The key is SHA-256 of the request in canonical JSON (sorted keys): the LM's
//! [`fingerprint`](super::LM::fingerprint) (model and default settings, never a key or an
//! endpoint), the messages, every setting (including `rollout_id`, which is never sent), and
//! the response format. Two requests share an entry only if they would ask the model the
//! same thing. `LmConfig::cache = Some(false)` bypasses the cache for a call.
//!
//! The disk store is SQLite in WAL mode: several processes may read and write one
//! directory at once, and a process killed mid-write leaves the last committed state (a
//! transaction is all or nothing). Each value also carries a digest that is checked on
//! read; an entry that fails it is dropped and counted as a miss, never returned. A disk
//! that fails (full, read-only, locked past the timeout) costs cache hits, never a call:
//! the error is logged and the request goes to the model.

use super::{ChatRequest, ChatResponse, ChatStream, LM, LmError, ResponseFormat};
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A cache key: SHA-256 of the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of `request` sent to an LM with this [`fingerprint`](super::LM::fingerprint).
    pub fn new(fingerprint: &Value, request: &ChatRequest) -> Self {
        let mut config = serde_json::to_value(&request.config).unwrap_or(Value::Null);
        if let Value::Object(settings) = &mut config {
            settings.remove("cache");
        }
        let format = match &request.response_format {
            None => Value::Null,
            Some(ResponseFormat::JsonObject) => json!("json_object"),
            Some(ResponseFormat::JsonSchema { name, schema }) => {
                json!({"json_schema": {"name": name, "schema": schema}})
            }
        };
        let whole = json!({
            "lm": fingerprint,
            "messages": request.messages,
            "config": config,
            "response_format": format,
        });
        let mut text = String::new();
        canonical(&whole, &mut text);
        CacheKey(Sha256::digest(text.as_bytes()).into())
    }

    /// The key in hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// JSON with object keys sorted at every level, so that equal values hash equally.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// How many lookups a cache answered, and from where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answered from memory.
    pub memory_hits: u64,
    /// Answered from disk (and then kept in memory).
    pub disk_hits: u64,
    /// Not found: the model was called.
    pub misses: u64,
    /// Responses stored.
    pub writes: u64,
    /// Disk entries that failed their digest or did not parse, dropped.
    pub corrupt: u64,
}

/// Why a disk cache could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cache at {path}: {message}")]
pub struct CacheError {
    /// The cache directory.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// A response cache shared by any number of LMs (wrap each with [`CachedLm`]).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use dspy::prelude::*;
/// use dspy::lm::{Cache, CachedLm, ChatRequest, Message};
/// use std::sync::Arc;
///
/// let dir = std::env::temp_dir().join(format!("dspy-cache-doc-{}", std::process::id()));
/// let cache = Arc::new(Cache::memory(1000).with_disk(&dir, 1 << 30)?);
/// let model = Arc::new(ScriptedLm::new(["four"]));
/// let lm = CachedLm::new(model.clone(), cache.clone());
/// let ask = ChatRequest::new(vec![Message::user("2 + 2?")]);
/// assert_eq!(lm.chat(&ask).await?.text(), Some("four"));
/// let again = lm.chat(&ask).await?; // the script is empty: this answer is the cache's
/// assert!(again.cached);
/// assert_eq!(model.requests().len(), 1);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct Cache {
    memory: Option<Mutex<lru::LruCache<CacheKey, Arc<ChatResponse>>>>,
    disk: Option<Arc<DiskStore>>,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    corrupt: AtomicU64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("memory", &self.memory.is_some())
            .field("disk", &self.disk.as_ref().map(|d| d.path.clone()))
            .field("stats", &self.stats())
            .finish()
    }
}

impl Cache {
    /// An in-memory cache of at most `entries` responses (least recently used go first);
    /// `0` keeps none in memory.
    pub fn memory(entries: usize) -> Self {
        Cache {
            memory: NonZeroUsize::new(entries).map(|n| Mutex::new(lru::LruCache::new(n))),
            disk: None,
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
        }
    }

    /// With an on-disk store in `dir` (created if missing), holding about `size_limit`
    /// bytes of responses: past it, the least recently used are removed.
    pub fn with_disk(mut self, dir: impl AsRef<Path>, size_limit: u64) -> Result<Self, CacheError> {
        self.disk = Some(Arc::new(DiskStore::open(dir.as_ref(), size_limit)?));
        Ok(self)
    }

    /// The process-wide cache that [`LmBuilder`](super::LmBuilder) uses unless told
    /// otherwise, as DSPy's `dspy.cache`: 100,000 responses in memory over a disk store in
    /// `$DSPY_CACHEDIR`, else `$XDG_CACHE_HOME/dspy-rs`, else `~/.cache/dspy-rs`, holding
    /// `$DSPY_CACHE_LIMIT` bytes (default 30 GB). When the disk store cannot be opened,
    /// the cache is memory-only and a warning says why.
    pub fn global() -> Arc<Cache> {
        static GLOBAL: OnceLock<Arc<Cache>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| {
            let limit = std::env::var("DSPY_CACHE_LIMIT")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(30_000_000_000);
            let memory = || Cache::memory(100_000);
            let cache = match default_dir() {
                Some(dir) => memory().with_disk(&dir, limit).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "disk cache unavailable; caching in memory only");
                    memory()
                }),
                None => memory(),
            };
            Arc::new(cache)
        }))
    }

    /// Lookups and writes so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
        }
    }

    /// The disk store's directory, when there is one.
    pub fn disk_dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(|d| d.path.as_path())
    }

    /// The stored response for `key`, marked `cached`.
    pub async fn get(&self, key: &CacheKey) -> Option<ChatResponse> {
        if let Some(memory) = &self.memory
            && let Ok(mut memory) = memory.lock()
            && let Some(hit) = memory.get(key)
        {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Some(as_cached(hit));
        }
        if let Some(disk) = &self.disk {
            let disk = Arc::clone(disk);
            let key = *key;
            let found = tokio::task::spawn_blocking(move || disk.get(&key))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match found {
                Ok(Lookup::Hit(response)) => {
                    self.disk_hits.fetch_add(1, Ordering::Relaxed);
                    let response = Arc::new(response);
                    self.remember(key, Arc::clone(&response));
                    return Some(as_cached(&response));
                }
                Ok(Lookup::Corrupt) => {
                    self.corrupt.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Lookup::Miss) => {}
                Err(error) => tracing::warn!(%error, "disk cache read failed"),
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Stores `response` under `key`, in memory and on disk.
    pub async fn put(&self, key: CacheKey, response: &ChatResponse) {
        let mut response = response.clone();
        response.cached = false;
        response.retries = 0;
        let response = Arc::new(response);
        self.remember(key, Arc::clone(&response));
        self.writes.fetch_add(1, Ordering::Relaxed);
        if let Some(disk) = &self.disk {
            let disk = Arc::clone(disk);
            let stored = tokio::task::spawn_blocking(move || disk.put(&key, &response))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            if let Err(error) = stored {
                tracing::warn!(%error, "disk cache write failed");
            }
        }
    }

    /// Checks the disk store: SQLite's integrity check, then every entry's digest and
    /// form. Entries that fail are removed and counted. `None` without a disk store.
    pub async fn check_disk(&self) -> Option<Result<DiskCheck, CacheError>> {
        let disk = Arc::clone(self.disk.as_ref()?);
        let path = disk.path.clone();
        Some(
            tokio::task::spawn_blocking(move || disk.check())
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
                .map_err(|message| CacheError { path, message }),
        )
    }

    /// Forgets every entry, in memory and on disk.
    pub async fn clear(&self) -> Result<(), CacheError> {
        if let Some(memory) = &self.memory
            && let Ok(mut memory) = memory.lock()
        {
            memory.clear();
        }
        if let Some(disk) = &self.disk {
            let disk = Arc::clone(disk);
            let path = disk.path.clone();
            tokio::task::spawn_blocking(move || disk.clear())
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
                .map_err(|message| CacheError { path, message })?;
        }
        Ok(())
    }

    fn remember(&self, key: CacheKey, response: Arc<ChatResponse>) {
        if let Some(memory) = &self.memory
            && let Ok(mut memory) = memory.lock()
        {
            memory.put(key, response);
        }
    }
}

fn as_cached(response: &ChatResponse) -> ChatResponse {
    let mut response = response.clone();
    response.cached = true;
    response
}

fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("DSPY_CACHEDIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("dspy-rs")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("dspy-rs")))
}

/// What [`Cache::check_disk`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskCheck {
    /// Sound entries.
    pub entries: u64,
    /// Entries that failed their digest or did not parse, removed.
    pub removed: u64,
    /// SQLite's `PRAGMA integrity_check` answer (`ok` when the file is sound).
    pub integrity: String,
}

enum Lookup {
    Hit(ChatResponse),
    Miss,
    Corrupt,
}

/// The SQLite store: one table of (key, value, digest, size, last access).
struct DiskStore {
    path: PathBuf,
    connection: Mutex<rusqlite::Connection>,
    size_limit: u64,
    writes_since_check: AtomicU64,
}

const SETUP: &str = "PRAGMA journal_mode = WAL;
     PRAGMA synchronous = NORMAL;
     CREATE TABLE IF NOT EXISTS responses (
         key BLOB PRIMARY KEY,
         value BLOB NOT NULL,
         digest BLOB NOT NULL,
         size INTEGER NOT NULL,
         accessed INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS responses_by_access ON responses (accessed);";

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// How stale an entry's access time may get before a hit refreshes it.
const ACCESS_GRANULARITY_MICROS: i64 = 60_000_000;

/// How often (in writes) the store's total size is checked against its limit.
const SIZE_CHECK_EVERY: u64 = 64;

impl DiskStore {
    fn open(dir: &Path, size_limit: u64) -> Result<Self, CacheError> {
        let fail = |message: String| CacheError {
            path: dir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create it: {e}")))?;
        let connection = rusqlite::Connection::open(dir.join("responses.sqlite3"))
            .map_err(|e| fail(format!("cannot open the database: {e}")))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| fail(e.to_string()))?;
        // Two processes opening a new store at once may find it locked while the other
        // switches it to WAL: SQLite reports that at once (its busy handler is not asked,
        // to avoid deadlock), so setting up is tried again for a while.
        let mut attempt = 0u32;
        loop {
            match connection.execute_batch(SETUP) {
                Ok(()) => break,
                Err(e) if is_busy(&e) && attempt < 200 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(
                        5 + u64::from(attempt % 10) * 5,
                    ));
                }
                Err(e) => return Err(fail(format!("cannot set up the database: {e}"))),
            }
        }
        Ok(DiskStore {
            path: dir.to_path_buf(),
            connection: Mutex::new(connection),
            size_limit,
            writes_since_check: AtomicU64::new(0),
        })
    }

    fn get(&self, key: &CacheKey) -> Result<Lookup, String> {
        let connection = self.connection.lock().map_err(|e| e.to_string())?;
        let row = connection.query_row(
            "SELECT value, digest, accessed FROM responses WHERE key = ?1",
            [&key.0[..]],
            |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            },
        );
        let (value, digest, accessed) = match row {
            Ok(found) => found,
            Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(Lookup::Miss),
            Err(e) => return Err(e.to_string()),
        };
        let parsed = (digest == Sha256::digest(&value)[..])
            .then(|| serde_json::from_slice::<ChatResponse>(&value).ok())
            .flatten()
            .filter(|r| !r.choices.is_empty());
        let Some(response) = parsed else {
            connection
                .execute("DELETE FROM responses WHERE key = ?1", [&key.0[..]])
                .map_err(|e| e.to_string())?;
            return Ok(Lookup::Corrupt);
        };
        // The access time orders eviction; a minute is precise enough, and not writing it
        // on every hit makes a hit a read only.
        let now = now_micros();
        if now - accessed > ACCESS_GRANULARITY_MICROS {
            connection
                .execute(
                    "UPDATE responses SET accessed = ?2 WHERE key = ?1",
                    rusqlite::params![&key.0[..], now],
                )
                .map_err(|e| e.to_string())?;
        }
        Ok(Lookup::Hit(response))
    }

    fn put(&self, key: &CacheKey, response: &ChatResponse) -> Result<(), String> {
        let value = serde_json::to_vec(response).map_err(|e| e.to_string())?;
        let digest = Sha256::digest(&value).to_vec();
        let connection = self.connection.lock().map_err(|e| e.to_string())?;
        connection
            .execute(
                "INSERT OR REPLACE INTO responses (key, value, digest, size, accessed)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![&key.0[..], value, digest, value.len() as i64, now_micros()],
            )
            .map_err(|e| e.to_string())?;
        if self.writes_since_check.fetch_add(1, Ordering::Relaxed) % SIZE_CHECK_EVERY == 0 {
            self.trim(&connection)?;
        }
        Ok(())
    }

    /// Removes the least recently used entries until the store is under 90% of its limit.
    fn trim(&self, connection: &rusqlite::Connection) -> Result<(), String> {
        let total: i64 = connection
            .query_row("SELECT COALESCE(SUM(size), 0) FROM responses", [], |row| {
                row.get(0)
            })
            .map_err(|e| e.to_string())?;
        let total = total.max(0) as u64;
        if total <= self.size_limit {
            return Ok(());
        }
        let mut excess = (total - self.size_limit * 9 / 10) as i64;
        let mut statement = connection
            .prepare("SELECT key, size FROM responses ORDER BY accessed LIMIT 256")
            .map_err(|e| e.to_string())?;
        while excess > 0 {
            let oldest: Vec<(Vec<u8>, i64)> = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(|e| e.to_string())?
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            if oldest.is_empty() {
                break;
            }
            for (key, size) in oldest {
                if excess <= 0 {
                    break;
                }
                connection
                    .execute("DELETE FROM responses WHERE key = ?1", [&key])
                    .map_err(|e| e.to_string())?;
                excess -= size;
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<DiskCheck, String> {
        let connection = self.connection.lock().map_err(|e| e.to_string())?;
        let integrity: String = connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|e| e.to_string())?;
        let mut bad = Vec::new();
        let mut entries = 0;
        {
            let mut statement = connection
                .prepare("SELECT key, value, digest FROM responses")
                .map_err(|e| e.to_string())?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(|e| e.to_string())?;
            for row in rows {
                let (key, value, digest) = row.map_err(|e| e.to_string())?;
                let sound = digest == Sha256::digest(&value)[..]
                    && serde_json::from_slice::<ChatResponse>(&value).is_ok();
                if sound {
                    entries += 1;
                } else {
                    bad.push(key);
                }
            }
        }
        for key in &bad {
            connection
                .execute("DELETE FROM responses WHERE key = ?1", [key])
                .map_err(|e| e.to_string())?;
        }
        Ok(DiskCheck {
            entries,
            removed: bad.len() as u64,
            integrity,
        })
    }

    fn clear(&self) -> Result<(), String> {
        let connection = self.connection.lock().map_err(|e| e.to_string())?;
        connection
            .execute("DELETE FROM responses", [])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// An LM whose answers are kept in a [`Cache`]: a request seen before is answered from
/// it without calling the model. Errors are never cached. A call whose settings say
/// `cache: Some(false)` goes to the model and stores nothing.
#[derive(Clone)]
pub struct CachedLm {
    inner: Arc<dyn LM>,
    cache: Arc<Cache>,
}

impl std::fmt::Debug for CachedLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedLm")
            .field("model", &self.inner.model())
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachedLm {
    /// `inner`, answering from `cache` where it can.
    pub fn new(inner: Arc<dyn LM>, cache: Arc<Cache>) -> Self {
        CachedLm { inner, cache }
    }

    /// The cache.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }
}

#[async_trait::async_trait]
impl LM for CachedLm {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        if request.config.cache == Some(false) {
            return self.inner.chat(request).await;
        }
        let key = CacheKey::new(&self.inner.fingerprint(), request);
        if let Some(hit) = self.cache.get(&key).await {
            return Ok(hit);
        }
        let response = self.inner.chat(request).await?;
        self.cache.put(key, &response).await;
        Ok(response)
    }

    pass_through_to_inner!();

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream, LmError> {
        if request.config.cache == Some(false) {
            return self.inner.chat_stream(request).await;
        }
        let key = CacheKey::new(&self.inner.fingerprint(), request);
        if let Some(hit) = self.cache.get(&key).await {
            return Ok(ChatStream::from_response(hit).mark_cached());
        }
        let stream = self.inner.chat_stream(request).await?;
        // Pass the chunks on as they come; once the stream has ended cleanly, store the
        // whole answer. A stream that fails stores nothing.
        let state = Tee {
            stream,
            text: String::new(),
            finish_reason: None,
            usage: super::Usage::default(),
            failed: false,
            cache: Arc::clone(&self.cache),
            key,
        };
        Ok(ChatStream::new(futures::stream::unfold(
            Some(state),
            |state| async move {
                let mut tee = state?;
                match tee.stream.next().await {
                    Some(Ok(chunk)) => {
                        tee.text.push_str(&chunk.text);
                        if chunk.finish_reason.is_some() {
                            tee.finish_reason.clone_from(&chunk.finish_reason);
                        }
                        if let Some(usage) = chunk.usage {
                            tee.usage = usage;
                        }
                        Some((Ok(chunk), Some(tee)))
                    }
                    Some(Err(e)) => {
                        tee.failed = true;
                        Some((Err(e), Some(tee)))
                    }
                    None => {
                        if !tee.failed {
                            let mut whole = ChatResponse::from_text(std::mem::take(&mut tee.text));
                            whole.choices[0].finish_reason = tee.finish_reason.take();
                            whole.usage = tee.usage;
                            tee.cache.put(tee.key, &whole).await;
                        }
                        None
                    }
                }
            },
        )))
    }
}

struct Tee {
    stream: ChatStream,
    text: String,
    finish_reason: Option<String>,
    usage: super::Usage,
    failed: bool,
    cache: Arc<Cache>,
    key: CacheKey,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{LmConfig, Message, ScriptedLm};

    fn request(text: &str) -> ChatRequest {
        ChatRequest::new(vec![Message::user(text)])
    }

    #[test]
    fn keys_see_every_setting_but_the_cache_switch() {
        let fp = json!({"model": "m"});
        let base = CacheKey::new(&fp, &request("hi"));
        assert_eq!(base, CacheKey::new(&fp, &request("hi")));
        assert_ne!(base, CacheKey::new(&fp, &request("hi!")));
        assert_ne!(base, CacheKey::new(&json!({"model": "n"}), &request("hi")));
        let rollout = request("hi").with_config(LmConfig::default().with_rollout_id(1));
        assert_ne!(base, CacheKey::new(&fp, &rollout));
        let off = request("hi").with_config(LmConfig::default().with_cache(false));
        assert_eq!(base, CacheKey::new(&fp, &off));
        let json_mode = request("hi").with_response_format(Some(ResponseFormat::JsonObject));
        assert_ne!(base, CacheKey::new(&fp, &json_mode));
        // Key order in the fingerprint does not matter.
        assert_eq!(
            CacheKey::new(&json!({"a": 1, "b": 2}), &request("x")),
            CacheKey::new(&json!({"b": 2, "a": 1}), &request("x"))
        );
        assert_eq!(base.to_hex().len(), 64);
    }

    #[tokio::test]
    async fn memory_hits_skip_the_model_and_bypass_is_honoured() {
        let model = Arc::new(ScriptedLm::from_fn(|r| {
            Ok(format!("re: {}", r.messages[0].content))
        }));
        let lm = CachedLm::new(model.clone(), Arc::new(Cache::memory(10)));
        let first = lm.chat(&request("a")).await.expect("answers");
        assert!(!first.cached);
        let second = lm.chat(&request("a")).await.expect("answers");
        assert!(second.cached);
        assert_eq!(second.text(), Some("re: a"));
        assert_eq!(model.requests().len(), 1);
        let bypass = request("a").with_config(LmConfig::default().with_cache(false));
        assert!(!lm.chat(&bypass).await.expect("answers").cached);
        assert_eq!(model.requests().len(), 2);
        let stats = lm.cache().stats();
        assert_eq!((stats.memory_hits, stats.misses, stats.writes), (1, 1, 1));
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let model = Arc::new(ScriptedLm::with_results([
            Err(LmError::Other("down".into())),
            Ok("up".to_string()),
        ]));
        let lm = CachedLm::new(model.clone(), Arc::new(Cache::memory(10)));
        assert!(lm.chat(&request("a")).await.is_err());
        assert_eq!(
            lm.chat(&request("a")).await.expect("answers").text(),
            Some("up")
        );
    }

    #[tokio::test]
    async fn a_tampered_disk_entry_is_dropped_not_returned() {
        let dir = std::env::temp_dir().join(format!(
            "dspy-cache-unit-{}-{}",
            std::process::id(),
            now_micros()
        ));
        let cache = Cache::memory(0).with_disk(&dir, 1 << 20).expect("opens");
        let key = CacheKey::new(&json!({"model": "m"}), &request("a"));
        cache.put(key, &ChatResponse::from_text("right")).await;
        assert_eq!(
            cache
                .get(&key)
                .await
                .and_then(|r| r.text().map(String::from)),
            Some("right".into())
        );
        {
            let disk = cache.disk.as_ref().expect("disk");
            let connection = disk.connection.lock().expect("lock");
            connection
                .execute(
                    "UPDATE responses SET value = CAST('{\"choices\":[{\"text\":\"wrong\"}]}' AS BLOB)",
                    [],
                )
                .expect("tampers");
        }
        assert!(cache.get(&key).await.is_none());
        assert_eq!(cache.stats().corrupt, 1);
        assert!(cache.get(&key).await.is_none(), "the bad entry is gone");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn the_disk_store_keeps_to_its_size_limit() {
        let dir = std::env::temp_dir().join(format!(
            "dspy-cache-trim-{}-{}",
            std::process::id(),
            now_micros()
        ));
        let cache = Cache::memory(0).with_disk(&dir, 20_000).expect("opens");
        let text = "x".repeat(1000);
        for i in 0..200 {
            let key = CacheKey::new(&json!({"model": "m"}), &request(&i.to_string()));
            cache.put(key, &ChatResponse::from_text(text.clone())).await;
        }
        let disk = cache.disk.as_ref().expect("disk");
        let total: i64 = disk
            .connection
            .lock()
            .expect("lock")
            .query_row("SELECT SUM(size) FROM responses", [], |r| r.get(0))
            .expect("sums");
        // Checked every 64 writes: never more than 64 entries past the limit.
        assert!(total < 20_000 + 64 * 1100, "{total}");
        // The newest entry is still there; the oldest is gone.
        let newest = CacheKey::new(&json!({"model": "m"}), &request("199"));
        let oldest = CacheKey::new(&json!({"model": "m"}), &request("0"));
        assert!(cache.get(&newest).await.is_some());
        assert!(cache.get(&oldest).await.is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
