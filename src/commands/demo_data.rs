//! `churnflow demo-data`: the demo data set into the object store: a whole history into an empty
//! store, one more day (`--date`, drifted with `--drift`) into a store that has data.

use anyhow::{Context, Result, bail};
use tasks::contract::Contract;
use tasks::demo_data::{HistorySpec, write_history_with_progress};
use tasks::storage::{DataStore, Table};

use crate::Outcome;
use crate::app::App;
use crate::cli::DemoDataArgs;

pub use tasks::demo_data::DEMO_MARKER;

pub async fn demo_data(app: &App, args: DemoDataArgs) -> Result<Outcome> {
    let newest = match &args.date {
        Some(text) => workflows::logical_date::parse_day(text)
            .with_context(|| format!("--date `{text}` is not a date (YYYY-MM-DD)"))?,
        None => app.clock.now().date_naive(),
    };
    let drift_from = match &args.drift_from {
        Some(text) => Some(
            workflows::logical_date::parse_day(text)
                .with_context(|| format!("--drift-from `{text}` is not a date (YYYY-MM-DD)"))?,
        ),
        None => None,
    };
    let store = DataStore::open(&app.settings.store_root)?;
    // A store that holds data gets one more day, not a history rewritten around the new date
    // (which once left training on a snapshot a day before its own validation snapshot).
    let existing = store.snapshot_dates(Table::Features).await?;
    if existing.contains(&newest) && !args.replace {
        bail!(
            "{} already holds the snapshot of {newest}; pass --replace to generate it again",
            workflows::store::redact_url(store.root())
        );
    }
    let history_days = if existing.is_empty() {
        args.history_days
    } else {
        tracing::info!(
            snapshots = existing.len(),
            "the store holds demo data; adding the snapshot of {newest} alone"
        );
        0
    };
    let spec = HistorySpec {
        customers: args.customers,
        newest,
        history_days,
        cadence_days: args.cadence_days,
        horizon_days: Contract::demo().label_horizon_days,
        seed: args.seed,
        drift_newest: args.drift,
        drift_from,
    };
    let started = std::time::Instant::now();
    let marker = serde_json::json!({
        "customers": args.customers,
        "seed": args.seed,
        "drift_from": drift_from.map(|d| d.to_string()),
    });
    let bar = crate::logging::progress(spec.dates().len() as u64, "demo snapshots");
    let written =
        write_history_with_progress(&store, spec, |done, _| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    // Says the store holds demo data, and how it was made: quickstart adds the day's snapshot to
    // it on a later day instead of refusing to run. Only a store that demo-data filled from
    // empty is marked: a day added to someone's own data does not make it demo data.
    if existing.is_empty() {
        store
            .put_bytes(DEMO_MARKER, marker.to_string().into_bytes())
            .await?;
    }
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
