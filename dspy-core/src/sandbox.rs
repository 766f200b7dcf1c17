//! A Python sandbox for code a model writes ([`ProgramOfThought`](crate::ProgramOfThought)).
//!
//! Python, because it is what models write best and what DSPy runs (there in Pyodide
//! under Deno). Each run is a fresh `python3 -I -S` process (isolated: no user site, no
//! environment variables, no current directory on the path), started with an empty
//! environment in an empty temporary directory, and locked down before the code runs:
//!
//! - **memory**: `RLIMIT_AS` (default 256 MiB): a huge allocation is a `MemoryError`;
//! - **time**: `RLIMIT_CPU` (default 5 s of CPU) and a wall-clock limit enforced from
//!   Rust (default 10 s), after which the process is killed;
//! - **files and network**: an audit hook (`sys.addaudithook`, which code cannot remove)
//!   refuses every `open`, every new `import` (a fixed set of pure-computation modules is
//!   loaded beforehand: `math`, `json`, `re`, `statistics`, `itertools`, `functools`,
//!   `collections`, `datetime`, `fractions`, `decimal`, `random`, `string`, `heapq`,
//!   `bisect`, `operator`), and every socket, subprocess, `os` and `ctypes` event;
//!   `RLIMIT_FSIZE` is 0, so no file can grow;
//! - **output**: stdout is captured and cut at 64 KiB.
//!
//! This is defence in depth for model-written arithmetic and data wrangling, not a
//! boundary against an adversary who controls the code and knows CPython's internals; run
//! the whole process in a container for that.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why sandboxed code gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The code raised (or was refused by the sandbox); the message is the exception's
    /// last line, e.g. `ZeroDivisionError: division by zero`.
    #[error("{0}")]
    Raised(String),
    /// The code ran past its time (wall clock or CPU).
    #[error("the code ran past its time limit ({0:?})")]
    TimedOut(Duration),
    /// The interpreter ended without a result (killed by a limit, crashed).
    #[error("the interpreter ended without a result: {0}")]
    Crashed(String),
    /// No Python interpreter could be started.
    #[error("could not start `{python}`: {message}")]
    Unavailable {
        /// The interpreter tried.
        python: String,
        /// Why it did not start.
        message: String,
    },
}

/// What a run printed, and the value of its last expression, if it ended with one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxOutput {
    /// What the code printed.
    pub stdout: String,
    /// `repr` of the last statement's value, when it was an expression (as a REPL shows).
    pub value: Option<String>,
}

impl SandboxOutput {
    /// The printed text, or else the last value: what to show as the code's output.
    pub fn text(&self) -> String {
        let printed = self.stdout.trim_end();
        match (&self.value, printed.is_empty()) {
            (Some(value), true) => value.clone(),
            (Some(value), false) => format!("{printed}\n{value}"),
            (None, _) => printed.to_string(),
        }
    }
}

/// A locked-down Python interpreter (see the module docs).
#[derive(Debug, Clone)]
pub struct PythonSandbox {
    python: String,
    wall: Duration,
    cpu_seconds: u64,
    memory_bytes: u64,
}

impl Default for PythonSandbox {
    fn default() -> Self {
        PythonSandbox {
            python: std::env::var("DSPY_PYTHON").unwrap_or_else(|_| "python3".into()),
            wall: Duration::from_secs(10),
            cpu_seconds: 5,
            memory_bytes: 256 << 20,
        }
    }
}

/// The most stdout kept (the bootstrap cuts printed text at the same size).
const MAX_OUTPUT: usize = 64 * 1024;

const BOOTSTRAP: &str = r#"
import sys, io, ast, json, resource, traceback
import math, re, statistics, itertools, functools, collections, datetime, fractions, decimal, random, string, heapq, bisect, operator
code = sys.stdin.read()
limits = json.loads(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limits["memory"], limits["memory"]))
resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
real_stdout = sys.stdout
BLOCKED = ("open", "import", "socket.", "subprocess.", "os.", "ctypes.", "shutil.", "pty.", "resource.setrlimit", "sys.addaudithook", "sys.settrace", "sys.setprofile", "urllib.", "http.", "ftplib.", "smtplib.", "glob.", "pathlib.", "tempfile.", "mmap.", "fcntl.")
def guard(event, args):
    if event in ("open", "import") or event.startswith(BLOCKED):
        raise PermissionError(f"the sandbox refuses `{event}`")
out = io.StringIO()
result = {"ok": True, "stdout": "", "value": None}
try:
    tree = ast.parse(code, "<model code>")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, "<model code>", "exec")
    tail = compile(last, "<model code>", "eval") if last is not None else None
    scope = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.stdout = out
    sys.addaudithook(guard)
    exec(body, scope)
    if tail is not None:
        value = eval(tail, scope)
        if value is not None:
            result["value"] = repr(value)
except BaseException as e:
    result = {"ok": False, "error": "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()[-1]}
finally:
    sys.stdout = real_stdout
if result.get("ok"):
    printed = out.getvalue()
    result["stdout"] = printed if len(printed) <= 65536 else printed[:65536] + "\n… (output cut)"
real_stdout.write("\n" + json.dumps(result) + "\n")
real_stdout.flush()
"#;

impl PythonSandbox {
    /// The default sandbox: `python3` (or `$DSPY_PYTHON`), 10 s wall, 5 s CPU, 256 MiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this interpreter.
    pub fn with_python(mut self, python: impl Into<String>) -> Self {
        self.python = python.into();
        self
    }

    /// With this wall-clock limit.
    pub fn with_timeout(mut self, wall: Duration) -> Self {
        self.wall = wall;
        self
    }

    /// With this CPU-time limit, in seconds.
    pub fn with_cpu_seconds(mut self, seconds: u64) -> Self {
        self.cpu_seconds = seconds.max(1);
        self
    }

    /// With this address-space limit, in bytes.
    pub fn with_memory(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Runs `code` and returns what it printed and its last value, or why not.
    pub async fn run(&self, code: &str) -> Result<SandboxOutput, SandboxError> {
        let unavailable = |message: String| SandboxError::Unavailable {
            python: self.python.clone(),
            message,
        };
        let dir =
            std::env::temp_dir().join(format!("dspy-sandbox-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| unavailable(format!("no work directory: {e}")))?;
        let limits = serde_json::json!({"memory": self.memory_bytes, "cpu": self.cpu_seconds});
        let spawned = tokio::process::Command::new(&self.python)
            .args(["-I", "-S", "-c", BOOTSTRAP, &limits.to_string()])
            .env_clear()
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                remove(&dir);
                return Err(unavailable(e.to_string()));
            }
        };
        let result = self.talk(&mut child, code).await;
        let _ = child.kill().await;
        remove(&dir);
        result
    }

    async fn talk(
        &self,
        child: &mut tokio::process::Child,
        code: &str,
    ) -> Result<SandboxOutput, SandboxError> {
        if let Some(mut stdin) = child.stdin.take() {
            // A failed write shows up below as a crash with the interpreter's stderr.
            let _ = stdin.write_all(code.as_bytes()).await;
        }
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let read = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(s) = stdout.as_mut() {
                    let _ = s.take(8 * MAX_OUTPUT as u64).read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(s) = stderr.as_mut() {
                    let _ = s.take(MAX_OUTPUT as u64).read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (out, err, status)
        };
        let (out, err, status) = tokio::time::timeout(self.wall, read)
            .await
            .map_err(|_| SandboxError::TimedOut(self.wall))?;
        let out = String::from_utf8_lossy(&out);
        let report = out.lines().rev().find_map(|line| {
            serde_json::from_str::<Value>(line.trim())
                .ok()
                .filter(Value::is_object)
        });
        let Some(report) = report else {
            let err = String::from_utf8_lossy(&err);
            let why = match status {
                Ok(status) => match status.code() {
                    Some(code) => format!("exit code {code}"),
                    // Killed by a signal: SIGXCPU is the CPU limit.
                    None => "killed by a signal (a resource limit)".to_string(),
                },
                Err(e) => e.to_string(),
            };
            if why.contains("signal") {
                return Err(SandboxError::TimedOut(Duration::from_secs(
                    self.cpu_seconds,
                )));
            }
            let tail = err.trim().lines().last().unwrap_or_default().to_string();
            return Err(SandboxError::Crashed(format!("{why}; {tail}")));
        };
        if report.get("ok") != Some(&Value::Bool(true)) {
            let error = report
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_string();
            return Err(SandboxError::Raised(error));
        }
        let stdout = report
            .get("stdout")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(SandboxOutput {
            stdout,
            value: report
                .get("value")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn remove(dir: &PathBuf) {
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> PythonSandbox {
        PythonSandbox::new()
            .with_timeout(Duration::from_secs(5))
            .with_cpu_seconds(2)
    }

    #[tokio::test]
    async fn computes_prints_and_returns_the_last_value() {
        let out = sandbox()
            .run("import math\nxs = [math.sqrt(n) for n in (4, 9)]\nprint(sum(xs))\nxs")
            .await
            .expect("runs");
        assert_eq!(out.stdout, "5.0\n");
        assert_eq!(out.value.as_deref(), Some("[2.0, 3.0]"));
        assert_eq!(out.text(), "5.0\n[2.0, 3.0]");
        let error = sandbox().run("1 / 0").await.unwrap_err();
        assert_eq!(
            error,
            SandboxError::Raised("ZeroDivisionError: division by zero".into())
        );
        let error = sandbox().run("def f(:\n  pass").await.unwrap_err();
        assert!(matches!(error, SandboxError::Raised(m) if m.starts_with("SyntaxError")));
    }

    #[tokio::test]
    async fn an_infinite_loop_is_stopped() {
        let started = std::time::Instant::now();
        let error = sandbox().run("while True:\n    pass").await.unwrap_err();
        assert!(matches!(error, SandboxError::TimedOut(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(6));
        // With CPU time to spare, the wall clock stops it.
        let started = std::time::Instant::now();
        let error = PythonSandbox::new()
            .with_cpu_seconds(60)
            .with_timeout(Duration::from_millis(1500))
            .run("x = 0\nwhile True:\n    x += 1\n    if x % 1000 == 0: pass")
            .await
            .unwrap_err();
        assert_eq!(error, SandboxError::TimedOut(Duration::from_millis(1500)));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_huge_allocation_fails_inside() {
        let error = sandbox()
            .run("x = bytearray(2 * 1024 ** 3)")
            .await
            .unwrap_err();
        assert_eq!(error, SandboxError::Raised("MemoryError".into()));
        let ok = sandbox()
            .run("len(bytearray(10 * 1024 ** 2))")
            .await
            .expect("runs");
        assert_eq!(ok.value.as_deref(), Some("10485760"));
    }

    #[tokio::test]
    async fn files_network_and_processes_are_refused() {
        for code in [
            "open('/etc/passwd').read()",
            "import os\nos.listdir('/')",
            "import socket\nsocket.socket().connect(('127.0.0.1', 9))",
            "import subprocess\nsubprocess.run(['ls'])",
            "import ctypes",
            "__import__('pathlib').Path('/etc/hostname').read_text()",
            "with open('out.txt', 'w') as f: f.write('x')",
        ] {
            let error = sandbox().run(code).await.unwrap_err();
            assert!(
                matches!(&error, SandboxError::Raised(m) if m.starts_with("PermissionError: the sandbox refuses")),
                "{code}: {error:?}"
            );
        }
    }
}
