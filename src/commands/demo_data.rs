//! `churnflow demo-data`: the demo data set into the object store.

use anyhow::{Context, Result};
use tasks::contract::Contract;
use tasks::demo_data::{HistorySpec, write_history_with_progress};
use tasks::storage::DataStore;

use crate::Outcome;
use crate::app::App;
use crate::cli::DemoDataArgs;

pub async fn demo_data(app: &App, args: DemoDataArgs) -> Result<Outcome> {
    let newest = match &args.date {
        Some(text) => workflows::logical_date::parse_day(text)
            .with_context(|| format!("--date `{text}` is not a date (YYYY-MM-DD)"))?,
        None => app.clock.now().date_naive(),
    };
    let store = DataStore::open(&app.settings.store_root)?;
    let spec = HistorySpec {
        customers: args.customers,
        newest,
        history_days: args.history_days,
        cadence_days: args.cadence_days,
        horizon_days: Contract::demo().label_horizon_days,
        seed: args.seed,
        drift_newest: args.drift,
    };
    let started = std::time::Instant::now();
    let bar = crate::logging::progress(spec.dates().len() as u64, "demo snapshots");
    let written =
        write_history_with_progress(&store, spec, |done, _| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    outln!(
        "wrote {} snapshots ({} labelled), {} rows, to {} in {:.1}s",
        written.snapshots,
        written.labelled,
        written.rows,
        workflows::store::redact_url(store.root()),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Success)
}
