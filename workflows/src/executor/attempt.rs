//! One attempt of one task instance: claim it, run it under its timeout while heartbeats keep the
//! claim alive, and record how it ended. This is all a task instance needs, so it runs the same in
//! the executor's process or in its own (`churnflow task run`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::{Instrument, info, info_span, warn};

use super::{ExecutorError, ExecutorSettings};
use crate::clock::Clock;
use crate::dag::TaskSpec;
use crate::logical_date::LogicalDate;
use crate::state::{AttemptOutcome, TaskState};
use crate::store::{Finish, RunStore};
use crate::task::{TaskContext, TaskError, TaskLog, TaskOutcome, TaskRegistry};

/// What one call of [`run_attempt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// Another process holds the task instance, or it is not due; nothing was run.
    NotClaimed,
    /// The attempt ran and its end is recorded; the task instance is now in this state.
    Finished(TaskState),
    /// This process lost its claim while the attempt ran (its lease lapsed); nothing was recorded.
    Lost,
}

/// Everything an attempt needs, none of it shared with the scheduler.
#[derive(Clone)]
pub struct AttemptEnv {
    pub store: RunStore,
    pub registry: Arc<TaskRegistry>,
    pub clock: Arc<dyn Clock>,
    pub settings: ExecutorSettings,
    pub owner: String,
}

/// Where a task instance keeps its files: `<root>/<dag>/<logical date>/<task>`.
pub fn artifacts_dir(root: &Path, dag: &str, date: &LogicalDate, task: &str) -> PathBuf {
    root.join(dag).join(date.to_string()).join(task)
}

pub async fn run_attempt(
    env: &AttemptEnv,
    dag: &str,
    run_id: i64,
    logical_date: LogicalDate,
    spec: &TaskSpec,
) -> Result<AttemptResult, ExecutorError> {
    let now = env.clock.now();
    let lease_until = now + env.settings.lease;
    let Some((attempt, max_tries)) = env
        .store
        .claim(run_id, &spec.name, &env.owner, now, lease_until)
        .await?
    else {
        return Ok(AttemptResult::NotClaimed);
    };
    let span = info_span!("task", dag, logical_date = %logical_date, task = %spec.name, attempt);
    async move {
        info!(kind = %spec.kind, "task started");
        let started = Instant::now();
        let log = TaskLog::default();
        let outcome = execute(env, dag, run_id, logical_date, spec, attempt, &log).await?;
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => {
                warn!("lost the claim on this task instance; another process takes it over");
                return Ok(AttemptResult::Lost);
            }
        };
        let finish = finish_for(env, spec, attempt, max_tries, outcome, log.text());
        let state = finish.state;
        let held = env
            .store
            .finish_attempt(
                run_id,
                &spec.name,
                attempt,
                &env.owner,
                &finish,
                env.clock.now(),
            )
            .await?;
        if !held {
            warn!("lost the claim before the result was saved; another process takes it over");
            return Ok(AttemptResult::Lost);
        }
        let seconds = started.elapsed().as_secs_f64();
        let labels = [
            ("dag", dag.to_string()),
            ("task", spec.name.clone()),
            ("outcome", finish.outcome.as_str().to_string()),
        ];
        metrics::counter!("churnflow_task_attempts_total", &labels).increment(1);
        metrics::histogram!("churnflow_task_duration_seconds", &labels[..2]).record(seconds);
        match &finish.error {
            Some(error) => {
                warn!(state = %state, seconds, error = %first_line(error), "task finished")
            }
            None => info!(state = %state, seconds, "task finished"),
        }
        Ok(AttemptResult::Finished(state))
    }
    .instrument(span)
    .await
}

/// How the task's own code ended, or that it timed out.
enum Ended {
    Returned(Result<TaskOutcome, TaskError>),
    TimedOut(std::time::Duration),
}

/// Runs the task with heartbeats. None when the claim was lost while it ran.
async fn execute(
    env: &AttemptEnv,
    dag: &str,
    run_id: i64,
    logical_date: LogicalDate,
    spec: &TaskSpec,
    attempt: i64,
    log: &TaskLog,
) -> Result<Option<Ended>, ExecutorError> {
    let artifacts_dir = artifacts_dir(&env.settings.artifacts_root, dag, &logical_date, &spec.name);
    if let Err(err) = tokio::fs::create_dir_all(&artifacts_dir).await {
        return Ok(Some(Ended::Returned(Err(TaskError::new(format!(
            "cannot create the artifacts directory {}: {err}",
            artifacts_dir.display()
        ))))));
    }
    let ctx = TaskContext {
        dag: dag.to_string(),
        task: spec.name.clone(),
        run_id,
        logical_date,
        attempt,
        upstream: env.store.outputs(run_id, &spec.upstream).await?,
        artifacts_dir,
        log: log.clone(),
    };
    let work = async {
        let run = env.registry.run(&spec.kind, &ctx, &spec.params);
        match spec.timeout {
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(result) => Ended::Returned(result),
                Err(_) => Ended::TimedOut(limit),
            },
            None => Ended::Returned(run.await),
        }
    };
    let heartbeats = async {
        let mut beat = tokio::time::interval(env.settings.heartbeat_every());
        beat.tick().await;
        loop {
            beat.tick().await;
            let lease_until = env.clock.now() + env.settings.lease;
            match env
                .store
                .heartbeat(
                    run_id,
                    &spec.name,
                    attempt,
                    &env.owner,
                    lease_until,
                    &log.text(),
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                // A missed beat is not yet a lost claim; the lease covers a few of them.
                Err(err) => warn!(error = %err, "heartbeat failed"),
            }
        }
    };
    tokio::select! {
        ended = work => Ok(Some(ended)),
        () = heartbeats => Ok(None),
    }
}

fn finish_for(
    env: &AttemptEnv,
    spec: &TaskSpec,
    attempt: i64,
    max_tries: i64,
    ended: Ended,
    log: String,
) -> Finish {
    let mut permanent = false;
    let (outcome, error) = match ended {
        Ended::Returned(Ok(TaskOutcome::Success(output))) => {
            return Finish {
                outcome: AttemptOutcome::Success,
                state: TaskState::Success,
                next_try_at: None,
                output: Some(output),
                error: None,
                log,
            };
        }
        Ended::Returned(Ok(TaskOutcome::Skipped(reason))) => {
            return Finish {
                outcome: AttemptOutcome::Skipped,
                state: TaskState::Skipped,
                next_try_at: None,
                output: Some(serde_json::json!({ "skipped": reason })),
                error: None,
                log,
            };
        }
        Ended::Returned(Err(err)) => {
            permanent = err.is_permanent();
            let message = crate::task::bounded_for_storage(&err.message).into_owned();
            (AttemptOutcome::Failed, message)
        }
        Ended::TimedOut(limit) => (
            AttemptOutcome::TimedOut,
            format!(
                "timed out after {} and was cancelled",
                humantime::format_duration(limit)
            ),
        ),
    };
    let retries_left = max_tries - attempt;
    if permanent && retries_left > 0 {
        info!(
            retries_left,
            "attempt failed in a way no retry can help; not retrying"
        );
        return Finish {
            outcome,
            state: TaskState::Failed,
            next_try_at: None,
            output: None,
            error: Some(format!("{error}\n(not retried: a retry cannot help)")),
            log,
        };
    }
    let (state, next_try_at) = if retries_left > 0 {
        let retry_number = (i64::from(spec.retry.retries) + 1 - retries_left).max(1);
        let delay = spec
            .retry
            .delay(u32::try_from(retry_number).unwrap_or(u32::MAX));
        info!(
            retry_in_seconds = delay.as_secs_f64(),
            retries_left, "attempt failed; will retry"
        );
        (TaskState::Retrying, Some(env.clock.now() + delay))
    } else {
        (TaskState::Failed, None)
    };
    Finish {
        outcome,
        state,
        next_try_at,
        output: None,
        error: Some(error),
        log,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
