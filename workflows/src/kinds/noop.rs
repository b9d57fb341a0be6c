//! `noop`: succeeds at once. A join point in a DAG, and the unit of the engine-overhead benchmark.

use async_trait::async_trait;
use serde::Deserialize;

use crate::task::{Task, TaskContext, TaskError, TaskOutcome};

pub struct Noop;

/// The parameters of a kind that takes none: an empty (or absent) `params` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[async_trait]
impl Task for Noop {
    type Params = NoParams;

    fn kind(&self) -> &'static str {
        "noop"
    }

    async fn run(&self, _ctx: &TaskContext, _params: NoParams) -> Result<TaskOutcome, TaskError> {
        Ok(TaskOutcome::Success(serde_json::Value::Null))
    }
}
