//! `churnflow canary`: the canary a DAG's score stage serves (score.params.canary), for people:
//! its status and realised performance, a rollback in one transaction, and a promotion that needs
//! the canary's realised performance to be no worse than the champion's.

use anyhow::{Context, Result, bail};
use serde_json::json;
use tasks::storage::DataStore;
use tasks::warehouse::{CanaryDecision, CanaryEvidence, Warehouse};

use crate::Outcome;
use crate::app::App;
use crate::cli::CanaryCommand;
use crate::stages::{EXPORT_FILES, champion_export_prefix, export_prefix};
use crate::tables;

pub async fn canary(app: &App, command: CanaryCommand) -> Result<Outcome> {
    let warehouse = Warehouse::connect(&app.settings.database_url).await?;
    match command {
        CanaryCommand::Status { model, json } => status(&warehouse, &model, json).await,
        CanaryCommand::Rollback { model } => {
            let store = DataStore::open(&app.settings.store_root)?;
            rollback(&warehouse, &store, &model).await
        }
        CanaryCommand::Promote { model, tolerance } => promote(&warehouse, &model, tolerance).await,
    }
}

/// The mean difference of the canary's realised ROC AUC and the champion's arm's.
fn mean_difference(evidence: &[CanaryEvidence]) -> f64 {
    evidence
        .iter()
        .map(|e| e.canary_roc_auc - e.champion_roc_auc)
        .sum::<f64>()
        / evidence.len().max(1) as f64
}

async fn status(warehouse: &Warehouse, model: &str, json: bool) -> Result<Outcome> {
    let Some((version, last_date)) = warehouse.canary_version(model).await? else {
        if json {
            outln!("{}", json!({ "model": model, "canary": null }));
        } else {
            outln!(
                "{model}: no canary has served any customer (set score.params.canary in dags.toml)"
            );
        }
        return Ok(Outcome::Success);
    };
    let rolled_back = warehouse.canary_rolled_back(model, version).await?;
    let promoted = warehouse
        .canary_decided(model, version, CanaryDecision::Promoted)
        .await?;
    let evidence = warehouse.canary_evidence(model, version).await?;
    if json {
        outln!(
            "{:#}",
            json!({
                "model": model, "version": version, "last_served": last_date,
                "rolled_back": rolled_back, "promoted": promoted, "evidence": evidence,
                "mean_roc_auc_difference": (!evidence.is_empty()).then(|| mean_difference(&evidence)),
            })
        );
        return Ok(Outcome::Success);
    }
    outln!(
        "{model}: canary v{version}, last served on {last_date}{}",
        match (rolled_back, promoted) {
            (true, _) => " (rolled back: not served again)",
            (false, true) => " (promoted to champion)",
            (false, false) => "",
        }
    );
    if evidence.is_empty() {
        outln!(
            "no realised performance yet: the outcomes task measures a day's arms when its labels \
             land, one horizon after it was scored"
        );
        return Ok(Outcome::Success);
    }
    let mut table = tables::table(&[
        "score date",
        "canary ROC AUC",
        "champion arm ROC AUC",
        "champion",
    ]);
    for e in &evidence {
        table.add_row(vec![
            e.score_date.clone(),
            format!("{:.4}", e.canary_roc_auc),
            format!("{:.4}", e.champion_roc_auc),
            format!("v{}", e.champion_version),
        ]);
    }
    outln!("{table}");
    outln!(
        "mean difference (canary - champion): {:+.4}",
        mean_difference(&evidence)
    );
    Ok(Outcome::Success)
}

async fn rollback(warehouse: &Warehouse, store: &DataStore, model: &str) -> Result<Outcome> {
    if let Some((version, _)) = warehouse.canary_version(model).await?
        && warehouse
            .canary_decided(model, version, CanaryDecision::Promoted)
            .await?
    {
        bail!(
            "{model}: canary v{version} was promoted to champion; to go back to the champion \
             before it, run `churnflow models rollback {model}`"
        );
    }
    let done = warehouse
        .rollback_canary(model, "rolled back by hand (churnflow canary rollback)")
        .await?;
    let versions: Vec<String> = done.versions.iter().map(|v| format!("v{v}")).collect();
    outln!(
        "{model}: canary {} rolled back: {} rows of {} left the CRM view in one transaction; \
         those customers get the champion's scores again, and {} is not served again",
        versions.join(", "),
        done.rows,
        done.score_dates.join(", "),
        if versions.len() == 1 {
            "it"
        } else {
            "none of them"
        }
    );
    // The files of those days: the champion's own, which the score stage kept beside them.
    for date in &done.score_dates {
        let (from, to) = (champion_export_prefix(date), export_prefix(date));
        for name in EXPORT_FILES {
            let (source, target) = (format!("{from}/{name}"), format!("{to}/{name}"));
            store.copy_object(&source, &target).await.with_context(|| {
                format!(
                    "the CRM view is rolled back, but the export `{target}` still holds the \
                     canary's rows: copy `{source}` over it"
                )
            })?;
        }
        outln!("exports of {date}: the champion's files put back under {to}/");
    }
    Ok(Outcome::Success)
}

async fn promote(warehouse: &Warehouse, model: &str, tolerance: f64) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&tolerance) {
        bail!("--tolerance {tolerance} is not a ROC AUC difference between 0 and 1");
    }
    let Some((version, _)) = warehouse.canary_version(model).await? else {
        bail!("{model}: no canary has served any customer; nothing to promote");
    };
    if warehouse.canary_rolled_back(model, version).await? {
        bail!("{model}: canary v{version} was rolled back; it cannot be promoted as a canary");
    }
    let evidence = warehouse.canary_evidence(model, version).await?;
    if evidence.is_empty() {
        bail!(
            "{model}: canary v{version} has no realised performance yet: its promotion waits for \
             the labels of a day it served (the outcomes task measures each arm one horizon \
             later); `churnflow canary status {model}` shows them as they land"
        );
    }
    // The evidence compares the canary with the champion of those dates: it says nothing about
    // a newer champion, which a promotion would archive.
    let champion = warehouse.champion(model).await?;
    if let Some(champion) = &champion {
        if champion.version == version {
            bail!("{model}: canary v{version} is already the champion");
        }
        let against: Vec<String> = evidence
            .iter()
            .filter(|e| e.champion_version != champion.version)
            .map(|e| format!("{} (v{})", e.score_date, e.champion_version))
            .collect();
        if !against.is_empty() {
            bail!(
                "{model}: canary v{version} is not promoted: its evidence of {} was measured \
                 against another champion than today's v{}; it says nothing about v{}",
                against.join(", "),
                champion.version,
                champion.version
            );
        }
    }
    let difference = mean_difference(&evidence);
    let dates = evidence.len();
    if difference < -tolerance {
        bail!(
            "{model}: canary v{version} is not promoted: its realised ROC AUC is {:.4} below the \
             champion's arm on average over {dates} score date(s) (tolerance {tolerance}); see \
             `churnflow canary status {model}`",
            -difference
        );
    }
    let promoted = warehouse.promote(model, version, false).await?;
    let note = format!(
        "realised ROC AUC {difference:+.4} against the champion's arm over {dates} score date(s)"
    );
    warehouse
        .record_canary_decision(model, version, CanaryDecision::Promoted, &note)
        .await?;
    outln!(
        "{} v{} is now champion ({note}); the next score run serves it to every customer",
        promoted.model,
        promoted.version
    );
    Ok(Outcome::Success)
}
