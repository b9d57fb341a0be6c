//! Task instances and attempts: claim, heartbeat, finish, and recovery of lost claims.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::records::{AttemptRecord, TASK_COLUMNS, TaskInstance};
use super::{QueryContext, RunStore, StoreError};
use crate::state::{AttemptOutcome, TaskState};

/// A process that loses the same task instance this many times gives up on it: the task itself is
/// probably what kills its process (out of memory, say).
const MAX_LOST_ATTEMPTS: i64 = 3;

/// How an attempt ended, as the store records it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub outcome: AttemptOutcome,
    pub state: TaskState,
    pub next_try_at: Option<DateTime<Utc>>,
    pub output: Option<serde_json::Value>,
    pub error: Option<String>,
    pub log: String,
}

impl RunStore {
    pub async fn task_instances(&self, run_id: i64) -> Result<Vec<TaskInstance>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM task_instances WHERE run_id = $1"
        ))
        .bind(run_id)
        .fetch_all(self.pool())
        .await
        .doing("reading task instances")?;
        rows.iter().map(TaskInstance::from_row).collect()
    }

    /// One task instance of a run as it is now.
    pub async fn task_instance(
        &self,
        run_id: i64,
        task: &str,
    ) -> Result<Option<TaskInstance>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM task_instances WHERE run_id = $1 AND task = $2"
        ))
        .bind(run_id)
        .bind(task)
        .fetch_optional(self.pool())
        .await
        .doing("reading a task instance")?;
        row.as_ref().map(TaskInstance::from_row).transpose()
    }

    /// Claims a queued or due task instance for `owner` and opens its attempt. Returns the attempt
    /// number and the task's `max_tries`, or None when it is not claimable (another process has
    /// it, or it is not due).
    pub async fn claim(
        &self,
        run_id: i64,
        task: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let now = now.timestamp_millis();
        let mut tx = self.pool().begin().await.doing("starting a claim")?;
        let claimed: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE task_instances SET state = 'running', try_number = try_number + 1, \
             owner = $3, lease_until = $4, started_at = $5, ended_at = NULL, next_try_at = NULL \
             WHERE run_id = $1 AND task = $2 AND try_number < max_tries \
             AND (state = 'queued' OR (state = 'retrying' AND next_try_at <= $5)) \
             RETURNING try_number, max_tries",
        )
        .bind(run_id)
        .bind(task)
        .bind(owner)
        .bind(lease_until.timestamp_millis())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .doing("claiming a task instance")?;
        let Some((attempt, max_tries)) = claimed else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO task_attempts (run_id, task, attempt, owner, started_at, outcome) \
             VALUES ($1, $2, $3, $4, $5, 'running')",
        )
        .bind(run_id)
        .bind(task)
        .bind(attempt)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await
        .doing("opening an attempt")?;
        tx.commit().await.doing("committing a claim")?;
        Ok(Some((attempt, max_tries)))
    }

    /// Extends the lease of a running attempt and saves its log so far. False when `owner` no
    /// longer holds the task (its lease lapsed and another process took it over).
    pub async fn heartbeat(
        &self,
        run_id: i64,
        task: &str,
        attempt: i64,
        owner: &str,
        lease_until: DateTime<Utc>,
        log: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.doing("starting a heartbeat")?;
        let held = sqlx::query(
            "UPDATE task_instances SET lease_until = $4 \
             WHERE run_id = $1 AND task = $2 AND owner = $3 AND state = 'running'",
        )
        .bind(run_id)
        .bind(task)
        .bind(owner)
        .bind(lease_until.timestamp_millis())
        .execute(&mut *tx)
        .await
        .doing("extending a lease")?
        .rows_affected()
            == 1;
        if held {
            sqlx::query(
                "UPDATE task_attempts SET log = $4 WHERE run_id = $1 AND task = $2 AND attempt = $3",
            )
            .bind(run_id)
            .bind(task)
            .bind(attempt)
            .bind(log)
            .execute(&mut *tx)
            .await
            .doing("saving an attempt's log")?;
        }
        tx.commit().await.doing("committing a heartbeat")?;
        Ok(held)
    }

    /// Records the end of an attempt, if `owner` still holds the task instance. Returns false when
    /// it does not, in which case nothing is written: the process that took over owns the result.
    pub async fn finish_attempt(
        &self,
        run_id: i64,
        task: &str,
        attempt: i64,
        owner: &str,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = now.timestamp_millis();
        let output = finish.output.as_ref().map(serde_json::Value::to_string);
        let mut tx = self
            .pool()
            .begin()
            .await
            .doing("starting to finish an attempt")?;
        let held = sqlx::query(
            "UPDATE task_instances SET state = $5, output = $6, error = $7, next_try_at = $8, \
             ended_at = $9, owner = NULL, lease_until = NULL \
             WHERE run_id = $1 AND task = $2 AND try_number = $3 AND owner = $4 AND state = 'running'",
        )
        .bind(run_id)
        .bind(task)
        .bind(attempt)
        .bind(owner)
        .bind(finish.state.as_str())
        .bind(output)
        .bind(finish.error.clone())
        .bind(finish.next_try_at.map(|at| at.timestamp_millis()))
        .bind(now)
        .execute(&mut *tx)
        .await
        .doing("finishing a task instance")?
        .rows_affected()
            == 1;
        if !held {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE task_attempts SET ended_at = $4, outcome = $5, error = $6, log = $7 \
             WHERE run_id = $1 AND task = $2 AND attempt = $3",
        )
        .bind(run_id)
        .bind(task)
        .bind(attempt)
        .bind(now)
        .bind(finish.outcome.as_str())
        .bind(finish.error.clone())
        .bind(&finish.log)
        .execute(&mut *tx)
        .await
        .doing("closing an attempt")?;
        tx.commit().await.doing("committing a finished attempt")?;
        Ok(true)
    }

    /// Finds running task instances whose lease lapsed (their process died or hung) and queues
    /// them for another attempt. A lost attempt does not use up a retry, up to
    /// [`MAX_LOST_ATTEMPTS`] losses. Returns the names of the tasks recovered.
    pub async fn recover_lost(
        &self,
        run_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let now_ms = now.timestamp_millis();
        let rows = sqlx::query(
            "SELECT task, try_number, owner FROM task_instances \
             WHERE run_id = $1 AND state = 'running' AND lease_until < $2",
        )
        .bind(run_id)
        .bind(now_ms)
        .fetch_all(self.pool())
        .await
        .doing("looking for lost task instances")?;
        let mut recovered = Vec::new();
        for row in rows {
            let task: String = row.try_get("task").doing("reading a lost task")?;
            let attempt: i64 = row.try_get("try_number").doing("reading a lost task")?;
            let owner: Option<String> = row.try_get("owner").doing("reading a lost task")?;
            let lost_before: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM task_attempts WHERE run_id = $1 AND task = $2 AND outcome = 'lost'",
            )
            .bind(run_id)
            .bind(&task)
            .fetch_one(self.pool())
            .await
            .doing("counting lost attempts")?;
            let give_up = lost_before + 1 >= MAX_LOST_ATTEMPTS;
            let error = if give_up {
                format!(
                    "attempt {attempt} lost: its process stopped sending heartbeats, \
                     {MAX_LOST_ATTEMPTS} times in all; giving up"
                )
            } else {
                format!("attempt {attempt} lost: its process stopped sending heartbeats")
            };
            let (state, extra_try) = if give_up {
                ("failed", 0)
            } else {
                ("retrying", 1)
            };
            let mut tx = self.pool().begin().await.doing("starting a recovery")?;
            let taken = sqlx::query(
                "UPDATE task_instances SET state = $5, max_tries = max_tries + $6, next_try_at = $4, \
                 owner = NULL, lease_until = NULL, error = $7, ended_at = $4 \
                 WHERE run_id = $1 AND task = $2 AND try_number = $3 AND state = 'running' \
                 AND lease_until < $4",
            )
            .bind(run_id)
            .bind(&task)
            .bind(attempt)
            .bind(now_ms)
            .bind(state)
            .bind(extra_try)
            .bind(&error)
            .execute(&mut *tx)
            .await
            .doing("recovering a lost task instance")?
            .rows_affected()
                == 1;
            if taken {
                sqlx::query(
                    "UPDATE task_attempts SET outcome = 'lost', ended_at = $4, error = $5 \
                     WHERE run_id = $1 AND task = $2 AND attempt = $3",
                )
                .bind(run_id)
                .bind(&task)
                .bind(attempt)
                .bind(now_ms)
                .bind(&error)
                .execute(&mut *tx)
                .await
                .doing("closing a lost attempt")?;
                tracing::warn!(
                    task,
                    attempt,
                    owner = owner.as_deref().unwrap_or("?"),
                    "{error}"
                );
                recovered.push(task);
            }
            tx.commit().await.doing("committing a recovery")?;
        }
        Ok(recovered)
    }

    /// Marks waiting task instances as upstream-failed.
    pub async fn mark_upstream_failed(
        &self,
        run_id: i64,
        tasks: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for task in tasks {
            sqlx::query(
                "UPDATE task_instances SET state = 'upstream_failed', ended_at = $3 \
                 WHERE run_id = $1 AND task = $2 AND state IN ('queued', 'retrying')",
            )
            .bind(run_id)
            .bind(task)
            .bind(now.timestamp_millis())
            .execute(self.pool())
            .await
            .doing("marking a task upstream-failed")?;
        }
        Ok(())
    }

    /// The outputs of the given tasks of a run, for those that have one.
    pub async fn outputs(
        &self,
        run_id: i64,
        tasks: &[String],
    ) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        if tasks.is_empty() {
            return Ok(BTreeMap::new());
        }
        let placeholders: Vec<String> = (2..tasks.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT task, output FROM task_instances WHERE run_id = $1 AND output IS NOT NULL \
             AND task IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(run_id);
        for task in tasks {
            query = query.bind(task);
        }
        let rows = query
            .fetch_all(self.pool())
            .await
            .doing("reading upstream outputs")?;
        rows.iter()
            .map(|row| {
                let task: String = row.try_get("task").doing("reading an output")?;
                let text: String = row.try_get("output").doing("reading an output")?;
                let value = serde_json::from_str(&text).map_err(|err| {
                    StoreError::Corrupt(format!("output of task `{task}` is not JSON: {err}"))
                })?;
                Ok((task, value))
            })
            .collect()
    }

    /// Every attempt of a run, or of one of its tasks, in order.
    pub async fn attempts(
        &self,
        run_id: i64,
        task: Option<&str>,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let columns = "task, attempt, owner, started_at, ended_at, outcome, error, log";
        let rows = match task {
            Some(task) => {
                sqlx::query(&format!(
                    "SELECT {columns} FROM task_attempts WHERE run_id = $1 AND task = $2 ORDER BY attempt"
                ))
                .bind(run_id)
                .bind(task)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {columns} FROM task_attempts WHERE run_id = $1 ORDER BY started_at, task, attempt"
                ))
                .bind(run_id)
                .fetch_all(self.pool())
                .await
            }
        }
        .doing("reading attempts")?;
        rows.iter().map(AttemptRecord::from_row).collect()
    }
}
