//! Runs one DAG run: creates or reopens it, starts each task once its upstream tasks are done,
//! runs independent tasks at once up to the pool size, marks what lies below a failure as
//! upstream-failed, and closes the run. Several processes may drive the same run at once; the run
//! store's claims make sure each attempt runs exactly once.
//!
//! It never runs task code on its own loop: attempts go through a [`Launcher`], and CPU-heavy task
//! kinds move their work off the async threads themselves.

pub mod attempt;
pub mod launcher;
mod plan;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

pub use attempt::{AttemptEnv, AttemptResult, artifacts_dir, run_attempt};
pub use launcher::{InProcessLauncher, Launcher, TaskJob};

use crate::clock::Clock;
use crate::dag::Dag;
use crate::logical_date::LogicalDate;
use crate::state::{RunState, TaskState};
use crate::store::{OutboxMessage, Reopen, RunRecord, RunStore, StoreError, TaskInstance};

#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// How many task instances this process runs at once.
    pub pool_size: usize,
    /// How long a claim holds without a heartbeat; a killed process's tasks are retried after it.
    pub lease: Duration,
    /// How often the executor looks for progress made by other processes.
    pub poll: Duration,
    /// Where task instances keep their files.
    pub artifacts_root: PathBuf,
}

impl ExecutorSettings {
    pub fn heartbeat_every(&self) -> Duration {
        self.lease / 3
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dag `{dag}` has no task `{task}`")]
    UnknownTask { dag: String, task: String },
    #[error("launching task `{task}` failed: {reason}")]
    Launch { task: String, reason: String },
}

/// How a run was asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run every task again even if the run succeeded.
    pub force: bool,
    /// Run this task and everything downstream of it again.
    pub from_task: Option<String>,
    /// Who asked: `manual`, `scheduled`, `backfill`.
    pub trigger: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            force: false,
            from_task: None,
            trigger: "manual".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// The run finished in this state.
    Finished(RunState),
    /// It had succeeded before and nothing asked to run it again.
    AlreadySucceeded,
    /// A shutdown stopped it; it is queued to resume.
    Interrupted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunStatus::Finished(state) => write!(f, "{state}"),
            RunStatus::AlreadySucceeded => f.write_str("already_succeeded"),
            RunStatus::Interrupted => f.write_str("interrupted"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub status: RunStatus,
    pub run: RunRecord,
    pub tasks: Vec<TaskInstance>,
}

impl RunSummary {
    pub fn failed_tasks(&self) -> impl Iterator<Item = &TaskInstance> {
        self.tasks.iter().filter(|ti| ti.state == TaskState::Failed)
    }
}

/// The messages (alerts) to queue with a run's outcome, in the same transaction as it: the
/// binary composes its failure emails here, so a run that failed always has its alert queued.
pub trait RunMessages: Send + Sync {
    fn messages(&self, dag: &Dag, summary: &RunSummary) -> Vec<OutboxMessage>;
}

pub struct Executor {
    store: RunStore,
    launcher: Arc<dyn Launcher>,
    clock: Arc<dyn Clock>,
    settings: ExecutorSettings,
    owner: String,
    messages: Option<Arc<dyn RunMessages>>,
}

/// The run's figures for the metrics registry (exported by the daemon when asked): runs by DAG and
/// end state, their durations, and the time of the last success, which an alert rule compares
/// with now to catch a scheduler that stopped.
fn record_run_metrics(dag: &str, status: RunStatus, seconds: f64) {
    let state = match status {
        RunStatus::Finished(state) => state.as_str(),
        RunStatus::AlreadySucceeded => return,
        RunStatus::Interrupted => "interrupted",
    };
    let labels = [("dag", dag.to_string()), ("state", state.to_string())];
    metrics::counter!("churnflow_runs_total", &labels).increment(1);
    metrics::histogram!("churnflow_run_duration_seconds", &labels).record(seconds);
    if status == RunStatus::Finished(RunState::Success) {
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        metrics::gauge!("churnflow_last_success_timestamp_seconds", "dag" => dag.to_string())
            .set(now);
    }
}

/// A name for this process in claims: host, pid and a random part, unique per executor.
pub fn new_owner_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_string());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &nonce[..8])
}

impl Executor {
    pub fn new(
        store: RunStore,
        launcher: Arc<dyn Launcher>,
        clock: Arc<dyn Clock>,
        settings: ExecutorSettings,
    ) -> Self {
        Self {
            store,
            launcher,
            clock,
            settings,
            owner: new_owner_id(),
            messages: None,
        }
    }

    /// Queues what `messages` composes with every run's outcome.
    pub fn with_messages(mut self, messages: Arc<dyn RunMessages>) -> Self {
        self.messages = Some(messages);
        self
    }

    pub fn store(&self) -> &RunStore {
        &self.store
    }

    pub fn settings(&self) -> &ExecutorSettings {
        &self.settings
    }

    /// Runs (or resumes, or joins) the run of `dag` at `date` until it finishes or `cancel` fires.
    pub async fn run(
        &self,
        dag: Arc<Dag>,
        date: LogicalDate,
        options: &RunOptions,
        cancel: &CancellationToken,
    ) -> Result<RunSummary, ExecutorError> {
        let span = info_span!("run", dag = %dag.name, logical_date = %date);
        self.run_inner(dag, date, options, cancel)
            .instrument(span)
            .await
    }

    async fn run_inner(
        &self,
        dag: Arc<Dag>,
        date: LogicalDate,
        options: &RunOptions,
        cancel: &CancellationToken,
    ) -> Result<RunSummary, ExecutorError> {
        if let Some(task) = &options.from_task
            && dag.task(task).is_none()
        {
            return Err(ExecutorError::UnknownTask {
                dag: dag.name.clone(),
                task: task.clone(),
            });
        }
        let retries = dag.retry_budgets();
        let run = self
            .store
            .ensure_run(
                &dag.name,
                &date,
                &options.trigger,
                &retries,
                self.clock.now(),
            )
            .await?;
        if run.state == RunState::Success && !options.force && options.from_task.is_none() {
            info!("run already succeeded; pass --force to run it again");
            return self.summary(RunStatus::AlreadySucceeded, run.id).await;
        }
        let (from, resets) = plan::reopen_plan(&dag, run.state, options);
        if !from.is_empty() {
            let reopened = self
                .store
                .reopen_run(run.id, &from, &resets, self.clock.now())
                .await?;
            if reopened == Reopen::NotInExpectedState {
                info!("another process is driving this run; joining it");
            }
        }
        let started = Instant::now();
        info!(tasks = dag.tasks.len(), "run started");
        let status = self.drive(&dag, &run, cancel).await?;
        let summary = self.summary(status, run.id).await?;
        let seconds = started.elapsed().as_secs_f64();
        record_run_metrics(&dag.name, status, seconds);
        let count = |state: TaskState| summary.tasks.iter().filter(|ti| ti.state == state).count();
        info!(
            status = %summary.status,
            succeeded = count(TaskState::Success),
            failed = count(TaskState::Failed),
            upstream_failed = count(TaskState::UpstreamFailed),
            skipped = count(TaskState::Skipped),
            seconds,
            "run ended"
        );
        Ok(summary)
    }

    async fn summary(&self, status: RunStatus, run_id: i64) -> Result<RunSummary, ExecutorError> {
        Ok(RunSummary {
            status,
            run: self.store.run_by_id(run_id).await?,
            tasks: self.store.task_instances(run_id).await?,
        })
    }

    /// The loop: recover lost claims, block what lies below failures, launch what is ready, wait.
    ///
    /// The picture of the run ([`plan::RunView`]) is kept in memory: a finished attempt re-reads
    /// its own row, and the whole run is read again when the loop wakes without one (progress
    /// made by other processes), no sooner than `poll` or twenty times the last full read's time
    /// after the previous full read, and always before the run is closed. So a pass costs the
    /// same for 10 tasks or 10,000.
    async fn drive(
        &self,
        dag: &Arc<Dag>,
        run: &RunRecord,
        cancel: &CancellationToken,
    ) -> Result<RunStatus, ExecutorError> {
        let mut in_flight: JoinSet<(String, Result<AttemptResult, ExecutorError>)> = JoinSet::new();
        let mut running_here: HashSet<String> = HashSet::new();
        let mut view = plan::RunView::new(dag);
        let mut want_full_read = true;
        let mut next_full_read = Instant::now();
        let mut next_recovery = self.clock.now();
        loop {
            let now = self.clock.now();
            if now >= next_recovery {
                if !self.store.recover_lost(run.id, now).await?.is_empty() {
                    want_full_read = true;
                    next_full_read = Instant::now();
                }
                next_recovery = now + self.settings.heartbeat_every();
            }
            let mut fresh = false;
            if want_full_read && Instant::now() >= next_full_read {
                let started = Instant::now();
                view.replace_all(self.store.task_instances(run.id).await?);
                let took = started.elapsed();
                next_full_read = Instant::now() + (took * 20).max(self.settings.poll);
                want_full_read = false;
                fresh = true;
            }
            let blocked = view.newly_blocked();
            if !blocked.is_empty() {
                for task in &blocked {
                    warn!(task, "upstream failed; not running");
                }
                self.store
                    .mark_upstream_failed(run.id, &blocked, now)
                    .await?;
                want_full_read = true;
                next_full_read = Instant::now();
                continue;
            }
            if in_flight.is_empty() && view.all_terminal() {
                if !fresh {
                    // Close the run on what the store holds, not on what this process last saw.
                    want_full_read = true;
                    next_full_read = Instant::now();
                    continue;
                }
                let state = view.final_state();
                let messages = match &self.messages {
                    Some(compose) => {
                        let summary = RunSummary {
                            status: RunStatus::Finished(state),
                            run: RunRecord {
                                state,
                                ..run.clone()
                            },
                            tasks: view.instances(),
                        };
                        compose.messages(dag, &summary)
                    }
                    None => Vec::new(),
                };
                self.store
                    .finish_run_with_messages(run.id, state, &messages, self.clock.now())
                    .await?;
                return Ok(RunStatus::Finished(state));
            }
            // Tasks launched here still look queued until their attempt ends: ask for enough.
            let free = self.settings.pool_size.saturating_sub(in_flight.len());
            for position in view.ready(now, free + running_here.len()) {
                if in_flight.len() >= self.settings.pool_size {
                    break;
                }
                let task = dag.tasks[position].name.clone();
                if !running_here.insert(task.clone()) {
                    continue;
                }
                let job = TaskJob {
                    dag: dag.clone(),
                    run_id: run.id,
                    logical_date: run.logical_date,
                    task: task.clone(),
                    position,
                    owner: self.owner.clone(),
                };
                let launcher = self.launcher.clone();
                in_flight.spawn(async move { (task, launcher.launch(job).await) });
            }
            let wait = view
                .next_due(now)
                .map(|due| (due - now).to_std().unwrap_or_default())
                .map_or(self.settings.poll, |until_due| {
                    until_due.min(self.settings.poll)
                });
            tokio::select! {
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    let (task, result) = joined.map_err(|err| ExecutorError::Launch {
                        task: "?".to_string(),
                        reason: err.to_string(),
                    })?;
                    running_here.remove(&task);
                    result?;
                    match self.store.task_instance(run.id, &task).await? {
                        Some(instance) => view.update(instance),
                        None => want_full_read = true,
                    }
                }
                () = tokio::time::sleep(wait) => {
                    // Woken without an attempt of ours ending: look at what others did.
                    want_full_read = true;
                }
                () = cancel.cancelled() => {
                    in_flight.abort_all();
                    while in_flight.join_next().await.is_some() {}
                    self.store.interrupt_run(run.id, &self.owner, self.clock.now()).await?;
                    warn!("run interrupted; its running tasks are queued to resume");
                    return Ok(RunStatus::Interrupted);
                }
            }
        }
    }
}
