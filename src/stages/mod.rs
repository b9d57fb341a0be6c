//! The churn stages of `tasks/` as task kinds of the engine: each adapter reads its parameters,
//! finds its inputs in the object store and the warehouse, runs the stage's CPU work off the async
//! threads, and returns a small JSON output. The stages themselves know nothing of the engine.
//!
//! Stages hand work to each other through files at fixed places in the object store
//! (`tasks::artifacts`) and rows in the warehouse, keyed by model name and logical date, never by
//! task name: a DAG may name its tasks as it likes.

mod checks;
mod demo_snapshot;
mod drift;
mod env;
mod evaluate;
mod gate;
mod outcomes;
mod publish;
mod register;
mod report;
mod report_charts;
mod score;
mod train;
mod validate;

use serde::Deserialize;
use workflows::{Task, TaskContext, TaskError, TaskOutcome, TaskRegistry};

pub use env::StageEnv;
pub use report_charts::{REPORT_FILE, report_prefix};
pub use score::{EXPORT_FILES, champion_export_prefix, export_prefix};

/// The reason an upstream task skipped for want of a retrain request (`train.params.retrain =
/// "on_request"`), if one did: evaluate, gate and register have nothing to do then, and skip with
/// the same reason so that the chain below them skips too.
pub fn not_trained(ctx: &TaskContext) -> Option<String> {
    ctx.upstream.values().find_map(|output| {
        let reason = output.get("skipped")?.as_str()?;
        reason
            .starts_with(train::NOT_REQUESTED)
            .then(|| reason.to_string())
    })
}

/// The model name stages use when their params name none.
pub const DEFAULT_MODEL: &str = "churn_logreg";

/// Registers every churn stage.
pub fn register(registry: &mut TaskRegistry, env: &StageEnv) {
    registry.register(Trimmed(validate::Validate { env: env.clone() }));
    registry.register(Trimmed(train::Train { env: env.clone() }));
    registry.register(Trimmed(evaluate::Evaluate { env: env.clone() }));
    registry.register(Trimmed(gate::Gate { env: env.clone() }));
    registry.register(Trimmed(register::Register { env: env.clone() }));
    registry.register(Trimmed(score::Score { env: env.clone() }));
    registry.register(Trimmed(drift::Drift { env: env.clone() }));
    registry.register(Trimmed(publish::Publish { env: env.clone() }));
    registry.register(Trimmed(outcomes::Outcomes { env: env.clone() }));
    registry.register(Trimmed(report::Report { env: env.clone() }));
    registry.register(demo_snapshot::DemoSnapshot { env: env.clone() });
}

/// A stage that gives the memory it freed back to the operating system when it ends, so the
/// next stage does not start on top of this one's leftovers (see [`crate::memory`]).
struct Trimmed<T>(T);

#[async_trait::async_trait]
impl<T: Task> Task for Trimmed<T> {
    type Params = T::Params;

    fn kind(&self) -> &'static str {
        self.0.kind()
    }

    fn check(&self, params: &T::Params) -> Vec<String> {
        self.0.check(params)
    }

    async fn run(&self, ctx: &TaskContext, params: T::Params) -> Result<TaskOutcome, TaskError> {
        let outcome = self.0.run(ctx, params).await;
        crate::memory::release_free_memory();
        outcome
    }
}

/// What a DAG of churn stages probably got wrong without breaking a rule: one that scores but never
/// publishes leaves `risk_scores_latest` where it is forever (a DAG written before the publish
/// stage existed, say).
pub fn pipeline_warnings(dags: &workflows::DagSet) -> Vec<String> {
    dags.dags
        .values()
        .filter(|dag| {
            let has = |kind: &str| dag.tasks.iter().any(|task| task.kind == kind);
            has("score") && !has("publish")
        })
        .map(|dag| {
            format!(
                "dag `{}` scores but has no `publish` task: the CRM's risk_scores_latest will not \
                 show its days (add one after drift, or publish by hand with `churnflow publish`)",
                dag.name
            )
        })
        .collect()
}

/// The contract a stage runs under: the file its params name, or the demo contract. A contract
/// that does not load is bad configuration: no retry.
pub fn load_contract(
    path: Option<&std::path::Path>,
) -> Result<tasks::contract::Contract, TaskError> {
    match path {
        Some(path) => tasks::contract::Contract::load(path).map_err(TaskError::permanent),
        None => Ok(tasks::contract::Contract::demo()),
    }
}

/// An object-store error as a task error: permanent when the data itself is bad (a file that does
/// not decode), transient when the store may answer next time.
pub fn storage_error(err: tasks::storage::StorageError) -> TaskError {
    let kind = if err.is_permanent() {
        workflows::ErrorKind::Permanent
    } else {
        workflows::ErrorKind::Transient
    };
    TaskError::with_causes(&err, kind)
}

/// The params every model stage shares: which contract, which model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelParams {
    pub contract: Option<std::path::PathBuf>,
    #[serde(default = "default_model")]
    pub model: String,
}

fn default_model() -> String {
    DEFAULT_MODEL.to_string()
}

/// Runs CPU work that returns task errors (keeping whether a retry helps) off the async threads.
pub async fn blocking_task<T, F>(what: &str, work: F) -> Result<T, TaskError>
where
    F: FnOnce() -> Result<T, TaskError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| TaskError::new(format!("{what} crashed: {err}")))?
}

/// Runs CPU work off the async threads, turning a crash into the task's error.
pub async fn blocking<T, E, F>(what: &str, work: F) -> Result<T, TaskError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| TaskError::new(format!("{what} crashed: {err}")))?
        .map_err(|err| TaskError::new(format!("{what}: {err}")))
}
