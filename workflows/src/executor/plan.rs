//! The executor's decisions as pure functions of the DAG and the task states: what to reopen, what
//! is ready, what is blocked by a failure, and how the run ends.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use super::RunOptions;
use crate::dag::{Dag, TaskSpec};
use crate::state::{RunState, TaskState};
use crate::store::{TaskInstance, TaskReset};

/// Which run states to reopen from, and which tasks to queue again.
pub fn reopen_plan(
    dag: &Dag,
    state: RunState,
    options: &RunOptions,
) -> (Vec<RunState>, Vec<TaskReset>) {
    let reset = |spec: &TaskSpec, even_if_done: bool| TaskReset {
        task: spec.name.clone(),
        retries: spec.retry.retries,
        even_if_done,
    };
    let every_state = vec![
        RunState::Queued,
        RunState::Running,
        RunState::Success,
        RunState::Failed,
    ];
    if options.force {
        let resets = dag.tasks.iter().map(|t| reset(t, true)).collect();
        return (every_state, resets);
    }
    if let Some(from_task) = &options.from_task {
        let mut again = dag.downstream_of(from_task);
        again.insert(from_task.clone());
        let resets = dag
            .tasks
            .iter()
            .map(|t| reset(t, again.contains(&t.name)))
            .collect();
        return (every_state, resets);
    }
    let resume = dag.tasks.iter().map(|t| reset(t, false)).collect();
    match state {
        // A running run is being driven by another process (or was, by one that died): join it.
        RunState::Running | RunState::Success => (Vec::new(), Vec::new()),
        RunState::Queued | RunState::Failed => (vec![state], resume),
    }
}

fn state_of(states: &BTreeMap<String, TaskInstance>, task: &str) -> Option<TaskState> {
    states.get(task).map(|ti| ti.state)
}

fn is_waiting(state: Option<TaskState>) -> bool {
    matches!(state, Some(TaskState::Queued | TaskState::Retrying))
}

/// Waiting tasks with a failed or upstream-failed task above them, directly or not.
pub fn newly_blocked(dag: &Dag, states: &BTreeMap<String, TaskInstance>) -> Vec<String> {
    let mut blocked: HashSet<&str> = dag
        .tasks
        .iter()
        .filter(|t| state_of(states, &t.name).is_some_and(TaskState::blocks_downstream))
        .map(|t| t.name.as_str())
        .collect();
    let mut newly = Vec::new();
    // Topological order: a task's upstream tasks have been decided before it is looked at.
    for task in &dag.tasks {
        if is_waiting(state_of(states, &task.name))
            && task.upstream.iter().any(|up| blocked.contains(up.as_str()))
        {
            blocked.insert(&task.name);
            newly.push(task.name.clone());
        }
    }
    newly
}

pub fn all_terminal(dag: &Dag, states: &BTreeMap<String, TaskInstance>) -> bool {
    dag.tasks
        .iter()
        .all(|t| state_of(states, &t.name).is_some_and(TaskState::is_terminal))
}

pub fn final_state(dag: &Dag, states: &BTreeMap<String, TaskInstance>) -> RunState {
    let all_done = dag
        .tasks
        .iter()
        .all(|t| state_of(states, &t.name).is_some_and(TaskState::lets_downstream_run));
    if all_done {
        RunState::Success
    } else {
        RunState::Failed
    }
}

/// Tasks that may start now, in topological order.
pub fn ready(
    dag: &Dag,
    states: &BTreeMap<String, TaskInstance>,
    now: DateTime<Utc>,
) -> Vec<String> {
    dag.tasks
        .iter()
        .filter(|task| {
            let Some(ti) = states.get(&task.name) else {
                return false;
            };
            let due = match ti.state {
                TaskState::Queued => true,
                TaskState::Retrying => ti.next_try_at.is_none_or(|at| at <= now),
                _ => false,
            };
            due && task
                .upstream
                .iter()
                .all(|up| state_of(states, up).is_some_and(TaskState::lets_downstream_run))
        })
        .map(|task| task.name.clone())
        .collect()
}

/// The earliest time a retrying task becomes due, if any waits.
pub fn next_due(
    states: &BTreeMap<String, TaskInstance>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    states
        .values()
        .filter(|ti| ti.state == TaskState::Retrying)
        .filter_map(|ti| ti.next_try_at)
        .filter(|at| *at > now)
        .min()
}
