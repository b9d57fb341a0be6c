//! The executor's decisions: what to reopen (a pure function of the DAG and the run's state), and,
//! on a [`RunView`] of the run kept up to date as attempts end, what is ready, what is blocked by
//! a failure, and how the run ends.

use std::collections::HashMap;

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
    // --from-task is the narrower request: with --force as well, it still names what runs again
    // (--force used to win and silently run every task).
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
    if options.force {
        let resets = dag.tasks.iter().map(|t| reset(t, true)).collect();
        return (every_state, resets);
    }
    let resume = dag.tasks.iter().map(|t| reset(t, false)).collect();
    match state {
        // A running run is being driven by another process (or was, by one that died): join it.
        RunState::Running | RunState::Success => (Vec::new(), Vec::new()),
        RunState::Queued | RunState::Failed => (vec![state], resume),
    }
}

/// The executor's picture of one run: the DAG indexed once (positions, upstream positions) and the
/// last known state of each task instance by position. Every decision is a scan over plain vectors,
/// so a pass of the drive loop costs microseconds even for 10,000 tasks; before, each pass read
/// and parsed every task row and looked tasks up by name, which made a 10,000-task chain about 50
/// times slower per task than a 200-task one.
pub struct RunView<'a> {
    dag: &'a Dag,
    positions: HashMap<&'a str, usize>,
    upstream: Vec<Vec<usize>>,
    tasks: Vec<Option<TaskInstance>>,
    /// Every task before this position is terminal. Within one drive of a run a terminal task
    /// stays terminal, so scans start here and a chain costs O(1) per pass.
    first_open: usize,
    /// Tasks whose state blocks what lies below them (failed, upstream-failed).
    blocking: usize,
    /// Whether a task came to block since [`RunView::newly_blocked`] last looked: only then can
    /// there be waiting tasks below a failure to mark.
    blocking_changed: bool,
    /// Tasks waiting for a retry.
    retrying: usize,
}

impl<'a> RunView<'a> {
    pub fn new(dag: &'a Dag) -> Self {
        let positions: HashMap<&str, usize> = dag
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        let upstream = dag
            .tasks
            .iter()
            .map(|t| {
                t.upstream
                    .iter()
                    .filter_map(|up| positions.get(up.as_str()).copied())
                    .collect()
            })
            .collect();
        Self {
            dag,
            positions,
            upstream,
            tasks: vec![None; dag.tasks.len()],
            first_open: 0,
            blocking: 0,
            blocking_changed: false,
            retrying: 0,
        }
    }

    /// Replaces the picture with a full read of the run's task instances.
    pub fn replace_all(&mut self, instances: Vec<TaskInstance>) {
        self.tasks.iter_mut().for_each(|slot| *slot = None);
        (self.blocking, self.retrying) = (0, 0);
        for instance in instances {
            self.set(instance);
        }
        self.first_open = 0;
        self.blocking_changed = self.blocking > 0;
        self.advance();
    }

    /// Takes in one task instance as the store has it now.
    pub fn update(&mut self, instance: TaskInstance) {
        self.set(instance);
        self.advance();
    }

    fn set(&mut self, instance: TaskInstance) {
        let Some(&i) = self.positions.get(instance.task.as_str()) else {
            return;
        };
        let was_blocking = self.state(i).is_some_and(TaskState::blocks_downstream);
        if let Some(old) = self.state(i) {
            self.blocking -= usize::from(old.blocks_downstream());
            self.retrying -= usize::from(old == TaskState::Retrying);
        }
        self.blocking += usize::from(instance.state.blocks_downstream());
        self.blocking_changed |= instance.state.blocks_downstream() && !was_blocking;
        self.retrying += usize::from(instance.state == TaskState::Retrying);
        self.tasks[i] = Some(instance);
    }

    fn advance(&mut self) {
        while self.first_open < self.tasks.len()
            && self
                .state(self.first_open)
                .is_some_and(TaskState::is_terminal)
        {
            self.first_open += 1;
        }
    }

    /// Every task instance known, for the run's summary.
    pub fn instances(&self) -> Vec<TaskInstance> {
        self.tasks.iter().flatten().cloned().collect()
    }

    fn state(&self, i: usize) -> Option<TaskState> {
        self.tasks[i].as_ref().map(|ti| ti.state)
    }

    /// Waiting tasks with a failed or upstream-failed task above them, directly or not. Scans the
    /// run only when a task has come to block since the last call.
    pub fn newly_blocked(&mut self) -> Vec<String> {
        if !self.blocking_changed {
            return Vec::new();
        }
        self.blocking_changed = false;
        let mut blocked: Vec<bool> = (0..self.tasks.len())
            .map(|i| self.state(i).is_some_and(TaskState::blocks_downstream))
            .collect();
        let mut newly = Vec::new();
        // Topological order: a task's upstream tasks have been decided before it is looked at.
        for (i, task) in self.dag.tasks.iter().enumerate() {
            if is_waiting(self.state(i)) && self.upstream[i].iter().any(|&up| blocked[up]) {
                blocked[i] = true;
                newly.push(task.name.clone());
            }
        }
        newly
    }

    pub fn all_terminal(&self) -> bool {
        self.first_open == self.tasks.len()
    }

    pub fn final_state(&self) -> RunState {
        let all_done = (0..self.tasks.len())
            .all(|i| self.state(i).is_some_and(TaskState::lets_downstream_run));
        if all_done {
            RunState::Success
        } else {
            RunState::Failed
        }
    }

    /// Positions of the first `limit` tasks that may start now, in topological order.
    pub fn ready(&self, now: DateTime<Utc>, limit: usize) -> Vec<usize> {
        (self.first_open..self.tasks.len())
            .filter(|&i| {
                let Some(ti) = &self.tasks[i] else {
                    return false;
                };
                let due = match ti.state {
                    TaskState::Queued => true,
                    TaskState::Retrying => ti.next_try_at.is_none_or(|at| at <= now),
                    _ => false,
                };
                due && self.upstream[i]
                    .iter()
                    .all(|&up| self.state(up).is_some_and(TaskState::lets_downstream_run))
            })
            .take(limit)
            .collect()
    }

    /// The earliest time a retrying task becomes due, if any waits.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.retrying == 0 {
            return None;
        }
        self.tasks
            .iter()
            .flatten()
            .filter(|ti| ti.state == TaskState::Retrying)
            .filter_map(|ti| ti.next_try_at)
            .filter(|at| *at > now)
            .min()
    }
}

fn is_waiting(state: Option<TaskState>) -> bool {
    matches!(state, Some(TaskState::Queued | TaskState::Retrying))
}
