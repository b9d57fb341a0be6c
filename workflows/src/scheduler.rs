//! The scheduler daemon: fires each scheduled DAG on its cron in its IANA time zone, catches up on
//! fire times missed while it was down, resumes runs a previous process left unfinished, and stops
//! cleanly on request. Several daemons may share one run store: each fire time is claimed by one
//! of them (with its run, in one transaction), and every lease each sweeps for runs of its DAGs
//! that nobody drives, within the DAG's `max_active_runs` counted across daemons.
//!
//! Fire times come from [`crate::schedule::Schedule`] (croner, in the DAG's zone); the wait until
//! each one is a one-shot job on tokio-cron-scheduler. Its own cron jobs are not used because they
//! keep the UTC offset a zone had when the job was created (its issue 107), which moves a 02:30
//! Europe/Berlin job by an hour after every daylight-saving transition.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, mpsc};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::clock::Clock;
use crate::dag::Dag;
use crate::executor::{Executor, ExecutorError, RunOptions, RunSummary};
use crate::logical_date::LogicalDate;
use crate::schedule::{Fire, due_among};
use crate::store::{FireClaim, StoreError};

/// A fire time at most this old when the scheduler looks is on time; an older one was missed and
/// goes through the DAG's catch-up policy.
const ON_TIME_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// How often a daemon re-reads the watermark after another daemon's claim got there first before
/// it gives up until its next wake-up (each retry sees a newer watermark, so few are ever needed).
const MAX_CLAIM_ATTEMPTS: usize = 16;

/// Told about every run the scheduler started, once it ends (for failure alerts).
#[async_trait]
pub trait RunObserver: Send + Sync {
    async fn run_ended(&self, dag: &Dag, result: &Result<RunSummary, ExecutorError>);
}

/// An observer that only logs.
pub struct LogObserver;

#[async_trait]
impl RunObserver for LogObserver {
    async fn run_ended(&self, dag: &Dag, result: &Result<RunSummary, ExecutorError>) {
        if let Err(err) = result {
            error!(dag = %dag.name, error = %err, "run could not be driven");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the timer (tokio-cron-scheduler) failed: {0}")]
    Timer(#[from] JobSchedulerError),
}

pub struct Scheduler {
    dags: Vec<Arc<Dag>>,
    executor: Arc<Executor>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn RunObserver>,
    slots: BTreeMap<String, Arc<Semaphore>>,
    runs: TaskTracker,
    /// The runs this scheduler is driving, so its sweep does not start them twice.
    driving: Arc<Mutex<HashSet<(String, LogicalDate)>>>,
    shutdown: CancellationToken,
}

impl Scheduler {
    /// A scheduler for the DAGs that have a schedule; the others only run when asked.
    pub fn new(
        dags: impl IntoIterator<Item = Dag>,
        executor: Arc<Executor>,
        clock: Arc<dyn Clock>,
        observer: Arc<dyn RunObserver>,
        shutdown: CancellationToken,
    ) -> Self {
        let dags: Vec<Arc<Dag>> = dags
            .into_iter()
            .filter(|dag| dag.schedule.is_some())
            .map(Arc::new)
            .collect();
        let slots = dags
            .iter()
            .map(|dag| {
                (
                    dag.name.clone(),
                    Arc::new(Semaphore::new(dag.max_active_runs)),
                )
            })
            .collect();
        Self {
            dags,
            executor,
            clock,
            observer,
            slots,
            runs: TaskTracker::new(),
            driving: Arc::default(),
            shutdown,
        }
    }

    pub fn dags(&self) -> &[Arc<Dag>] {
        &self.dags
    }

    /// Starts the runs a previous process left queued or running; they resume where they stopped.
    pub async fn resume_unfinished(
        &self,
        dag: &Arc<Dag>,
    ) -> Result<Vec<LogicalDate>, SchedulerError> {
        let runs = self.executor.store().unfinished_runs(&dag.name).await?;
        let dates: Vec<LogicalDate> = runs.iter().map(|run| run.logical_date).collect();
        for date in &dates {
            info!(dag = %dag.name, logical_date = %date, "resuming an unfinished run");
            self.start_run(dag.clone(), *date, "resumed");
        }
        Ok(dates)
    }

    /// Starts the unfinished runs of `dag` that no process seems to drive (no live lease, nothing
    /// changed for a lease), other than those this scheduler drives: fires claimed by a daemon
    /// that died before running them, runs of a killed `churnflow run`. Runs that live daemons
    /// drive count against the DAG's `max_active_runs`: the sweep starts no more than fit.
    pub async fn resume_abandoned(
        &self,
        dag: &Arc<Dag>,
    ) -> Result<Vec<LogicalDate>, SchedulerError> {
        let lease = self.executor.settings().lease;
        let (store, now) = (self.executor.store(), self.clock.now());
        let runs = store.abandoned_runs(&dag.name, now, lease).await?;
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        // Runs other daemons drive count against the DAG's max_active_runs too: a run queued
        // behind another daemon's full slots looks abandoned, and must wait for those slots.
        let live = store.live_running_runs(&dag.name, now, lease).await?;
        let mut room = dag.max_active_runs.saturating_sub(live);
        let mut resumed = Vec::new();
        for run in runs {
            if self.is_driving(&dag.name, &run.logical_date) {
                continue;
            }
            if room == 0 {
                break;
            }
            room -= 1;
            warn!(dag = %dag.name, logical_date = %run.logical_date, "resuming an abandoned run");
            self.start_run(dag.clone(), run.logical_date, "resumed");
            resumed.push(run.logical_date);
        }
        Ok(resumed)
    }

    fn is_driving(&self, dag: &str, date: &LogicalDate) -> bool {
        self.driving
            .lock()
            .is_ok_and(|driving| driving.contains(&(dag.to_string(), *date)))
    }

    /// Claims and starts every run that is due now for `dag`, by its schedule, watermark and
    /// catch-up policy. The claim moves the watermark only to the last fire time it handles and
    /// creates the runs in the same transaction, so when several daemons share a store each fire
    /// becomes exactly one run. On the very first start there is no watermark: nothing is due and
    /// the watermark is set to now.
    pub async fn fire_due(&self, dag: &Arc<Dag>) -> Result<Vec<Fire>, SchedulerError> {
        let Some(schedule) = &dag.schedule else {
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        let store = self.executor.store();
        let tasks = dag.retry_budgets();
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let Some(watermark) = store.watermark(&dag.name).await? else {
                store.start_watermark(&dag.name, now).await?;
                return Ok(Vec::new());
            };
            let passed = schedule.fires_between(watermark, now);
            let Some(last) = passed.last().map(|fire| fire.at) else {
                return Ok(Vec::new());
            };
            let due = due_among(passed, now, dag.catchup, ON_TIME_GRACE);
            let dates: Vec<LogicalDate> = due.iter().map(|fire| fire.logical_date).collect();
            let claim = FireClaim {
                dag: &dag.name,
                seen: watermark,
                through: last,
                runs: &dates,
                tasks: &tasks,
                trigger: "scheduled",
                now,
            };
            if !store.claim_fires(&claim).await? {
                debug!(dag = %dag.name, "another scheduler claimed these fire times first");
                continue;
            }
            for fire in &due {
                info!(dag = %dag.name, logical_date = %fire.logical_date, at = %fire.at, "firing");
                self.start_run(dag.clone(), fire.logical_date, "scheduled");
            }
            return Ok(due);
        }
        warn!(dag = %dag.name, "gave up claiming fire times after {MAX_CLAIM_ATTEMPTS} tries");
        Ok(Vec::new())
    }

    /// Starts a run in the background, once the DAG has a free run slot.
    fn start_run(&self, dag: Arc<Dag>, date: LogicalDate, trigger: &str) {
        let Some(slots) = self.slots.get(&dag.name).cloned() else {
            return;
        };
        let key = (dag.name.clone(), date);
        if let Ok(mut driving) = self.driving.lock()
            && !driving.insert(key.clone())
        {
            return;
        }
        let driving = self.driving.clone();
        let executor = self.executor.clone();
        let observer = self.observer.clone();
        let cancel = self.shutdown.child_token();
        let options = RunOptions {
            trigger: trigger.to_string(),
            ..RunOptions::default()
        };
        self.runs.spawn(async move {
            let slot = tokio::select! {
                slot = slots.acquire_owned() => Some(slot),
                () = cancel.cancelled() => None,
            };
            if slot.is_some() {
                let result = executor.run(dag.clone(), date, &options, &cancel).await;
                observer.run_ended(&dag, &result).await;
            }
            if let Ok(mut driving) = driving.lock() {
                driving.remove(&key);
            }
        });
    }

    /// Waits until every run started so far has ended.
    pub async fn wait_for_runs(&self) {
        self.runs.close();
        self.runs.wait().await;
        self.runs.reopen();
    }

    /// Runs the daemon until the shutdown token fires, then interrupts running runs (their tasks
    /// are queued to resume, none is left running) and returns.
    pub async fn run(self: Arc<Self>) -> Result<(), SchedulerError> {
        let timer = JobScheduler::new().await?;
        timer.start().await?;
        let mut loops = tokio::task::JoinSet::new();
        for dag in self.dags.clone() {
            let this = self.clone();
            let timer = timer.clone();
            loops.spawn(async move { this.dag_loop(dag, timer).await });
        }
        let this = self.clone();
        loops.spawn(async move { this.sweep_loop().await });
        info!(dags = self.dags.len(), "scheduler started");
        let mut failure = None;
        while let Some(joined) = loops.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    error!(error = %err, "a DAG's schedule loop stopped");
                    failure.get_or_insert(err);
                    self.shutdown.cancel();
                }
                Err(err) => error!(error = %err, "a DAG's schedule loop panicked"),
            }
        }
        self.wait_for_runs().await;
        let mut timer = timer;
        if let Err(err) = timer.shutdown().await {
            warn!(error = %err, "stopping the timer failed");
        }
        info!("scheduler stopped");
        failure.map_or(Ok(()), Err)
    }

    /// Every lease, looks for unfinished runs that no process drives and resumes them, so a run
    /// abandoned by another process (a killed daemon or `churnflow run`) never waits for a
    /// restart.
    async fn sweep_loop(&self) -> Result<(), SchedulerError> {
        let every = self
            .executor
            .settings()
            .lease
            .max(Duration::from_millis(100));
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.shutdown.cancelled() => return Ok(()),
            }
            for dag in &self.dags {
                // A store that is briefly unreachable must not stop the daemon: the next sweep
                // looks again.
                if let Err(err) = self.resume_abandoned(dag).await {
                    warn!(dag = %dag.name, error = %err, "looking for abandoned runs failed");
                }
            }
        }
    }

    async fn dag_loop(&self, dag: Arc<Dag>, timer: JobScheduler) -> Result<(), SchedulerError> {
        let Some(schedule) = dag.schedule.clone() else {
            return Ok(());
        };
        self.resume_unfinished(&dag).await?;
        let (wake_tx, mut wake_rx) = mpsc::channel::<()>(4);
        loop {
            self.fire_due(&dag).await?;
            let Some(next) = schedule.next_after(self.clock.now()) else {
                info!(dag = %dag.name, "the schedule never fires again");
                return Ok(());
            };
            let delay = (next - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
            info!(dag = %dag.name, next = %next, in_seconds = delay.as_secs_f64(), "next fire");
            let wake = wake_tx.clone();
            let job = Job::new_one_shot_async(delay, move |_id, _timer| {
                let wake = wake.clone();
                Box::pin(async move {
                    let _ = wake.send(()).await;
                })
            })?;
            let job_id = timer.add(job).await?;
            tokio::select! {
                _ = wake_rx.recv() => {}
                () = self.shutdown.cancelled() => {
                    let _ = timer.remove(&job_id).await;
                    return Ok(());
                }
            }
            // The timer may wake a little early; wait out the rest so the fire is due when we look.
            let early = (next - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(early).await;
        }
    }
}
