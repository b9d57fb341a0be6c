//! `churnflow runs`, `churnflow tasks` and `churnflow logs`: what happened, from the run store.

use anyhow::{Context, Result, anyhow};
use serde_json::json;
use workflows::LogicalDate;
use workflows::store::{RunRecord, RunStore};

use crate::Outcome;
use crate::app::App;
use crate::cli::{LogsArgs, RunsArgs, TasksArgs};
use crate::tables;

async fn find_run(store: &RunStore, dag: &str, date: &str) -> Result<RunRecord> {
    let date: LogicalDate = date.parse()?;
    store.find_run(dag, &date).await?.ok_or_else(|| {
        anyhow!("no run of DAG `{dag}` for {date}; `churnflow runs {dag}` lists them")
    })
}

pub async fn runs(app: &App, args: RunsArgs) -> Result<Outcome> {
    let store = app.store().await?;
    let runs = store
        .list_runs(args.dag.as_deref(), i64::from(args.limit))
        .await?;
    if args.json {
        outln!(
            "{:#}",
            json!(runs.iter().map(tables::run_json).collect::<Vec<_>>())
        );
    } else if runs.is_empty() {
        outln!("no runs yet");
    } else {
        outln!("{}", tables::runs_table(&runs));
    }
    Ok(Outcome::Success)
}

pub async fn tasks(app: &App, args: TasksArgs) -> Result<Outcome> {
    let store = app.store().await?;
    let run = find_run(&store, &args.dag, &args.date).await?;
    let tasks = store.task_instances(run.id).await?;
    if args.json {
        let attempts = store.attempts(run.id, None).await?;
        let attempts: Vec<_> = attempts
            .iter()
            .map(|a| {
                json!({
                    "task": a.task,
                    "attempt": a.attempt,
                    "outcome": a.outcome,
                    "started_at": a.started_at.to_rfc3339(),
                    "ended_at": a.ended_at.map(|t| t.to_rfc3339()),
                    "duration_seconds": a.duration().map(|d| d.num_milliseconds() as f64 / 1000.0),
                    "error": a.error,
                })
            })
            .collect();
        outln!(
            "{:#}",
            json!({
                "run": tables::run_json(&run),
                "tasks": tables::ordered(app.dags.get(&run.dag), &tasks)
                    .into_iter()
                    .map(tables::task_json)
                    .collect::<Vec<_>>(),
                "attempts": attempts,
            })
        );
    } else {
        outln!("{} {}: {}", run.dag, run.logical_date, run.state);
        outln!("{}", tables::tasks_table(app.dags.get(&run.dag), &tasks));
    }
    Ok(Outcome::Success)
}

pub async fn logs(app: &App, args: LogsArgs) -> Result<Outcome> {
    let store = app.store().await?;
    let run = find_run(&store, &args.dag, &args.date).await?;
    let attempts = store
        .attempts(run.id, Some(&args.task))
        .await
        .context("reading attempts")?;
    let attempts: Vec<_> = attempts
        .into_iter()
        .filter(|a| args.attempt.is_none_or(|n| a.attempt == n))
        .collect();
    if attempts.is_empty() {
        return Err(anyhow!(
            "no attempts of task `{}` in the run of `{}` for {}",
            args.task,
            args.dag,
            run.logical_date
        ));
    }
    for attempt in attempts {
        let duration = attempt
            .duration()
            .map(|d| format!("{:.1}s", d.num_milliseconds() as f64 / 1000.0))
            .unwrap_or_else(|| "still running".to_string());
        outln!(
            "=== attempt {} · {} · started {} · {duration}",
            attempt.attempt,
            attempt.outcome,
            attempt.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if !attempt.log.is_empty() {
            outln!("{}", attempt.log);
        }
        if let Some(error) = &attempt.error {
            outln!("error: {error}");
        }
    }
    Ok(Outcome::Success)
}
