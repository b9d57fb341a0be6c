//! `churnflow quickstart`: the README's first command. Generates demo data when the object store
//! has no snapshots (and adds today's snapshot to demo data made on an earlier day), runs the
//! nightly DAG for today, and says where its results are.

use anyhow::{Result, bail};
use tasks::storage::{DataStore, Table};
use workflows::store::redact_url;

use crate::Outcome;
use crate::app::App;
use crate::cli::{DemoDataArgs, QuickstartArgs, RunArgs};
use crate::commands::demo_data::DEMO_MARKER;

/// A path under the object store root, as a person would open it.
fn in_store(root: &str, key: &str) -> String {
    format!("{}/{key}", redact_url(root).trim_end_matches('/'))
}

pub async fn quickstart(app: &App, args: QuickstartArgs) -> Result<Outcome> {
    let dag = app.dag(&args.dag)?;
    let date = app.default_date(&dag);
    let day = date.day();
    let store = DataStore::open(&app.settings.store_root)?;
    let snapshots = store.snapshot_dates(Table::Features).await?;
    if snapshots.is_empty() {
        outln!(
            "no snapshots in {}: generating demo data ({} customers) first",
            redact_url(store.root()),
            args.customers
        );
        super::demo_data::demo_data(
            app,
            DemoDataArgs {
                customers: args.customers,
                date: Some(day.to_string()),
                history_days: 300,
                cadence_days: 30,
                seed: 42,
                drift: false,
                drift_from: None,
                replace: false,
            },
        )
        .await?;
    } else if !snapshots.contains(&day) && store.exists(DEMO_MARKER).await? {
        // A store of demo data on a later day: one more day of it, as the same generator made.
        let marker: serde_json::Value =
            serde_json::from_slice(&store.get_bytes(DEMO_MARKER).await?).unwrap_or_default();
        let customers = marker["customers"]
            .as_u64()
            .map_or(args.customers, |n| n as usize);
        outln!(
            "the demo data in {} has no snapshot for {day}: adding it ({customers} customers)",
            redact_url(store.root())
        );
        super::demo_data::demo_data(
            app,
            DemoDataArgs {
                customers,
                date: Some(day.to_string()),
                history_days: 300,
                cadence_days: 30,
                seed: marker["seed"].as_u64().unwrap_or(42),
                drift: false,
                drift_from: None,
                replace: false,
            },
        )
        .await?;
    } else if !snapshots.contains(&day) {
        bail!(
            "the object store {} holds snapshots, but none for {day}; add one with \
             `churnflow demo-data --date {day}` or `churnflow ingest`",
            redact_url(store.root())
        );
    }
    let outcome = super::run::run(
        app,
        RunArgs {
            dag: dag.name.clone(),
            date: Some(date.to_string()),
            force: false,
            from_task: None,
            allow_future: false,
            no_email: false,
            json: false,
        },
    )
    .await?;
    if !matches!(outcome, Outcome::Success) {
        return Ok(outcome);
    }
    let root = &app.settings.store_root;
    outln!("\nWhere to look:");
    outln!(
        "  risk table  `risk_scores_latest` (view over `risk_scores`) in {}",
        redact_url(&app.settings.database_url)
    );
    outln!(
        "  export      {}",
        in_store(
            root,
            &format!("exports/risk_scores/score_date={day}/risk_scores.csv")
        )
    );
    outln!(
        "  report      {}",
        in_store(
            root,
            &format!(
                "{}/{}",
                crate::stages::report_prefix(&dag.name, &date.to_string()),
                crate::stages::REPORT_FILE
            )
        )
    );
    match &app.settings.email.smtp_url {
        Some(url) => outln!("  email       sent through {}", redact_url(url)),
        None => outln!(
            "  email       {} (.eml files; open with any mail program)",
            app.settings.email.outbox_dir.display()
        ),
    }
    outln!("  models      churnflow models list");
    Ok(outcome)
}
