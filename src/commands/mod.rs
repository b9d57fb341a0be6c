//! One module per group of subcommands; `dispatch` sends the parsed command line to it.

mod canary;
mod dags;
mod demo_data;
mod history;
mod ingest;
mod models;
mod outbox;
mod quickstart;
mod run;
mod schedule;
mod task;

use anyhow::Result;

use crate::Outcome;
use crate::app::App;
use crate::cli::{Cli, Command};

pub async fn dispatch(cli: Cli) -> Result<Outcome> {
    // `dags check` reports a bad file as its answer, not as an error of loading it.
    if let Command::Dags(crate::cli::DagsCommand::Check) = &cli.command {
        return dags::check(&cli);
    }
    if let Command::Init { force } = &cli.command {
        return crate::starter::init(std::path::Path::new("."), *force);
    }
    let app = App::load(&cli)?;
    match cli.command {
        Command::Run(args) => run::run(&app, args).await,
        Command::Backfill(args) => run::backfill(&app, args).await,
        Command::Dags(command) => dags::dags(&app, command),
        Command::Runs(args) => history::runs(&app, args).await,
        Command::Tasks(args) => history::tasks(&app, args).await,
        Command::Logs(args) => history::logs(&app, args).await,
        Command::Schedule(args) => schedule::schedule(&app, args).await,
        Command::Task(command) => task::task(&app, command).await,
        Command::DemoData(args) => demo_data::demo_data(&app, args).await,
        Command::Ingest(args) => ingest::ingest(&app, args).await,
        Command::Quickstart(args) => quickstart::quickstart(&app, args).await,
        Command::Models(command) => models::models(&app, command).await,
        Command::Canary(command) => canary::canary(&app, command).await,
        Command::Outbox(args) => outbox::outbox(&app, args).await,
        Command::Publish { dag, date } => models::publish(&app, &dag, &date).await,
        Command::Init { .. } => unreachable!("handled before the DAGs are loaded"),
        Command::Config => {
            outln!("{}", app.settings.describe());
            Ok(Outcome::Success)
        }
    }
}
