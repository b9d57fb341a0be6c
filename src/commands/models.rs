//! `churnflow models`: the model registry in the warehouse, for people; and `churnflow publish`,
//! which makes a day's risk scores the ones the CRM sees.

use anyhow::{Result, bail};
use serde_json::json;
use tasks::warehouse::{ModelVersion, Warehouse};

use crate::Outcome;
use crate::app::App;
use crate::cli::ModelsCommand;
use crate::tables;

/// The family a version's card records (cards of before families: logistic regression).
fn family(version: &ModelVersion) -> &str {
    version.card["training"]["family"]["family"]
        .as_str()
        .unwrap_or("logistic_regression")
}

/// The registered candidate's metrics in a version's card: its family's among the run's
/// candidates, or the one candidate of cards written before families.
fn candidate_metrics(version: &ModelVersion) -> &serde_json::Value {
    let evaluation = &version.card["evaluation"];
    evaluation["candidates"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["family"] == family(version)))
        .map(|c| &c["metrics"])
        .unwrap_or(&evaluation["candidate"])
}

fn metric(version: &ModelVersion, name: &str) -> String {
    candidate_metrics(version)[name]
        .as_f64()
        .map(|v| format!("{v:.4}"))
        .unwrap_or_default()
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

pub async fn models(app: &App, command: ModelsCommand) -> Result<Outcome> {
    let warehouse = Warehouse::connect(&app.settings.database_url).await?;
    match command {
        ModelsCommand::List { model, json } => {
            let names = match model {
                Some(model) => vec![model],
                None => warehouse.models().await?,
            };
            let mut versions = Vec::new();
            for name in &names {
                versions.extend(warehouse.model_versions(name).await?);
            }
            if json {
                let rows: Vec<_> = versions
                    .iter()
                    .map(|v| {
                        json!({
                            "model": v.model, "version": v.version, "stage": v.stage,
                            "logical_date": v.logical_date, "prefix": v.artifact_prefix,
                            "gate_passed": v.card["gate"]["passed"],
                            "family": family(v),
                            "roc_auc": candidate_metrics(v)["roc_auc"],
                            "brier": candidate_metrics(v)["brier"],
                        })
                    })
                    .collect();
                outln!("{:#}", serde_json::Value::from(rows));
                return Ok(Outcome::Success);
            }
            if versions.is_empty() {
                outln!("no registered models yet; a run of nightly_churn registers one");
                return Ok(Outcome::Success);
            }
            let mut table = tables::table(&[
                "model",
                "version",
                "family",
                "stage",
                "trained for",
                "gate",
                "ROC AUC",
                "Brier",
                "stage since",
            ]);
            let mut pins = std::collections::BTreeMap::new();
            for name in &names {
                if let Some(version) = warehouse.pinned(name).await? {
                    pins.insert(name.clone(), version);
                }
            }
            for v in &versions {
                let pinned = pins.get(&v.model) == Some(&v.version);
                table.add_row(vec![
                    v.model.clone(),
                    format!("v{}", v.version),
                    family(v).to_string(),
                    format!(
                        "{}{}",
                        v.stage.as_str(),
                        if pinned { " (pinned)" } else { "" }
                    ),
                    v.logical_date.clone(),
                    match v.card["gate"]["passed"].as_bool() {
                        Some(true) => "passed".to_string(),
                        Some(false) => "rejected".to_string(),
                        None => String::new(),
                    },
                    metric(v, "roc_auc"),
                    metric(v, "brier"),
                    when(v.stage_changed_at),
                ]);
            }
            outln!("{table}");
        }
        ModelsCommand::Show { model, version } => {
            let found = match version {
                Some(version) => warehouse.model_version(&model, version).await?,
                None => warehouse.champion(&model).await?,
            };
            let Some(found) = found else {
                bail!(
                    "model `{model}` has no {}; see `churnflow models list`",
                    version.map_or("champion".to_string(), |v| format!("version {v}"))
                );
            };
            outln!(
                "{} v{} ({}), files under {}/",
                found.model,
                found.version,
                found.stage.as_str(),
                found.artifact_prefix
            );
            outln!("{:#}", found.card);
        }
        ModelsCommand::Promote {
            model,
            version,
            pin,
        } => {
            let promoted = warehouse.promote(&model, version, pin).await?;
            outln!(
                "{} v{} is now champion{}; the next score run uses it",
                promoted.model,
                promoted.version,
                if pin {
                    ", pinned until `churnflow models unpin`"
                } else {
                    ""
                }
            );
        }
        ModelsCommand::Unpin { model } => {
            if warehouse.unpin(&model).await? {
                outln!("{model}: unpinned; the next passing candidate becomes champion");
            } else {
                outln!("{model}: no pin to remove");
            }
        }
        ModelsCommand::Rollback { model } => {
            let restored = warehouse.rollback(&model).await?;
            outln!(
                "{} v{} is champion again; the next score run uses it",
                restored.model,
                restored.version
            );
        }
    }
    Ok(Outcome::Success)
}

/// `churnflow publish DAG --date D`: makes the day's scores the ones the CRM sees.
pub async fn publish(app: &App, dag: &str, date: &str) -> Result<Outcome> {
    app.dag(dag)?;
    let day = workflows::logical_date::parse_day(date)
        .ok_or_else(|| anyhow::anyhow!("--date `{date}` is not a date (YYYY-MM-DD)"))?;
    let warehouse = Warehouse::connect(&app.settings.database_url).await?;
    let previous = warehouse.current_publication().await?;
    let note = format!("published by hand for DAG {dag}");
    warehouse.publish(&day.to_string(), "manual", &note).await?;
    outln!(
        "the CRM now sees the risk scores of {day} (risk_scores_latest){}",
        previous
            .map(|p| format!("; before: {}", p.score_date))
            .unwrap_or_default()
    );
    Ok(Outcome::Success)
}
