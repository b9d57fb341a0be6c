//! The churnflow binary: the one place that knows both the DAG engine (`workflows`) and the task
//! kinds, and that reaches the outside world (settings, signals, email, the terminal).

// First, so that its macros are in scope in every module below.
#[macro_use]
mod output;

mod alerts;
mod app;
mod cli;
mod commands;
mod logging;
mod memory;
mod outbox;
mod process_launcher;
mod settings;
mod signals;
mod stages;
mod starter;
mod tables;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

/// How a command ended, as the exit code tells the caller (cron, CI, a shell script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: done, or the run succeeded.
    Success,
    /// 1: a run (or a task in it) failed.
    RunFailed,
    /// 2: bad input (dags.toml, settings, arguments) or the run store/network is unusable.
    Error,
    /// 130: stopped by SIGINT or SIGTERM; the run is queued to resume.
    Interrupted,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(match outcome {
            Outcome::Success => 0,
            Outcome::RunFailed => 1,
            Outcome::Error => 2,
            Outcome::Interrupted => 130,
        })
    }
}

fn main() -> ExitCode {
    // Before any thread starts: the allocator's arena count is fixed when threads first allocate.
    memory::configure_allocator();
    let cli = cli::Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return Outcome::Error.into();
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(outcome) => outcome.into(),
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            Outcome::Error.into()
        }
    }
}

/// An error and its causes on one line, each cause once: errors that already quote their source
/// in their own message (`cannot connect: Connection refused`) would otherwise repeat it, as
/// anyhow's `{:#}` does.
pub fn describe(err: &anyhow::Error) -> String {
    workflows::task::error_chain_text(err.as_ref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn describe_names_each_cause_once() {
        let io = std::io::Error::other("Connection refused");
        let err = anyhow::Error::new(io).context("cannot connect: Connection refused");
        let err = err.context("run store at postgres://db");
        assert_eq!(
            super::describe(&err),
            "run store at postgres://db: cannot connect: Connection refused"
        );
    }
}
