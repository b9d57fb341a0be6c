//! How runs, task instances and DAGs read on a terminal (tables) and for machines (JSON).

use chrono::{DateTime, Utc};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::{Value, json};
use workflows::Dag;
use workflows::store::{RunRecord, TaskInstance};

pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_header(header.to_vec());
    table
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn seconds(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<f64> {
    Some((end? - start?).num_milliseconds() as f64 / 1000.0)
}

fn shown_seconds(value: Option<f64>) -> String {
    value.map(|s| format!("{s:.1}s")).unwrap_or_default()
}

pub fn runs_table(runs: &[RunRecord]) -> Table {
    let mut table = table(&[
        "dag",
        "logical date",
        "state",
        "trigger",
        "started (UTC)",
        "duration",
    ]);
    for run in runs {
        table.add_row(vec![
            run.dag.clone(),
            run.logical_date.to_string(),
            run.state.to_string(),
            run.trigger.clone(),
            time(run.started_at),
            shown_seconds(seconds(run.started_at, run.ended_at)),
        ]);
    }
    table
}

pub fn run_json(run: &RunRecord) -> Value {
    json!({
        "id": run.id,
        "dag": run.dag,
        "logical_date": run.logical_date.to_string(),
        "state": run.state.as_str(),
        "trigger": run.trigger,
        "created_at": run.created_at.to_rfc3339(),
        "started_at": run.started_at.map(|t| t.to_rfc3339()),
        "ended_at": run.ended_at.map(|t| t.to_rfc3339()),
        "duration_seconds": seconds(run.started_at, run.ended_at),
    })
}

/// Task instances in the DAG's order; tasks no longer in the DAG come last.
pub fn ordered<'a>(dag: Option<&Dag>, tasks: &'a [TaskInstance]) -> Vec<&'a TaskInstance> {
    let position = |name: &str| {
        dag.and_then(|dag| dag.tasks.iter().position(|t| t.name == name))
            .unwrap_or(usize::MAX)
    };
    let mut ordered: Vec<&TaskInstance> = tasks.iter().collect();
    ordered.sort_by_key(|ti| (position(&ti.task), ti.task.clone()));
    ordered
}

pub fn tasks_table(dag: Option<&Dag>, tasks: &[TaskInstance]) -> Table {
    let mut table = table(&["task", "state", "attempts", "duration", "error"]);
    for ti in ordered(dag, tasks) {
        let error = ti
            .error
            .as_deref()
            .and_then(|e| e.lines().next())
            .unwrap_or_default();
        table.add_row(vec![
            ti.task.clone(),
            ti.state.to_string(),
            ti.try_number.to_string(),
            shown_seconds(seconds(ti.started_at, ti.ended_at)),
            error.chars().take(100).collect(),
        ]);
    }
    table
}

pub fn task_json(ti: &TaskInstance) -> Value {
    json!({
        "task": ti.task,
        "state": ti.state.as_str(),
        "attempts": ti.try_number,
        "started_at": ti.started_at.map(|t| t.to_rfc3339()),
        "ended_at": ti.ended_at.map(|t| t.to_rfc3339()),
        "duration_seconds": seconds(ti.started_at, ti.ended_at),
        "error": ti.error,
        "output": ti.output,
    })
}
