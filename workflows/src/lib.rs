//! The churnflow DAG engine.
//!
//! It reads `dags.toml` into validated [`dag::Dag`]s, runs a DAG run task by task through the
//! [`executor`], keeps every run, task instance and attempt in the [`store`] (SQLite or PostgreSQL),
//! and fires runs on cron schedules in IANA time zones through the [`scheduler`].
//!
//! It must never know what a task does: tasks reach it only through the [`task::Task`] trait and a
//! [`task::TaskRegistry`]. The generic kinds `shell` and `noop` live in [`kinds`].

pub mod clock;
pub mod config;
pub mod dag;
pub mod executor;
pub mod graph;
pub mod kinds;
pub mod logical_date;
pub mod retry;
pub mod schedule;
pub mod scheduler;
pub mod state;
pub mod store;
pub mod task;
#[cfg(feature = "testing")]
pub mod testing;

pub use dag::{Dag, DagSet, TaskSpec};
pub use executor::{Executor, ExecutorSettings, RunOptions, RunSummary};
pub use logical_date::LogicalDate;
pub use store::RunStore;
pub use task::{ErrorKind, Task, TaskContext, TaskError, TaskOutcome, TaskRegistry};
