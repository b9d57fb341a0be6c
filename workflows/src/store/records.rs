//! Rows of the run store as plain values.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{QueryContext, StoreError};
use crate::logical_date::LogicalDate;
use crate::state::{RunState, TaskState};

pub(crate) fn millis_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub dag: String,
    pub logical_date: LogicalDate,
    pub state: RunState,
    pub trigger: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

pub(crate) const RUN_COLUMNS: &str =
    "id, dag, logical_date, state, run_trigger, created_at, started_at, ended_at";

impl RunRecord {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let date: String = row.try_get("logical_date").doing("reading a run")?;
        let state: String = row.try_get("state").doing("reading a run")?;
        Ok(Self {
            id: row.try_get("id").doing("reading a run")?,
            dag: row.try_get("dag").doing("reading a run")?,
            logical_date: date
                .parse()
                .map_err(|err| StoreError::Corrupt(format!("{err}")))?,
            state: state
                .parse()
                .map_err(|err| StoreError::Corrupt(format!("{err}")))?,
            trigger: row.try_get("run_trigger").doing("reading a run")?,
            created_at: millis_to_time(row.try_get("created_at").doing("reading a run")?),
            started_at: row
                .try_get::<Option<i64>, _>("started_at")
                .doing("reading a run")?
                .map(millis_to_time),
            ended_at: row
                .try_get::<Option<i64>, _>("ended_at")
                .doing("reading a run")?
                .map(millis_to_time),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskInstance {
    pub task: String,
    pub state: TaskState,
    pub try_number: i64,
    pub max_tries: i64,
    pub next_try_at: Option<DateTime<Utc>>,
    pub owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub output: Option<serde_json::Value>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

pub(crate) const TASK_COLUMNS: &str = "task, state, try_number, max_tries, next_try_at, owner, \
     lease_until, output, error, started_at, ended_at";

impl TaskInstance {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        const WHAT: &str = "reading a task instance";
        let state: String = row.try_get("state").doing(WHAT)?;
        let output: Option<String> = row.try_get("output").doing(WHAT)?;
        let time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
            Ok(row
                .try_get::<Option<i64>, _>(column)
                .doing(WHAT)?
                .map(millis_to_time))
        };
        Ok(Self {
            task: row.try_get("task").doing(WHAT)?,
            state: state
                .parse()
                .map_err(|err| StoreError::Corrupt(format!("{err}")))?,
            try_number: row.try_get("try_number").doing(WHAT)?,
            max_tries: row.try_get("max_tries").doing(WHAT)?,
            next_try_at: time("next_try_at")?,
            owner: row.try_get("owner").doing(WHAT)?,
            lease_until: time("lease_until")?,
            output: output
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|err| StoreError::Corrupt(format!("task output is not JSON: {err}")))?,
            error: row.try_get("error").doing(WHAT)?,
            started_at: time("started_at")?,
            ended_at: time("ended_at")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub task: String,
    pub attempt: i64,
    pub owner: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: String,
    pub error: Option<String>,
    pub log: String,
}

impl AttemptRecord {
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.ended_at.map(|end| end - self.started_at)
    }

    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        const WHAT: &str = "reading an attempt";
        Ok(Self {
            task: row.try_get("task").doing(WHAT)?,
            attempt: row.try_get("attempt").doing(WHAT)?,
            owner: row.try_get("owner").doing(WHAT)?,
            started_at: millis_to_time(row.try_get("started_at").doing(WHAT)?),
            ended_at: row
                .try_get::<Option<i64>, _>("ended_at")
                .doing(WHAT)?
                .map(millis_to_time),
            outcome: row.try_get("outcome").doing(WHAT)?,
            error: row.try_get("error").doing(WHAT)?,
            log: row.try_get("log").doing(WHAT)?,
        })
    }
}
