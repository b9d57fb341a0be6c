//! A launcher that runs each attempt as its own process, `churnflow task run DAG TASK --date D`,
//! the way a task will later run as a Kubernetes Job. The child claims, heartbeats and records
//! through the run store under the executor's owner id; the parent only waits for it and kills it
//! when the attempt is cancelled.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result};
use async_trait::async_trait;
use workflows::executor::{AttemptResult, ExecutorError, Launcher, TaskJob};
use workflows::state::TaskState;

use crate::settings::Settings;

/// The environment variable through which the child claims under its parent's owner id.
pub const OWNER_ENV: &str = "CHURNFLOW_OWNER";

pub struct ProcessLauncher {
    program: PathBuf,
    dags_path: PathBuf,
    /// False for a run without email: the attempt's process is told so.
    email: bool,
}

impl ProcessLauncher {
    pub fn for_this_binary(settings: &Settings) -> Result<Self> {
        Ok(Self {
            program: std::env::current_exe().context("finding the churnflow executable")?,
            dags_path: settings.dags_path.clone(),
            email: settings.email.enabled,
        })
    }
}

#[async_trait]
impl Launcher for ProcessLauncher {
    async fn launch(&self, job: TaskJob) -> Result<AttemptResult, ExecutorError> {
        let failed = |reason: String| ExecutorError::Launch {
            task: job.task.clone(),
            reason,
        };
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("--dags")
            .arg(&self.dags_path)
            .args(["task", "run", &job.dag.name, &job.task, "--date"])
            .arg(job.logical_date.to_string())
            .env(OWNER_ENV, &job.owner)
            .env("CHURNFLOW_EMAIL", if self.email { "on" } else { "off" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        workflows::kinds::die_with_parent(&mut command);
        let output = command
            .output()
            .await
            .map_err(|err| failed(format!("cannot start {}: {err}", self.program.display())))?;
        let reply = String::from_utf8_lossy(&output.stdout);
        match (output.status.code(), parse_reply(reply.trim())) {
            // 1: the attempt ran and failed; its reply line says how (failed, retrying).
            (Some(0 | 1), Some(result)) => Ok(result),
            (Some(0), None) => Err(failed(format!("unexpected reply `{reply}`"))),
            _ => Err(failed(format!(
                "`churnflow task run` exited with {}",
                output.status
            ))),
        }
    }
}

/// The one line `churnflow task run` prints: `finished <state>`, `not_claimed` or `lost`.
pub fn reply_line(result: &AttemptResult) -> String {
    match result {
        AttemptResult::NotClaimed => "not_claimed".to_string(),
        AttemptResult::Lost => "lost".to_string(),
        AttemptResult::Finished(state) => format!("finished {state}"),
    }
}

fn parse_reply(line: &str) -> Option<AttemptResult> {
    let last = line.lines().last()?;
    match last.split_once(' ') {
        Some(("finished", state)) => state.parse::<TaskState>().ok().map(AttemptResult::Finished),
        _ if last == "not_claimed" => Some(AttemptResult::NotClaimed),
        _ if last == "lost" => Some(AttemptResult::Lost),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip() {
        for result in [
            AttemptResult::NotClaimed,
            AttemptResult::Lost,
            AttemptResult::Finished(TaskState::Retrying),
            AttemptResult::Finished(TaskState::Success),
        ] {
            assert_eq!(parse_reply(&reply_line(&result)), Some(result));
        }
    }
}
