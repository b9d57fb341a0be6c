//! DAG runs: created once per DAG and logical date, reopened to resume or force, closed when done.

use chrono::{DateTime, Utc};

use super::records::{RUN_COLUMNS, RunRecord};
use super::{QueryContext, RunStore, StoreError};
use crate::logical_date::LogicalDate;
use crate::state::{RunState, TaskState};

/// A task instance to put back in the queue when a run is reopened.
#[derive(Debug, Clone)]
pub struct TaskReset {
    pub task: String,
    /// The retries the task gets in its fresh budget.
    pub retries: u32,
    /// Reset it whatever its state (force, `--from-task`); otherwise only if it did not succeed.
    pub even_if_done: bool,
}

/// The outcome of asking to reopen a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopen {
    /// This process moved the run to running and applied the resets.
    Reopened,
    /// The run was in none of the expected states (another process got there first).
    NotInExpectedState,
}

/// A run `r` some process drives: started or created within the quiet time ($2), or a task with
/// a live lease (at $3) or activity within it.
const LIVE: &str = "COALESCE(r.started_at, r.created_at) >= $2 \
     OR EXISTS (SELECT 1 FROM task_instances t WHERE t.run_id = r.id AND ( \
         (t.state = 'running' AND t.lease_until >= $3) \
         OR COALESCE(t.ended_at, t.started_at, 0) >= $2))";

/// The start of the quiet window that ends at `now`, in milliseconds.
fn quiet_since(now: DateTime<Utc>, quiet: std::time::Duration) -> i64 {
    now.timestamp_millis() - i64::try_from(quiet.as_millis()).unwrap_or(i64::MAX / 2)
}

impl RunStore {
    /// The run of `dag` at `date`, created (queued, with every task queued) if it does not exist.
    /// Tasks added to the DAG since the run was created are added to it.
    pub async fn ensure_run(
        &self,
        dag: &str,
        date: &LogicalDate,
        trigger: &str,
        tasks: &[(String, u32)],
        now: DateTime<Utc>,
    ) -> Result<RunRecord, StoreError> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .doing("starting to create a run")?;
        let run = ensure_run_in(&mut tx, dag, date, trigger, tasks, now).await?;
        tx.commit().await.doing("committing a new run")?;
        Ok(run)
    }

    /// Moves the run to running if it is in one of `from`, and in the same transaction puts the
    /// given tasks back in the queue with a fresh retry budget.
    pub async fn reopen_run(
        &self,
        run_id: i64,
        from: &[RunState],
        resets: &[TaskReset],
        now: DateTime<Utc>,
    ) -> Result<Reopen, StoreError> {
        let from_list = from
            .iter()
            .map(|state| format!("'{}'", state.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut tx = self
            .pool()
            .begin()
            .await
            .doing("starting to reopen a run")?;
        let moved = sqlx::query(&format!(
            "UPDATE dag_runs SET state = 'running', started_at = $2, ended_at = NULL \
             WHERE id = $1 AND state IN ({from_list})"
        ))
        .bind(run_id)
        .bind(now.timestamp_millis())
        .execute(&mut *tx)
        .await
        .doing("reopening a run")?
        .rows_affected();
        if moved == 0 {
            return Ok(Reopen::NotInExpectedState);
        }
        for reset in resets {
            let condition = if reset.even_if_done {
                "state <> 'running'"
            } else {
                "state IN ('failed', 'upstream_failed')"
            };
            sqlx::query(&format!(
                "UPDATE task_instances SET state = 'queued', max_tries = try_number + $3, \
                 next_try_at = NULL, owner = NULL, lease_until = NULL, error = NULL, started_at = NULL, \
                 ended_at = NULL \
                 WHERE run_id = $1 AND task = $2 AND {condition}"
            ))
            .bind(run_id)
            .bind(&reset.task)
            .bind(i64::from(reset.retries) + 1)
            .execute(&mut *tx)
            .await
            .doing("queueing a task again")?;
        }
        tx.commit().await.doing("committing a reopened run")?;
        Ok(Reopen::Reopened)
    }

    /// Closes a running run with its final state.
    pub async fn finish_run(
        &self,
        run_id: i64,
        state: RunState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_run_with_messages(run_id, state, &[], now).await
    }

    /// Puts a run this process was driving back in the queue after a clean shutdown: its running
    /// attempts owned by `owner` end as interrupted, without using up a retry.
    pub async fn interrupt_run(
        &self,
        run_id: i64,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = now.timestamp_millis();
        let mut tx = self
            .pool()
            .begin()
            .await
            .doing("starting to interrupt a run")?;
        sqlx::query(
            "UPDATE task_attempts SET outcome = 'interrupted', ended_at = $3, \
             error = 'interrupted by a shutdown' \
             WHERE run_id = $1 AND owner = $2 AND outcome = 'running'",
        )
        .bind(run_id)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await
        .doing("ending interrupted attempts")?;
        sqlx::query(
            "UPDATE task_instances SET state = 'queued', max_tries = max_tries + 1, owner = NULL, \
             lease_until = NULL WHERE run_id = $1 AND owner = $2 AND state = 'running'",
        )
        .bind(run_id)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .doing("queueing interrupted tasks again")?;
        sqlx::query("UPDATE dag_runs SET state = 'queued' WHERE id = $1 AND state = 'running'")
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .doing("queueing an interrupted run")?;
        tx.commit().await.doing("committing an interrupted run")?;
        Ok(())
    }

    pub async fn find_run(
        &self,
        dag: &str,
        date: &LogicalDate,
    ) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag = $1 AND logical_date = $2"
        ))
        .bind(dag)
        .bind(date.to_string())
        .fetch_optional(self.pool())
        .await
        .doing("finding a run")?;
        row.as_ref().map(RunRecord::from_row).transpose()
    }

    pub async fn run_by_id(&self, run_id: i64) -> Result<RunRecord, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE id = $1"))
            .bind(run_id)
            .fetch_one(self.pool())
            .await
            .doing("reading a run")?;
        RunRecord::from_row(&row)
    }

    /// The newest runs first, of one DAG or of all.
    pub async fn list_runs(
        &self,
        dag: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows =
            match dag {
                Some(dag) => {
                    sqlx::query(&format!(
                        "SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag = $1 \
                     ORDER BY logical_date DESC, id DESC LIMIT $2"
                    ))
                    .bind(dag)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await
                }
                None => sqlx::query(&format!(
                    "SELECT {RUN_COLUMNS} FROM dag_runs ORDER BY created_at DESC, id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(self.pool())
                .await,
            }
            .doing("listing runs")?;
        rows.iter().map(RunRecord::from_row).collect()
    }

    /// Runs of `dag` that are not finished: interrupted, or left running by a process that died.
    pub async fn unfinished_runs(&self, dag: &str) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag = $1 AND state IN ('{}', '{}') \
             ORDER BY logical_date",
            RunState::Queued.as_str(),
            RunState::Running.as_str()
        ))
        .bind(dag)
        .fetch_all(self.pool())
        .await
        .doing("listing unfinished runs")?;
        rows.iter().map(RunRecord::from_row).collect()
    }

    /// Unfinished runs of `dag` that nobody seems to drive: no task holds a live lease and nothing
    /// about the run changed for `quiet`. A daemon's periodic sweep drives these (a killed
    /// scheduler's claimed fires, a killed `churnflow run`); driving a run another process also
    /// drives is safe, since every attempt is claimed, so a false positive costs only polling.
    pub async fn abandoned_runs(
        &self,
        dag: &str,
        now: DateTime<Utc>,
        quiet: std::time::Duration,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM dag_runs r WHERE r.dag = $1 \
             AND r.state IN ('{queued}', '{running}') AND NOT ({LIVE}) ORDER BY r.logical_date",
            queued = RunState::Queued.as_str(),
            running = RunState::Running.as_str(),
        ))
        .bind(dag)
        .bind(quiet_since(now, quiet))
        .bind(now.timestamp_millis())
        .fetch_all(self.pool())
        .await
        .doing("looking for abandoned runs")?;
        rows.iter().map(RunRecord::from_row).collect()
    }

    /// How many runs of `dag` are running and driven by a live process (the complement of
    /// [`RunStore::abandoned_runs`] among running runs): the sweep starts abandoned runs only
    /// while these leave room under the DAG's `max_active_runs`, whichever daemon drives them.
    pub async fn live_running_runs(
        &self,
        dag: &str,
        now: DateTime<Utc>,
        quiet: std::time::Duration,
    ) -> Result<usize, StoreError> {
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM dag_runs r WHERE r.dag = $1 AND r.state = '{running}' \
             AND ({LIVE})",
            running = RunState::Running.as_str(),
        ))
        .bind(dag)
        .bind(quiet_since(now, quiet))
        .bind(now.timestamp_millis())
        .fetch_one(self.pool())
        .await
        .doing("counting live runs")?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// How many task instances of the run are in `state`.
    pub async fn count_tasks_in(&self, run_id: i64, state: TaskState) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM task_instances WHERE run_id = $1 AND state = $2")
            .bind(run_id)
            .bind(state.as_str())
            .fetch_one(self.pool())
            .await
            .doing("counting task instances")
    }
}

/// [`RunStore::ensure_run`] inside a transaction the caller commits, so that creating runs can be
/// part of a larger atomic step (the scheduler's claim of fire times).
pub(crate) async fn ensure_run_in(
    tx: &mut sqlx::AnyConnection,
    dag: &str,
    date: &LogicalDate,
    trigger: &str,
    tasks: &[(String, u32)],
    now: DateTime<Utc>,
) -> Result<RunRecord, StoreError> {
    sqlx::query(
        "INSERT INTO dag_runs (dag, logical_date, state, run_trigger, created_at) \
         VALUES ($1, $2, 'queued', $3, $4) ON CONFLICT (dag, logical_date) DO NOTHING",
    )
    .bind(dag)
    .bind(date.to_string())
    .bind(trigger)
    .bind(now.timestamp_millis())
    .execute(&mut *tx)
    .await
    .doing("creating a run")?;
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag = $1 AND logical_date = $2"
    ))
    .bind(dag)
    .bind(date.to_string())
    .fetch_one(&mut *tx)
    .await
    .doing("reading the run just created")?;
    let run = RunRecord::from_row(&row)?;
    for (task, retries) in tasks {
        sqlx::query(
            "INSERT INTO task_instances (run_id, task, state, try_number, max_tries) \
             VALUES ($1, $2, 'queued', 0, $3) ON CONFLICT (run_id, task) DO NOTHING",
        )
        .bind(run.id)
        .bind(task)
        .bind(i64::from(*retries) + 1)
        .execute(&mut *tx)
        .await
        .doing("creating task instances")?;
    }
    Ok(run)
}
