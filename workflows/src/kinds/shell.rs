//! `shell`: runs a command through `sh -c`, with the run's identity in its environment.
//!
//! Environment: `CHURNFLOW_DAG`, `CHURNFLOW_TASK`, `CHURNFLOW_RUN_ID`, `CHURNFLOW_LOGICAL_DATE`,
//! `CHURNFLOW_ATTEMPT` and `CHURNFLOW_ARTIFACTS_DIR`, plus the task's own `env` table. Variables
//! that carry secrets ([`crate::store::SECRET_ENV`]: `DATABASE_URL`, `CHURNFLOW_SMTP_URL`, AWS
//! keys...) are not inherited unless the task names them in `pass_env`. Output lines of stdout
//! and stderr go to the task log, with every secret this process knows masked as `***`. Exit 0 succeeds, exit 99 marks the task skipped, any
//! other exit fails the attempt. The child is killed when the attempt is cancelled (timeout or
//! shutdown).

use std::collections::BTreeMap;
use std::process::Stdio;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tracing::Instrument;

use crate::store::{SECRET_ENV, mask_secrets, secrets_in_env};
use crate::task::{Task, TaskContext, TaskError, TaskLog, TaskOutcome};

/// The exit code with which a command says it had nothing to do (as in Airflow).
pub const SKIP_EXIT_CODE: i32 = 99;

/// The last lines of output kept in the error text of a failed attempt.
const ERROR_TAIL_LINES: usize = 5;

pub struct Shell;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellParams {
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    /// Secret-bearing variables of this process to pass on (otherwise they are removed).
    #[serde(default)]
    pub pass_env: Vec<String>,
}

#[async_trait]
impl Task for Shell {
    type Params = ShellParams;

    fn kind(&self) -> &'static str {
        "shell"
    }

    async fn run(&self, ctx: &TaskContext, params: ShellParams) -> Result<TaskOutcome, TaskError> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&params.command)
            .env("CHURNFLOW_DAG", &ctx.dag)
            .env("CHURNFLOW_TASK", &ctx.task)
            .env("CHURNFLOW_RUN_ID", ctx.run_id.to_string())
            .env("CHURNFLOW_LOGICAL_DATE", ctx.logical_date.to_string())
            .env("CHURNFLOW_ATTEMPT", ctx.attempt.to_string())
            .env("CHURNFLOW_ARTIFACTS_DIR", &ctx.artifacts_dir)
            .envs(&params.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &params.working_dir {
            command.current_dir(dir);
        }
        for name in SECRET_ENV {
            if !params.pass_env.iter().any(|passed| passed == name)
                && !params.env.contains_key(name)
            {
                command.env_remove(name);
            }
        }
        super::die_with_parent(&mut command);
        let secrets = std::sync::Arc::new(secrets_in_env());
        let mut child = command.spawn().map_err(|err| {
            TaskError::new(format!("cannot start `sh -c {}`: {err}", params.command))
        })?;
        let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let stdout = child
            .stdout
            .take()
            .map(|out| pump(out, ctx.log.clone(), tail.clone(), secrets.clone()));
        let stderr = child
            .stderr
            .take()
            .map(|err| pump(err, ctx.log.clone(), tail.clone(), secrets.clone()));
        let status = child
            .wait()
            .await
            .map_err(|err| TaskError::new(format!("waiting for the command failed: {err}")))?;
        for pump in [stdout, stderr].into_iter().flatten() {
            let _ = pump.await;
        }
        match status.code() {
            Some(0) => Ok(TaskOutcome::Success(serde_json::json!({ "exit_code": 0 }))),
            Some(SKIP_EXIT_CODE) => Ok(TaskOutcome::Skipped(format!(
                "the command exited with {SKIP_EXIT_CODE}"
            ))),
            code => {
                let how = match code {
                    Some(code) => format!("exit code {code}"),
                    None => "a signal".to_string(),
                };
                let tail = tail.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
                let command = mask_secrets(&params.command, &secrets);
                let mut message = format!("command `{command}` ended with {how}");
                if !tail.is_empty() {
                    message.push_str(&format!("; last output:\n{tail}"));
                }
                Err(TaskError::new(message))
            }
        }
    }
}

/// Copies a child's output into the task log line by line, keeping the last few lines for errors.
fn pump(
    stream: impl AsyncRead + Unpin + Send + 'static,
    log: TaskLog,
    tail: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    secrets: std::sync::Arc<Vec<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(
        async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = mask_secrets(&line, &secrets);
                log.line(&line);
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                tail.push(line);
                if tail.len() > ERROR_TAIL_LINES {
                    tail.remove(0);
                }
            }
        }
        .in_current_span(),
    )
}
