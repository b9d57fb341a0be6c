//! `churnflow dags list|check|show|graph`.

use anyhow::Result;
use serde_json::json;
use workflows::graph::{GraphFormat, render};
use workflows::schedule::Catchup;

use crate::Outcome;
use crate::app::{App, settings_for, task_registry};
use crate::cli::{Cli, DagsCommand, GraphFormatArg};
use crate::tables;

/// Checks dags.toml alone; every mistake is printed, and the exit code is 2 if there is one.
pub fn check(cli: &Cli) -> Result<Outcome> {
    let settings = settings_for(cli)?;
    match crate::starter::load_dags(&settings.dags_path, &task_registry(&settings)) {
        Ok(set) => {
            let tasks: usize = set.dags.values().map(|dag| dag.tasks.len()).sum();
            outln!(
                "{}: ok, {} DAG(s), {tasks} task(s)",
                settings.dags_path.display(),
                set.dags.len()
            );
            for warning in crate::stages::pipeline_warnings(&set) {
                eprintln!("warning: {warning}");
            }
            Ok(Outcome::Success)
        }
        Err(err) => {
            eprintln!("{err}");
            Ok(Outcome::Error)
        }
    }
}

fn catchup_name(catchup: Catchup) -> &'static str {
    match catchup {
        Catchup::All => "all",
        Catchup::Latest => "latest",
        Catchup::None => "none",
    }
}

pub fn dags(app: &App, command: DagsCommand) -> Result<Outcome> {
    let now = app.clock.now();
    match command {
        DagsCommand::Check => unreachable!("dispatched before the DAGs are loaded"),
        DagsCommand::List { json } => {
            let rows: Vec<_> = app
                .dags
                .dags
                .values()
                .map(|dag| {
                    let next = dag.schedule.as_ref().and_then(|s| s.next_after(now));
                    (dag, next)
                })
                .collect();
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|(dag, next)| {
                        json!({
                            "name": dag.name,
                            "schedule": dag.schedule.as_ref().map(|s| s.expression()),
                            "timezone": dag.schedule.as_ref().map(|s| s.timezone().name()),
                            "catchup": catchup_name(dag.catchup),
                            "tasks": dag.tasks.len(),
                            "next_fire": next.map(|t| t.to_rfc3339()),
                        })
                    })
                    .collect();
                outln!("{:#}", json!(list));
            } else {
                let mut table = tables::table(&[
                    "dag",
                    "schedule",
                    "time zone",
                    "catchup",
                    "tasks",
                    "next fire (UTC)",
                ]);
                for (dag, next) in rows {
                    table.add_row(vec![
                        dag.name.clone(),
                        dag.schedule
                            .as_ref()
                            .map_or("manual".to_string(), |s| s.expression().to_string()),
                        dag.schedule
                            .as_ref()
                            .map_or(String::new(), |s| s.timezone().name().to_string()),
                        catchup_name(dag.catchup).to_string(),
                        dag.tasks.len().to_string(),
                        next.map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                    ]);
                }
                outln!("{table}");
            }
        }
        DagsCommand::Show { dag } => {
            let dag = app.dag(&dag)?;
            outln!("dag: {}", dag.name);
            if let Some(description) = &dag.description {
                outln!("description: {description}");
            }
            match &dag.schedule {
                Some(schedule) => {
                    outln!(
                        "schedule: {} ({})",
                        schedule.expression(),
                        schedule.timezone().name()
                    );
                    let mut cursor = now;
                    let mut upcoming = Vec::new();
                    for _ in 0..5 {
                        let Some(next) = schedule.next_after(cursor) else {
                            break;
                        };
                        upcoming.push(format!(
                            "{} ({})",
                            next.with_timezone(&schedule.timezone())
                                .format("%Y-%m-%d %H:%M:%S %Z"),
                            schedule.fire_at(next).logical_date
                        ));
                        cursor = next;
                    }
                    outln!("next fires (logical date): {}", upcoming.join(", "));
                }
                None => outln!("schedule: none (runs only when asked)"),
            }
            outln!("catchup: {}", catchup_name(dag.catchup));
            outln!("max active runs: {}", dag.max_active_runs);
            if !dag.on_failure_email.is_empty() {
                outln!("on failure, email: {}", dag.on_failure_email.join(", "));
            }
            let mut table =
                tables::table(&["task", "kind", "after", "retries", "retry delay", "timeout"]);
            for task in &dag.tasks {
                table.add_row(vec![
                    task.name.clone(),
                    task.kind.clone(),
                    task.upstream.join(", "),
                    task.retry.retries.to_string(),
                    humantime::format_duration(task.retry.initial_delay).to_string(),
                    task.timeout.map_or("none".to_string(), |t| {
                        humantime::format_duration(t).to_string()
                    }),
                ]);
            }
            outln!("{table}");
        }
        DagsCommand::Graph { dag, format } => {
            let dag = app.dag(&dag)?;
            let format = match format {
                GraphFormatArg::Mermaid => GraphFormat::Mermaid,
                GraphFormatArg::Dot => GraphFormat::Dot,
            };
            out!("{}", render(&dag, format));
        }
    }
    Ok(Outcome::Success)
}
