//! `churnflow ingest`: a user's export into the object store as a snapshot partition.

use anyhow::{Context, Result};
use tasks::contract::Contract;
use tasks::ingest::{coerce, read_file};
use tasks::storage::{DataStore, Table, partition_key};
use workflows::store::redact_url;

use crate::Outcome;
use crate::app::App;
use crate::cli::IngestArgs;
use crate::tables;

pub async fn ingest(app: &App, args: IngestArgs) -> Result<Outcome> {
    let date = workflows::logical_date::parse_day(&args.date)
        .with_context(|| format!("--date `{}` is not a date (YYYY-MM-DD)", args.date))?;
    let contract = match &args.contract {
        Some(path) => Contract::load(path)?,
        None => Contract::demo(),
    };
    let store = DataStore::open(&app.settings.store_root)?;
    let file = args.file.clone();
    let name = file.display().to_string();
    let started = std::time::Instant::now();
    let ingested = tokio::task::spawn_blocking(move || {
        let frame = read_file(&file)?;
        tracing::info!(file = %name, rows = frame.height(), columns = frame.width(),
                       seconds = started.elapsed().as_secs_f64(), "read");
        coerce(&contract, frame, date, &name)
    })
    .await
    .context("the ingest task crashed")??;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "coerced to the contract"
    );
    let mut features = ingested.features;
    let features_key = partition_key(Table::Features, date);
    let labels_key = partition_key(Table::Labels, date);
    // Everything that would be overwritten, checked before anything is written: the labels
    // partition too, even when this file has no labels (old labels must not stay joined to new
    // features).
    let mut replaced = Vec::new();
    for key in [&features_key, &labels_key] {
        if store.exists(key).await? {
            // A partition that does not read (a corrupt file) can still be replaced; its row
            // count is then unknown.
            let rows = match store.parquet_rows(key).await {
                Ok(rows) => serde_json::json!(rows),
                Err(err) if args.replace => {
                    tracing::warn!(key, error = %err, "the partition being replaced does not read");
                    serde_json::Value::Null
                }
                Err(err) => return Err(err.into()),
            };
            replaced.push(serde_json::json!({ "key": key, "rows": rows }));
        }
    }
    if !replaced.is_empty() && !args.replace {
        let held = replaced
            .iter()
            .map(|r| {
                format!(
                    "{} ({} rows)",
                    r["key"].as_str().unwrap_or_default(),
                    r["rows"]
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        anyhow::bail!(
            "the store already holds the snapshot of {date}: {held}; pass --replace to replace it"
        );
    }
    store.put_parquet(&features_key, &mut features).await?;
    let labels_key = match ingested.labels {
        Some(mut labels) => {
            store.put_parquet(&labels_key, &mut labels).await?;
            Some(labels_key)
        }
        None => {
            if replaced.iter().any(|r| r["key"] == labels_key.as_str()) {
                store.delete(&labels_key).await?;
            }
            None
        }
    };
    for old in &replaced {
        tracing::warn!(key = %old["key"], rows = %old["rows"], "replaced an existing partition");
    }
    let report = &ingested.report;
    if args.json {
        outln!(
            "{:#}",
            serde_json::json!({
                "features": features_key, "labels": labels_key, "report": report,
                "replaced": replaced,
            })
        );
        return Ok(Outcome::Success);
    }
    let mut table = tables::table(&["column", "did not parse (now null)", "nulls"]);
    for column in &report.columns {
        table.add_row(vec![
            column.column.clone(),
            column.unparsed.to_string(),
            column.nulls.to_string(),
        ]);
    }
    outln!("{table}");
    let unparsed: usize = report.columns.iter().map(|c| c.unparsed).sum();
    outln!(
        "{} rows of {} written to {}/{features_key}{}; {unparsed} value(s) did not parse",
        report.rows,
        args.file.display(),
        redact_url(store.root()),
        labels_key
            .as_ref()
            .map(|k| format!(" and labels to {k}"))
            .unwrap_or_default()
    );
    if !report.missing.is_empty() {
        outln!(
            "missing contract columns (the validate stage will stop on them): {}",
            report.missing.join(", ")
        );
    }
    if !report.ignored.is_empty() {
        outln!(
            "columns the contract does not know, left out: {}",
            report.ignored.join(", ")
        );
    }
    Ok(Outcome::Success)
}
