//! `churnflow task run`: one attempt of one task instance, in this process. It prints one reply
//! line (the process executor reads it) and exits 1 when the attempt failed, 0 otherwise.

use anyhow::{Context, Result, anyhow};
use workflows::LogicalDate;
use workflows::executor::{AttemptResult, new_owner_id, run_attempt};
use workflows::state::TaskState;

use crate::Outcome;
use crate::app::App;
use crate::cli::TaskCommand;
use crate::process_launcher::{OWNER_ENV, reply_line};

pub async fn task(app: &App, command: TaskCommand) -> Result<Outcome> {
    let TaskCommand::Run { dag, task, date } = command;
    let dag = app.dag(&dag)?;
    let spec = dag
        .task(&task)
        .ok_or_else(|| anyhow!("dag `{}` has no task `{task}`", dag.name))?;
    let date: LogicalDate = date.parse()?;
    let store = app.store().await?;
    let retries = dag.retry_budgets();
    let run = store
        .ensure_run(&dag.name, &date, "manual", &retries, app.clock.now())
        .await?;
    let owner = std::env::var(OWNER_ENV).unwrap_or_else(|_| new_owner_id());
    let env = app.attempt_env(store, owner);
    let result = run_attempt(&env, &dag.name, run.id, date, spec)
        .await
        .with_context(|| format!("running task `{task}` of `{}` for {date}", dag.name))?;
    outln!("{}", reply_line(&result));
    // A failed attempt (final, or with a retry to come) is a failure to whoever ran it by hand
    // or from a script.
    Ok(match result {
        AttemptResult::Finished(TaskState::Failed | TaskState::Retrying) => Outcome::RunFailed,
        _ => Outcome::Success,
    })
}
