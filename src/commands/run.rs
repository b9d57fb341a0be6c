//! `churnflow run` and `churnflow backfill`.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate, TimeZone};
use serde_json::json;
use workflows::executor::{RunStatus, RunSummary};
use workflows::state::RunState;
use workflows::{Dag, LogicalDate, RunOptions};

use crate::Outcome;
use crate::app::App;
use crate::cli::{BackfillArgs, RunArgs};
use crate::outbox::deliver_quietly;
use crate::signals::shutdown_token;
use crate::tables;

fn outcome_of(summary: &RunSummary) -> Outcome {
    match summary.status {
        RunStatus::Finished(RunState::Success) | RunStatus::AlreadySucceeded => Outcome::Success,
        RunStatus::Finished(_) => Outcome::RunFailed,
        RunStatus::Interrupted => Outcome::Interrupted,
    }
}

/// The summary as JSON, tasks in the DAG's order.
fn summary_json(dag: &Dag, summary: &RunSummary) -> serde_json::Value {
    let tasks: Vec<_> = tables::ordered(Some(dag), &summary.tasks)
        .into_iter()
        .map(tables::task_json)
        .collect();
    json!({
        "status": summary.status.to_string(),
        "run": tables::run_json(&summary.run),
        "tasks": tasks,
    })
}

fn print_summary(dag: &Dag, summary: &RunSummary, as_json: bool) {
    if as_json {
        outln!("{:#}", summary_json(dag, summary));
        return;
    }
    outln!("{}", tables::tasks_table(Some(dag), &summary.tasks));
    let verdict = match summary.status {
        RunStatus::Finished(state) => format!("run {state}"),
        RunStatus::AlreadySucceeded => {
            "run had already succeeded; nothing ran (pass --force to run it again)".to_string()
        }
        RunStatus::Interrupted => "run interrupted; `churnflow run` again resumes it".to_string(),
    };
    outln!("{} {}: {verdict}", dag.name, summary.run.logical_date);
}

pub async fn run(app: &App, args: RunArgs) -> Result<Outcome> {
    let dag = app.dag(&args.dag)?;
    let date = match &args.date {
        Some(text) => text.parse::<LogicalDate>()?,
        None => app.default_date(&dag),
    };
    let now = app.default_date(&dag);
    if is_future(&date, &now) && !args.allow_future {
        bail!(
            "--date {date} is after now ({now} for this DAG): runs are for days that have come; \
             pass --allow-future to run it anyway (its scores are published only by hand)"
        );
    }
    let store = app.store().await?;
    let executor = app.executor(store.clone())?;
    let options = RunOptions {
        force: args.force,
        from_task: args.from_task.clone(),
        trigger: "manual".to_string(),
    };
    let cancel = shutdown_token();
    let summary = executor.run(dag.clone(), date, &options, &cancel).await?;
    deliver_and_warn(&store, &app.settings.email).await;
    print_summary(&dag, &summary, args.json);
    Ok(outcome_of(&summary))
}

/// Whether `date` lies after `now` (both logical dates of one DAG): by day for daily DAGs, by
/// instant for those that fire more often.
fn is_future(date: &LogicalDate, now: &LogicalDate) -> bool {
    match (date, now) {
        (LogicalDate::Instant(date), LogicalDate::Instant(now)) => date > now,
        _ => date.day() > now.day(),
    }
}

/// The logical dates of `dag` from `from` to `to`, both included: its fire times in that span, or
/// every day for a DAG without a schedule.
fn backfill_dates(dag: &Dag, from: NaiveDate, to: NaiveDate) -> Result<Vec<LogicalDate>> {
    if to < from {
        bail!("--to {to} is before --from {from}");
    }
    let Some(schedule) = &dag.schedule else {
        return Ok(from
            .iter_days()
            .take_while(|day| *day <= to)
            .map(LogicalDate::Day)
            .collect());
    };
    let zone = schedule.timezone();
    let local_midnight = |day: NaiveDate| {
        zone.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|at| at.with_timezone(&chrono::Utc))
            .with_context(|| format!("midnight of {day} does not exist in {zone}"))
    };
    let start = local_midnight(from)? - chrono::Duration::milliseconds(1);
    let after_to = to
        .checked_add_days(Days::new(1))
        .context("--to is too far in the future")?;
    let end = local_midnight(after_to)? - chrono::Duration::milliseconds(1);
    let mut dates: Vec<LogicalDate> = schedule
        .fires_between(start, end)
        .into_iter()
        .map(|fire| fire.logical_date)
        .collect();
    dates.dedup();
    Ok(dates)
}

pub async fn backfill(app: &App, args: BackfillArgs) -> Result<Outcome> {
    let dag = app.dag(&args.dag)?;
    let parse = |text: &str, flag: &str| {
        workflows::logical_date::parse_day(text)
            .with_context(|| format!("{flag} `{text}` is not a date (YYYY-MM-DD)"))
    };
    let to = parse(&args.to, "--to")?;
    let today = app.default_date(&dag).day();
    if to > today && !args.allow_future {
        bail!(
            "--to {to} is after today ({today} in the DAG's time zone): runs are for days that \
             have come; pass --allow-future to run them anyway (their scores are published only \
             by hand)"
        );
    }
    let dates = backfill_dates(&dag, parse(&args.from, "--from")?, to)?;
    tracing::info!(dag = %dag.name, runs = dates.len(), "backfill starting");
    let store = app.store().await?;
    let executor = Arc::new(app.executor(store.clone())?);
    let options = RunOptions {
        force: args.force,
        from_task: None,
        trigger: "backfill".to_string(),
    };
    let cancel = shutdown_token();
    // Up to max_active_runs dates at once, started oldest first.
    let slots = Arc::new(tokio::sync::Semaphore::new(dag.max_active_runs));
    let mut runs = tokio::task::JoinSet::new();
    for (index, date) in dates.iter().copied().enumerate() {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .context("backfill slots closed")?;
        let (executor, dag, options, cancel) = (
            executor.clone(),
            dag.clone(),
            options.clone(),
            cancel.clone(),
        );
        runs.spawn(async move {
            let _permit = permit;
            (index, executor.run(dag, date, &options, &cancel).await)
        });
    }
    let mut summaries = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (index, result) = joined.context("a backfill run panicked")?;
        let summary = result?;
        summaries.push((index, summary));
    }
    summaries.sort_by_key(|(index, _)| *index);
    let summaries: Vec<RunSummary> = summaries.into_iter().map(|(_, s)| s).collect();
    deliver_and_warn(&store, &app.settings.email).await;
    if args.json {
        outln!(
            "{:#}",
            json!(
                summaries
                    .iter()
                    .map(|s| summary_json(&dag, s))
                    .collect::<Vec<_>>()
            )
        );
    } else {
        let runs: Vec<_> = summaries.iter().map(|s| s.run.clone()).collect();
        outln!("{}", tables::runs_table(&runs));
    }
    let outcomes: Vec<Outcome> = summaries.iter().map(outcome_of).collect();
    Ok(if outcomes.contains(&Outcome::Interrupted) {
        Outcome::Interrupted
    } else if outcomes.contains(&Outcome::RunFailed) {
        Outcome::RunFailed
    } else {
        Outcome::Success
    })
}

/// Delivers the mail that is due (a failure alert queued with the run's outcome, retries of
/// earlier failures) and says on stderr what stays in the outbox, without changing the exit code.
async fn deliver_and_warn(store: &workflows::RunStore, email: &crate::settings::EmailSettings) {
    let delivery = deliver_quietly(store, email).await;
    for (id, subject, error) in &delivery.failed {
        eprintln!(
            "warning: email {id} \"{subject}\" not delivered ({error}); it stays in the outbox \
             and is retried (churnflow outbox)"
        );
    }
}
