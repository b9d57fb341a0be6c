//! The seam between deciding what runs and running it. The executor hands each ready task instance
//! to a [`Launcher`]; the in-process one runs the attempt on this runtime, while a launcher that
//! starts `churnflow task run` (the binary's) or a Kubernetes Job runs it elsewhere. Either way the
//! attempt claims, heartbeats and records through the run store alone.

use std::sync::Arc;

use async_trait::async_trait;

use super::ExecutorError;
use super::attempt::{AttemptEnv, AttemptResult, run_attempt};
use crate::dag::{Dag, TaskSpec};
use crate::logical_date::LogicalDate;

/// One task instance to run an attempt of.
#[derive(Debug, Clone)]
pub struct TaskJob {
    pub dag: Arc<Dag>,
    pub run_id: i64,
    pub logical_date: LogicalDate,
    pub task: String,
    /// Where the task sits in `dag.tasks`, so finding its spec does not search the DAG.
    pub position: usize,
    /// The executor's owner id; an attempt run elsewhere claims under it, so a shutdown of the
    /// executor can hand its attempts back.
    pub owner: String,
}

impl TaskJob {
    pub fn spec(&self) -> Result<&TaskSpec, ExecutorError> {
        self.dag
            .tasks
            .get(self.position)
            .filter(|spec| spec.name == self.task)
            .or_else(|| self.dag.task(&self.task))
            .ok_or_else(|| ExecutorError::UnknownTask {
                dag: self.dag.name.clone(),
                task: self.task.clone(),
            })
    }
}

#[async_trait]
pub trait Launcher: Send + Sync {
    /// Runs one attempt of the job's task instance to its end. Dropping the returned future must
    /// stop the attempt (kill its process), which is how timeouts and shutdowns cancel it.
    async fn launch(&self, job: TaskJob) -> Result<AttemptResult, ExecutorError>;
}

/// Runs attempts on this process's runtime.
pub struct InProcessLauncher {
    pub env: AttemptEnv,
}

#[async_trait]
impl Launcher for InProcessLauncher {
    async fn launch(&self, job: TaskJob) -> Result<AttemptResult, ExecutorError> {
        let spec = job.spec()?;
        let env = AttemptEnv {
            owner: job.owner.clone(),
            ..self.env.clone()
        };
        run_attempt(&env, &job.dag.name, job.run_id, job.logical_date, spec).await
    }
}
