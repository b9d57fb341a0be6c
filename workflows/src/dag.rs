//! The validated DAG model that the executor and scheduler run.
//!
//! Values of these types only come out of [`crate::config`], which has checked them: every
//! dependency names a task of the same DAG, there is no cycle, every kind is registered and its
//! parameters deserialize. Code past that point never re-checks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::retry::RetryPolicy;
use crate::schedule::{Catchup, Schedule};

/// Every DAG of one dags.toml, by name.
#[derive(Debug, Clone, Default)]
pub struct DagSet {
    pub dags: BTreeMap<String, Dag>,
}

impl DagSet {
    pub fn get(&self, name: &str) -> Option<&Dag> {
        self.dags.get(name)
    }
}

#[derive(Debug, Clone)]
pub struct Dag {
    pub name: String,
    pub description: Option<String>,
    /// None for a DAG that only runs when asked to.
    pub schedule: Option<Schedule>,
    pub catchup: Catchup,
    pub max_active_runs: usize,
    pub on_failure_email: Vec<String>,
    /// In a topological order: every task comes after all of its upstream tasks.
    pub tasks: Vec<TaskSpec>,
}

#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub name: String,
    pub kind: String,
    /// Checked against the kind's parameter type when the DAG was loaded.
    pub params: toml::Value,
    pub upstream: Vec<String>,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
}

impl Dag {
    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|task| task.name == name)
    }

    /// Each task's name with its retries: the budget a new run's task instances start with.
    pub fn retry_budgets(&self) -> Vec<(String, u32)> {
        self.tasks
            .iter()
            .map(|task| (task.name.clone(), task.retry.retries))
            .collect()
    }

    /// The tasks that depend on `name`, directly or through others, `name` excluded.
    pub fn downstream_of(&self, name: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        // Topological order means one forward pass sees every upstream task before its dependants.
        for task in &self.tasks {
            if task
                .upstream
                .iter()
                .any(|up| up == name || found.contains(up))
            {
                found.insert(task.name.clone());
            }
        }
        found
    }
}
