//! The churn stages of `tasks/` as task kinds of the engine: each adapter reads its parameters,
//! finds its inputs in the object store and the warehouse, runs the stage's CPU work off the async
//! threads, and returns a small JSON output. The stages themselves know nothing of the engine.
//!
//! Stages hand work to each other through files at fixed places in the object store
//! (`tasks::artifacts`) and rows in the warehouse, keyed by model name and logical date, never by
//! task name: a DAG may name its tasks as it likes.

mod drift;
mod env;
mod evaluate;
mod gate;
mod register;
mod report;
mod score;
mod train;
mod validate;

use serde::Deserialize;
use workflows::{TaskError, TaskRegistry};

pub use env::StageEnv;

/// The model name stages use when their params name none.
pub const DEFAULT_MODEL: &str = "churn_logreg";

/// Registers every churn stage.
pub fn register(registry: &mut TaskRegistry, env: &StageEnv) {
    registry.register(validate::Validate { env: env.clone() });
    registry.register(train::Train { env: env.clone() });
    registry.register(evaluate::Evaluate { env: env.clone() });
    registry.register(gate::Gate { env: env.clone() });
    registry.register(register::Register { env: env.clone() });
    registry.register(score::Score { env: env.clone() });
    registry.register(drift::Drift { env: env.clone() });
    registry.register(report::Report { env: env.clone() });
}

/// The contract a stage runs under: the file its params name, or the demo contract.
pub fn load_contract(
    path: Option<&std::path::Path>,
) -> Result<tasks::contract::Contract, TaskError> {
    match path {
        Some(path) => tasks::contract::Contract::load(path).map_err(TaskError::new),
        None => Ok(tasks::contract::Contract::demo()),
    }
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
