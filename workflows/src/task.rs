//! The one trait through which tasks talk to the engine, the context a task receives, and the
//! registry of task kinds.
//!
//! Adding a kind is one implementation of [`Task`] and one [`TaskRegistry::register`] call. A task
//! gets everything it needs through its [`TaskContext`] and leaves everything through its returned
//! output and its artifact directory, never through memory shared with the scheduler: that is what
//! lets one task instance run as its own process (`churnflow task run`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::logical_date::LogicalDate;

/// A kind of task. `Params` is the typed form of the task's `params` table in dags.toml; it is
/// checked when the file is loaded, so a wrong type is a configuration error, not a run failure.
#[async_trait]
pub trait Task: Send + Sync + 'static {
    type Params: DeserializeOwned + Send;

    /// The name used as `kind = "..."` in dags.toml.
    fn kind(&self) -> &'static str;

    /// What the types of `Params` cannot say: ranges, orderings, names. Each problem is one
    /// message that names its key (`holdout_fraction = 1.5 is not in (0, 1)`). `dags check` runs
    /// it, so a bad value fails the check, not the 02:30 run; every attempt runs it again first.
    fn check(&self, params: &Self::Params) -> Vec<String> {
        let _ = params;
        Vec::new()
    }

    async fn run(&self, ctx: &TaskContext, params: Self::Params) -> Result<TaskOutcome, TaskError>;
}

/// How a task ended, when it did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// Done; the value is the task's small JSON output, handed to downstream tasks.
    Success(serde_json::Value),
    /// Nothing to do; downstream tasks still run.
    Skipped(String),
}

/// Whether another attempt of a failed task could end differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// It might: a network, a lock, a server that was down, a timeout. The task's retries apply.
    Transient,
    /// It cannot: a contract breach, bad configuration or input. No retry is made; the run fails
    /// at once and says so.
    Permanent,
}

/// A failed attempt, with the text a person reads in `churnflow tasks` and in alerts, and whether
/// a retry can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub message: String,
    pub kind: ErrorKind,
}

impl TaskError {
    /// A failure a retry may cure (the default: when in doubt, the task's retries decide).
    pub fn new(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            kind: ErrorKind::Transient,
        }
    }

    /// A failure no retry can cure.
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            kind: ErrorKind::Permanent,
        }
    }

    /// An error with its causes, each once (see [`error_chain_text`]).
    pub fn with_causes(err: &(dyn std::error::Error + 'static), kind: ErrorKind) -> Self {
        Self {
            message: error_chain_text(err),
            kind,
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.kind == ErrorKind::Permanent
    }
}

/// An error and its causes on one line, each cause once: errors that already quote their source in
/// their own message (`cannot connect: Connection refused`) would otherwise repeat it.
pub fn error_chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskError {}

/// What a task instance receives for one attempt.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub dag: String,
    pub task: String,
    pub run_id: i64,
    pub logical_date: LogicalDate,
    /// 1 for the first attempt of this task instance.
    pub attempt: i64,
    /// The JSON outputs of the task's direct upstream tasks, by task name.
    pub upstream: BTreeMap<String, serde_json::Value>,
    /// A directory for this task instance's files, created before the attempt starts.
    pub artifacts_dir: PathBuf,
    pub log: TaskLog,
}

/// A task's log. Lines go to `tracing` and are stored with the attempt in the run store.
#[derive(Debug, Clone, Default)]
pub struct TaskLog {
    lines: Arc<Mutex<Vec<String>>>,
}

/// The longest log line and error text kept: a task that prints a customer's 50 MB field must not
/// make a 50 MB row in the run store, an email or a report.
pub const MAX_STORED_TEXT: usize = 8 * 1024;

/// `text` cut to [`MAX_STORED_TEXT`] bytes (at a character boundary), saying how much was cut.
pub fn bounded_for_storage(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_STORED_TEXT {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = MAX_STORED_TEXT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}... ({} more bytes)",
        &text[..cut],
        text.len() - cut
    ))
}

impl TaskLog {
    pub fn line(&self, message: impl fmt::Display) {
        let message = message.to_string();
        let message = bounded_for_storage(&message);
        let stamped = format!("{} {message}", chrono::Utc::now().format("%H:%M:%S%.3f"));
        tracing::info!(target: "churnflow::task", "{message}");
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(stamped);
    }

    /// Everything logged so far, one line each.
    pub fn text(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .join("\n")
    }
}

/// Why a kind's parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    UnknownKind,
    /// Each problem found, one message each.
    Invalid(Vec<String>),
}

/// A [`Task`] with its parameter type erased, so kinds of every type sit in one registry.
#[async_trait]
trait ErasedTask: Send + Sync {
    fn check_params(&self, params: &toml::Value) -> Result<(), Vec<String>>;
    async fn run(&self, ctx: &TaskContext, params: &toml::Value) -> Result<TaskOutcome, TaskError>;
}

struct Erased<T>(T);

fn decode<P: DeserializeOwned>(params: &toml::Value) -> Result<P, String> {
    params
        .clone()
        .try_into::<P>()
        .map_err(|err| err.message().trim().to_string())
}

#[async_trait]
impl<T: Task> ErasedTask for Erased<T> {
    fn check_params(&self, params: &toml::Value) -> Result<(), Vec<String>> {
        let params = decode::<T::Params>(params).map_err(|reason| vec![reason])?;
        let problems = self.0.check(&params);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    async fn run(&self, ctx: &TaskContext, params: &toml::Value) -> Result<TaskOutcome, TaskError> {
        let params = decode::<T::Params>(params)
            .map_err(|reason| TaskError::permanent(format!("bad params: {reason}")))?;
        let problems = self.0.check(&params);
        if !problems.is_empty() {
            return Err(TaskError::permanent(format!(
                "bad params: {}",
                problems.join("; ")
            )));
        }
        self.0.run(ctx, params).await
    }
}

/// The task kinds a process knows, by name.
#[derive(Clone, Default)]
pub struct TaskRegistry {
    kinds: BTreeMap<String, Arc<dyn ErasedTask>>,
}

impl fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl TaskRegistry {
    /// A registry holding the engine's generic kinds, `shell` and `noop`.
    pub fn with_generic_kinds() -> Self {
        let mut registry = Self::default();
        registry.register(crate::kinds::Shell);
        registry.register(crate::kinds::Noop);
        registry
    }

    pub fn register<T: Task>(&mut self, task: T) -> &mut Self {
        self.kinds
            .insert(task.kind().to_string(), Arc::new(Erased(task)));
        self
    }

    pub fn kinds(&self) -> Vec<&str> {
        self.kinds.keys().map(String::as_str).collect()
    }

    pub fn check_params(&self, kind: &str, params: &toml::Value) -> Result<(), ParamsError> {
        let task = self.kinds.get(kind).ok_or(ParamsError::UnknownKind)?;
        task.check_params(params).map_err(ParamsError::Invalid)
    }

    pub async fn run(
        &self,
        kind: &str,
        ctx: &TaskContext,
        params: &toml::Value,
    ) -> Result<TaskOutcome, TaskError> {
        let task = self
            .kinds
            .get(kind)
            .ok_or_else(|| TaskError::permanent(format!("unknown task kind `{kind}`")))?;
        task.run(ctx, params).await
    }
}
