//! The command line: every subcommand, its flags and its `--help` examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "churnflow",
    version,
    about = "Runs nightly churn-risk scoring as scheduled DAGs of tasks",
    after_help = "Examples:\n  churnflow dags check\n  churnflow run demo\n  churnflow runs\n  churnflow schedule\n\n\
                  Settings come from churnflow.toml and the environment (DATABASE_URL, CHURNFLOW_STATE_DIR, ...); see the README."
)]
pub struct Cli {
    /// A churnflow.toml settings file (default: ./churnflow.toml if it exists, or $CHURNFLOW_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The DAG file (default: ./dags.toml, or $CHURNFLOW_DAGS).
    #[arg(long, global = true)]
    pub dags: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a DAG for one logical date (resumes a failed run; a finished run needs --force)
    #[command(
        after_help = "Examples:\n  churnflow run demo\n  churnflow run demo --date 2026-11-23\n  \
                            churnflow run demo --date 2026-11-23 --from-task transform\n  churnflow run demo --force --json"
    )]
    Run(RunArgs),
    /// Run a DAG for every logical date in a range, oldest first
    #[command(after_help = "Example:\n  churnflow backfill demo --from 2026-11-01 --to 2026-11-07")]
    Backfill(BackfillArgs),
    /// Inspect and check the DAGs of dags.toml
    #[command(subcommand)]
    Dags(DagsCommand),
    /// List DAG runs, newest first
    #[command(after_help = "Examples:\n  churnflow runs\n  churnflow runs demo --limit 5 --json")]
    Runs(RunsArgs),
    /// Show the task instances of one run: state, attempts, duration, error
    #[command(after_help = "Example:\n  churnflow tasks demo --date 2026-11-23")]
    Tasks(TasksArgs),
    /// Print the stored log of a task instance's attempts
    #[command(after_help = "Example:\n  churnflow logs demo --date 2026-11-23 --task extract")]
    Logs(LogsArgs),
    /// Run the scheduler daemon: fire each DAG on its cron until SIGINT or SIGTERM
    #[command(
        after_help = "Examples:\n  churnflow schedule\n  churnflow schedule --metrics-addr 127.0.0.1:9464"
    )]
    Schedule(ScheduleArgs),
    /// Work on single task instances
    #[command(subcommand)]
    Task(TaskCommand),
    /// Print the settings in effect (from churnflow.toml and the environment), passwords hidden
    #[command(
        after_help = "Examples:\n  churnflow config\n  DATABASE_URL=postgres://churn@db/churn churnflow config"
    )]
    Config,
    /// Generate the demo data set (shared/DATA_CONTRACT.md) into the object store
    #[command(
        after_help = "Examples:\n  churnflow demo-data\n  churnflow demo-data --customers 1000000 --drift\n  \
                      churnflow demo-data --drift --date 2026-12-04   (adds one drifted day to a store \
                      that has data)"
    )]
    DemoData(DemoDataArgs),
    /// Load a CSV or Parquet export as the snapshot of a date (features, and labels if it has them)
    #[command(
        after_help = "Examples:\n  churnflow ingest customers.csv --date 2026-11-24\n  \
                      churnflow ingest export.parquet --date 2026-11-24 --contract contracts/telco.toml"
    )]
    Ingest(IngestArgs),
    /// The newcomer's path: demo data if the store has none, then nightly_churn for today, then
    /// where the risk table, the report and the email are
    #[command(after_help = "Example:\n  churnflow quickstart --customers 20000")]
    Quickstart(QuickstartArgs),
    /// The model registry: versions, model cards, promotion and rollback
    #[command(subcommand)]
    Models(ModelsCommand),
    /// A canary (score.params.canary): what it serves, how it did, rollback and promotion
    #[command(subcommand)]
    Canary(CanaryCommand),
    /// Make a day's risk scores the ones the CRM sees (risk_scores_latest), whatever the publish
    /// policy said
    #[command(after_help = "Example:\n  churnflow publish nightly_churn --date 2026-12-04")]
    Publish {
        /// The DAG whose run scored the day
        dag: String,
        /// The score date, YYYY-MM-DD
        #[arg(long)]
        date: String,
    },
    /// Write the default dags.toml and a data contract template (contract.toml) here, to edit
    #[command(after_help = "Examples:\n  churnflow init\n  churnflow init --force")]
    Init {
        /// Overwrite dags.toml and contract.toml if they exist
        #[arg(long)]
        force: bool,
    },
    /// The email outbox: reports and alerts, sent or waiting, and a resend of what waits
    #[command(
        after_help = "Examples:\n  churnflow outbox\n  churnflow outbox --unsent --json\n  \
                      churnflow outbox --resend"
    )]
    Outbox(OutboxArgs),
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Serve metrics in the Prometheus text format on this address (for example 127.0.0.1:9464)
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// Deliver every message that waits now, without waiting for its retry time
    #[arg(long)]
    pub resend: bool,
    /// List only the messages that wait
    #[arg(long)]
    pub unsent: bool,
    /// How many messages to list, newest first
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The file: .csv (with a header row) or .parquet
    pub file: PathBuf,
    /// The snapshot date it holds, YYYY-MM-DD
    #[arg(long)]
    pub date: String,
    /// The data contract (default: the demo contract)
    #[arg(long)]
    pub contract: Option<PathBuf>,
    /// Replace the snapshot (and labels) of that date if the store already holds one; without it
    /// an existing partition is never overwritten
    #[arg(long)]
    pub replace: bool,
    /// Print the outcome as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Customers per snapshot, when demo data has to be generated
    #[arg(long, default_value_t = 5000)]
    pub customers: usize,
    /// The DAG to run
    #[arg(long, default_value = "nightly_churn")]
    pub dag: String,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every version of a model (or of every model), newest first, with stage and key metrics
    #[command(
        after_help = "Examples:\n  churnflow models list\n  churnflow models list churn_logreg --json"
    )]
    List {
        /// Only this model's versions (a registry name such as churn_logreg)
        model: Option<String>,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// A version's model card (the champion's when --version is absent)
    #[command(after_help = "Example:\n  churnflow models show churn_logreg --version 3")]
    Show {
        /// The model's registry name
        model: String,
        /// The version (default: the champion)
        #[arg(long)]
        version: Option<i64>,
    },
    /// Make a version the champion; the current champion is archived
    #[command(
        after_help = "Examples:\n  churnflow models promote churn_logreg 3\n  \
                      churnflow models promote churn_logreg 3 --pin"
    )]
    Promote {
        /// The model's registry name
        model: String,
        /// The version to promote
        version: i64,
        /// Keep it champion: the nightly gate registers passing candidates without replacing it
        /// until `churnflow models unpin`
        #[arg(long)]
        pin: bool,
    },
    /// Put back the champion before the current one (the current one is archived, a pin removed)
    #[command(after_help = "Example:\n  churnflow models rollback churn_logreg")]
    Rollback {
        /// The model's registry name
        model: String,
    },
    /// Let the nightly gate replace a champion that was pinned by hand again
    #[command(after_help = "Example:\n  churnflow models unpin churn_logreg")]
    Unpin {
        /// The model's registry name
        model: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CanaryCommand {
    /// The version the canary serves, the last date it served, and its realised ROC AUC beside
    /// the champion's arm's on each date whose labels landed
    #[command(
        after_help = "Examples:\n  churnflow canary status churn_logreg\n  churnflow canary status churn_logreg --json"
    )]
    Status {
        /// The model's registry name
        model: String,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Take the canary out of the CRM view in one transaction (its customers get the champion's
    /// scores again), put the champion's export files back, and never serve that version again
    #[command(after_help = "Example:\n  churnflow canary rollback churn_logreg")]
    Rollback {
        /// The model's registry name
        model: String,
    },
    /// Make the canary champion: refused until its realised ROC AUC, averaged over the dates
    /// whose labels landed, is no worse than the champion's arm's on the same dates (and when that
    /// champion is not today's)
    #[command(
        after_help = "Examples:\n  churnflow canary promote churn_logreg\n  churnflow canary promote churn_logreg --tolerance 0.005"
    )]
    Promote {
        /// The model's registry name
        model: String,
        /// How far below the champion's arm the canary's ROC AUC may be
        #[arg(long, default_value_t = 0.0)]
        tolerance: f64,
    },
}

#[derive(Debug, Args)]
pub struct DemoDataArgs {
    /// Customers per snapshot
    #[arg(long, default_value_t = 5000)]
    pub customers: usize,
    /// The newest snapshot's date, YYYY-MM-DD (default: today, UTC)
    #[arg(long)]
    pub date: Option<String>,
    /// Days of history before the newest snapshot
    #[arg(long, default_value_t = 300)]
    pub history_days: u32,
    /// Days between snapshots
    #[arg(long, default_value_t = 30)]
    pub cadence_days: u32,
    /// Seed of the generator: the same seed gives the same customers
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Inject drift into the newest snapshot (shifted features, an unseen payment method)
    #[arg(long)]
    pub drift: bool,
    /// Inject the same drift into every snapshot from this date on, YYYY-MM-DD, labelled ones
    /// included (to see how the nightly performance estimate fares under drift)
    #[arg(long, value_name = "DATE")]
    pub drift_from: Option<String>,
    /// Replace the snapshot of --date if the store already holds one
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The DAG to run
    pub dag: String,
    /// The logical date, YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SS); default: today in the DAG's time zone
    #[arg(long)]
    pub date: Option<String>,
    /// Run every task again, even if the run succeeded (with --from-task: that task and those
    /// after it)
    #[arg(long)]
    pub force: bool,
    /// Run this task and everything downstream of it again
    #[arg(long, value_name = "TASK")]
    pub from_task: Option<String>,
    /// Allow a logical date after today in the DAG's time zone (its scores are stored; the CRM
    /// sees them only when published by hand)
    #[arg(long)]
    pub allow_future: bool,
    /// Send no email: no report, no alert, no failure alert (the report is still stored)
    #[arg(long)]
    pub no_email: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The DAG (a name from dags.toml; `churnflow dags list` shows them)
    pub dag: String,
    /// First logical date, YYYY-MM-DD
    #[arg(long = "from")]
    pub from: String,
    /// Last logical date, YYYY-MM-DD (included)
    #[arg(long = "to")]
    pub to: String,
    /// Run every date again, even those that succeeded
    #[arg(long)]
    pub force: bool,
    /// Allow --to after today in the DAG's time zone
    #[arg(long)]
    pub allow_future: bool,
    /// Send no email for these runs
    #[arg(long)]
    pub no_email: bool,
    /// Print the runs' results as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormatArg {
    Mermaid,
    Dot,
}

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// List the DAGs with their schedules and next fire time
    #[command(after_help = "Examples:\n  churnflow dags list\n  churnflow dags list --json")]
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check dags.toml and report every mistake; exits 2 if there is one
    #[command(
        after_help = "Examples:\n  churnflow dags check\n  churnflow --dags other.toml dags check"
    )]
    Check,
    /// Show one DAG: schedule, policies, tasks, next fire times
    #[command(after_help = "Example:\n  churnflow dags show nightly_churn")]
    Show {
        /// The DAG (a name from dags.toml)
        dag: String,
    },
    /// Print a DAG's graph as Mermaid or Graphviz DOT
    #[command(
        after_help = "Example:\n  churnflow dags graph demo --format dot | dot -Tsvg > demo.svg"
    )]
    Graph {
        /// The DAG (a name from dags.toml)
        dag: String,
        /// Mermaid (for Markdown) or Graphviz DOT
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormatArg,
    },
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this DAG's runs
    pub dag: Option<String>,
    /// How many runs to list, newest first
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TasksArgs {
    /// The DAG (a name from dags.toml)
    pub dag: String,
    /// The run's logical date, YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ for sub-daily schedules)
    #[arg(long)]
    pub date: String,
    /// Print as JSON (the run, its task instances and every attempt)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The DAG (a name from dags.toml)
    pub dag: String,
    /// The run's logical date, YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ for sub-daily schedules)
    #[arg(long)]
    pub date: String,
    /// The task whose log to print
    #[arg(long)]
    pub task: String,
    /// Only this attempt (default: all)
    #[arg(long)]
    pub attempt: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Run one attempt of one task instance in this process (claims it through the run store)
    #[command(after_help = "Example:\n  churnflow task run demo extract --date 2026-11-23")]
    Run {
        /// The DAG (a name from dags.toml)
        dag: String,
        /// The task of that DAG
        task: String,
        /// The run's logical date
        #[arg(long)]
        date: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument and flag of every subcommand says what it is for, and every subcommand
    /// has an example, as the README promises.
    #[test]
    fn every_argument_has_help_and_every_command_an_example() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", command.get_name());
            let leaves = command.get_subcommands().count() == 0;
            if leaves && command.get_after_help().is_none() {
                missing.push(format!("{here}: no example"));
            }
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{here} {}: no help", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
