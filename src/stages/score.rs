//! `score`: the champion scores every customer of the logical date's snapshot. The day's rows
//! replace that date's partition of the risk table at once, then go out as CSV and Parquet under
//! `exports/risk_scores/score_date=<date>/`. A failure leaves yesterday's rows and files as they
//! were.

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use serde::Deserialize;
use tasks::agreement::agreement;
use tasks::artifacts;
use tasks::canary::canary_mask;
use tasks::estimation::performance;
use tasks::identity::Role;
use tasks::model::ChurnModel;
use tasks::model_card::Evaluation;
use tasks::polars::prelude::DataFrame;
use tasks::polars::prelude::{ChunkCompareEq, Float64Chunked, StringChunked};
use tasks::scoring::{
    ScoreRun, Tier, Tiers, changed_rows, delta, risk_frame, typed_for_parquet, with_previous_tiers,
};
use tasks::storage::{DataStore, StagedWrite, StorageError, Table, partition_key};
use tasks::warehouse::{
    CSV_PIECE_ROWS, RiskLoad, RiskPartition, Warehouse, WarehouseError, risk_csv, risk_csv_pieces,
};
use tasks::warehouse::{Measured, ModelVersion, ScoredBy, ShadowRecord};
use tokio::sync::mpsc;
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::{ModelParams, StageEnv, blocking};

pub struct Score {
    pub env: StageEnv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreParams {
    #[serde(flatten)]
    pub model: ModelParams,
    /// Risk tiers by minimum probability, each with its action; high/medium/low when absent.
    pub tiers: Option<Vec<Tier>>,
    /// Give every customer the top three reasons behind the score (on by default).
    #[serde(default = "default_reasons")]
    pub reasons: bool,
    /// Where the tiers' cut-offs come from: `typed` (the tiers' own `min_probability`) or `costs`
    /// (the cut-offs evaluate chose from the actions' economics on tonight's validation rows, for
    /// the model that scores, with the actions' capacities).
    #[serde(default)]
    pub thresholds: ThresholdSource,
    /// A model scored beside the champion every night (`"newest_candidate"`: the newest
    /// registered version that is neither champion nor archived; or a version number). Its rows
    /// are stored with role `shadow`, never reach the CRM view, and its agreement with the
    /// champion goes to `shadow_agreement`.
    #[serde(default)]
    pub shadow: Option<ShadowChoice>,
    /// Serve the shadow's scores to a stable share of customers (the canary arm): for them the
    /// CRM view and the exports hold the shadow's row (role `canary`, its version) instead of the
    /// champion's, which is kept beside it. `churnflow canary rollback` takes it out again.
    #[serde(default)]
    pub canary: Option<CanarySetting>,
}

/// Which customers the canary serves: those whose key, hashed with `salt`, falls in the first
/// `share` (see [`tasks::canary`]); the same customers every night while the salt stays.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanarySetting {
    pub share: f64,
    #[serde(default = "default_canary_salt")]
    pub salt: String,
}

fn default_canary_salt() -> String {
    "churnflow-canary".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ShadowChoice {
    Version(i64),
    Named(ShadowName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowName {
    NewestCandidate,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSource {
    #[default]
    Typed,
    Costs,
}

fn default_reasons() -> bool {
    true
}

/// Where a score date's export files go.
pub fn export_prefix(score_date: &str) -> String {
    format!("exports/risk_scores/score_date={score_date}")
}

/// Where the champion's own export files of a day a canary served go: what a rollback of the
/// canary puts back as the day's files. A sibling of the exports, not inside the day's folder, so
/// that a reader of that folder never sees a customer twice.
pub fn champion_export_prefix(score_date: &str) -> String {
    format!("exports/risk_scores_champion/score_date={score_date}")
}

/// The export files' names under a day's prefix: the full table, then the delta.
pub const EXPORT_FILES: [&str; 4] = [
    "risk_scores.csv",
    "risk_scores.parquet",
    "risk_scores_delta.csv",
    "risk_scores_delta.parquet",
];

#[async_trait]
impl Task for Score {
    type Params = ScoreParams;

    fn kind(&self) -> &'static str {
        "score"
    }

    fn check(&self, p: &ScoreParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        if let Some(ShadowChoice::Version(version)) = p.shadow
            && version < 1
        {
            problems.push(format!(
                "shadow = {version} is not a version number (1, 2, ...)"
            ));
        }
        if let Some(tiers) = &p.tiers
            && let Err(err) = Tiers::new(tiers.clone())
        {
            problems.push(err.to_string());
        }
        if let Some(canary) = &p.canary {
            if p.shadow.is_none() {
                problems.push(
                    "canary serves the shadow's scores, but no shadow is set: add shadow = \
                     \"newest_candidate\" (or a version number)",
                );
            }
            if !(canary.share > 0.0 && canary.share < 1.0) {
                problems.push(format!(
                    "canary.share = {} is not a share of customers between 0 and 1 (0.05 serves \
                     the challenger to 5% of them)",
                    canary.share
                ));
            }
            if canary.salt.trim().is_empty() {
                problems.push("canary.salt is empty: the canary's customers are drawn with it");
            }
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: ScoreParams) -> Result<TaskOutcome, TaskError> {
        let tiers = match p.tiers {
            Some(tiers) => Tiers::new(tiers).map_err(TaskError::new)?,
            None => Tiers::standard(),
        };
        let contract = super::load_contract(p.model.contract.as_deref())?;
        let shadow_contract = contract.clone();
        let store = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let model_name = p.model.model.clone();
        let Some(champion) = warehouse
            .champion(&model_name)
            .await
            .map_err(TaskError::new)?
        else {
            return Err(TaskError::permanent(format!(
                "model `{model_name}` has no champion to score with: no candidate has passed the \
                 gate yet (see `churnflow models list`, or promote a version by hand)"
            )));
        };
        let model = artifacts::load_model(&store, &champion.artifact_prefix)
            .await
            .map_err(TaskError::new)?;
        let date = ctx.logical_date.day();
        let tiers = match p.thresholds {
            ThresholdSource::Typed => tiers,
            ThresholdSource::Costs => {
                let (tiers, notes) =
                    tiers_from_costs(&store, &tiers, &model_name, date, &champion, &model).await?;
                ctx.log.line(format!(
                    "tiers from the actions' costs for v{}: {}",
                    champion.version,
                    notes.join("; ")
                ));
                tiers
            }
        };
        let snapshot_key = partition_key(Table::Features, date);
        let snapshot = store
            .get_parquet(&snapshot_key)
            .await
            .map_err(TaskError::new)?;
        let score_date = date.to_string();
        let exports = export_prefix(&score_date);
        // The day the CRM was shown before this one: each customer's tier there becomes the
        // row's previous tier, and the rows whose tier changed make the delta export.
        let previous = match warehouse
            .previous_publication(&score_date)
            .await
            .map_err(TaskError::new)?
        {
            Some(before) => {
                let key = format!("{}/risk_scores.parquet", export_prefix(&before));
                match store.get_parquet(&key).await {
                    Ok(frame) => Some((before, frame)),
                    Err(err) => {
                        ctx.log.line(format!(
                            "no previous tiers: the export of {before}, the day published before, \
                             cannot be read ({err}); every customer counts as changed"
                        ));
                        None
                    }
                }
            }
            None => None,
        };
        let previous_date = previous.as_ref().map(|(day, _)| day.clone());
        let scored_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let started = Instant::now();
        let (version, name, day) = (champion.version, model_name.clone(), score_date.clone());
        let with_reasons = p.reasons;
        let log = ctx.log.clone();
        let shadow_tiers = tiers.clone();
        let canary = match (&p.canary, p.shadow) {
            (Some(setting), Some(choice)) => {
                canary_arm(
                    &store,
                    &warehouse,
                    &model_name,
                    &champion,
                    choice,
                    setting,
                    &ctx.log,
                )
                .await
            }
            _ => None,
        };
        let canary_version = canary.as_ref().map(|arm| arm.version);
        let (frame, canary, changed, counts) = blocking("scoring", move || {
            let run = ScoreRun {
                score_date: &day,
                model: &name,
                model_version: version,
                role: Role::Champion,
                scored_at: &scored_at,
            };
            let reasons = if with_reasons {
                let started = Instant::now();
                let reasons = tasks::model::reasons::reasons(&model, &contract, &snapshot)
                    .map_err(|e| format!("explaining the scores: {e}"))?;
                let seconds = started.elapsed().as_secs_f64();
                log.line(format!(
                    "reasons for {} customers in {seconds:.2}s ({:.0} rows/s)",
                    snapshot.height(),
                    snapshot.height() as f64 / seconds.max(1e-9)
                ));
                Some(reasons)
            } else {
                None
            };
            let mut frame = risk_frame(&contract, &model, &tiers, &snapshot, &run, reasons)
                .map_err(|e| e.to_string())?;
            let canary_rows = match &canary {
                Some(arm) => Some(arm.score(&contract, &tiers, &snapshot, &run, with_reasons)?),
                None => None,
            };
            // The snapshot is done with: let it go before the exports are encoded.
            drop(snapshot);
            let before = previous.as_ref().map(|(_, before)| before);
            if let Some(before) = before {
                frame = with_previous_tiers(frame, before).map_err(|e| e.to_string())?;
            }
            let canary = match (canary, canary_rows) {
                (Some(arm), Some(mut rows)) => {
                    if let Some(before) = before {
                        rows = with_previous_tiers(rows, before).map_err(|e| e.to_string())?;
                    }
                    let served = served_frame(&frame, &rows, &arm.setting)?;
                    log.line(format!(
                        "canary: v{} serves {} of {} customers ({:.1}%, share {})",
                        arm.version,
                        rows.height(),
                        frame.height(),
                        100.0 * rows.height() as f64 / frame.height().max(1) as f64,
                        arm.setting.share
                    ));
                    Some(CanaryFrames { rows, served })
                }
                _ => None,
            };
            let served = canary.as_ref().map_or(&frame, |c| &c.served);
            let changed = changed_rows(served).map_err(|e| e.to_string())?;
            let counts = tiers.counts(served).map_err(|e| e.to_string())?;
            Ok::<_, String>((frame, canary, changed, counts))
        })
        .await?;
        let rows = frame.height();
        metrics::counter!("churnflow_rows_scored_total", "dag" => ctx.dag.clone())
            .increment(rows as u64);
        let score_seconds = started.elapsed().as_secs_f64();
        ctx.log.line(format!(
            "scored {rows} customers of `{snapshot_key}` with {model_name} v{version} in \
             {score_seconds:.2}s"
        ));
        let parquet_key = format!("{exports}/risk_scores.parquet");
        let csv_key = format!("{exports}/risk_scores.csv");
        // Scoring the day the CRM sees again (a rerun): the CRM goes back to the day published
        // before it until the publish stage decides on the new rows.
        if let Some(before) = warehouse
            .withdraw(&score_date)
            .await
            .map_err(TaskError::new)?
        {
            ctx.log.line(format!(
                "{score_date} was published and is scored again: the CRM shows {before} until the \
                 new scores are published"
            ));
        }
        let load_started = Instant::now();
        let partition = RiskPartition {
            score_date: &score_date,
            model: &model_name,
            role: Role::Champion,
        };
        let canary_partition = RiskPartition {
            role: Role::Canary,
            ..partition
        };
        if canary.is_none() {
            // A rerun of a date a canary served, without it tonight: its rows of the date go in
            // the champion's load (below), its estimates and the champion's kept files here.
            warehouse
                .delete_performance(&score_date, &model_name, Role::Canary)
                .await
                .map_err(TaskError::new)?;
            // And the champion's own files that run kept: the day's files are the champion's.
            let kept = champion_export_prefix(&score_date);
            for name in EXPORT_FILES {
                let key = format!("{kept}/{name}");
                if store.exists(&key).await.map_err(TaskError::new)? {
                    store.delete(&key).await.map_err(TaskError::new)?;
                }
            }
        }
        let staged_csv = store.stage(&csv_key).await.map_err(TaskError::new)?;
        let (loaded, exported, parquet) = match &canary {
            None => {
                load_and_export(
                    &warehouse,
                    &store,
                    (&partition, &[canary_partition]),
                    &frame,
                    staged_csv,
                    &parquet_key,
                )
                .await
            }
            Some(canary) => {
                load_with_canary(
                    &warehouse,
                    &store,
                    (&partition, &frame),
                    (&canary_partition, &canary.rows),
                    &canary.served,
                    staged_csv,
                    &parquet_key,
                )
                .await
            }
        };
        let loaded = match (loaded, exported) {
            (Ok(loaded), Ok(staged_csv)) => {
                // The day's rows are in the risk table: now the files.
                staged_csv.finish().await.map_err(TaskError::new)?;
                loaded
            }
            (loaded, exported) => {
                if let Ok(staged_csv) = exported {
                    staged_csv.abort().await.map_err(TaskError::new)?;
                }
                let error = loaded.err().unwrap_or_else(|| {
                    "the risk table was loaded but its CSV export could not be written; the \
                     load was rolled back"
                        .to_string()
                });
                return Err(TaskError::new(error));
            }
        };
        let load_seconds = load_started.elapsed().as_secs_f64();
        ctx.log.line(format!(
            "risk table: {loaded} rows of {score_date} swapped in ({:?} warehouse) in \
             {load_seconds:.2}s",
            warehouse.backend(),
        ));
        store
            .put_bytes(&parquet_key, parquet.map_err(TaskError::new)?)
            .await
            .map_err(TaskError::new)?;
        let delta_parquet_key = format!("{exports}/risk_scores_delta.parquet");
        let delta_csv_key = format!("{exports}/risk_scores_delta.csv");
        if changed == rows {
            // Every customer changed (the first published day): the delta is the full export,
            // copied in the store rather than encoded again.
            store
                .copy_object(&csv_key, &delta_csv_key)
                .await
                .map_err(TaskError::new)?;
            store
                .copy_object(&parquet_key, &delta_parquet_key)
                .await
                .map_err(TaskError::new)?;
        } else {
            let served = canary.as_ref().map_or(&frame, |c| &c.served);
            let delta = delta(served).map_err(TaskError::new)?;
            let delta_parquet = store
                .encode_parquet(
                    &delta_parquet_key,
                    &typed_for_parquet(&delta).map_err(TaskError::new)?,
                )
                .await
                .map_err(TaskError::new)?;
            store
                .put_bytes(
                    &delta_csv_key,
                    risk_csv(&delta, true).map_err(TaskError::new)?,
                )
                .await
                .map_err(TaskError::new)?;
            store
                .put_bytes(&delta_parquet_key, delta_parquet)
                .await
                .map_err(TaskError::new)?;
        }
        ctx.log.line(match &previous_date {
            Some(before) => format!(
                "delta export: {changed} customers whose tier changed since {before}, the day \
                 published before"
            ),
            None => format!(
                "delta export: all {changed} customers (no day was published before this one)"
            ),
        });
        ctx.log.line(format!(
            "exported to {exports}/; tiers: {}",
            counts
                .iter()
                .map(|c| format!("{} {}", c.tier, c.customers))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(canary) = &canary {
            // The champion's own files of the day, which a rollback of the canary puts back.
            write_files(&store, &champion_export_prefix(&score_date), &frame)
                .await
                .map_err(TaskError::new)?;
            let rows = canary.rows.height();
            ctx.log.line(format!(
                "canary: {rows} rows of v{} stored (role canary) and served in the CRM view and \
                 the exports; the champion's files of the day are under {}/",
                canary_version.unwrap_or_default(),
                champion_export_prefix(&score_date)
            ));
        }
        // The shadow scores the same customers after the champion's rows are in: a shadow
        // that fails is reported, never a reason to hold the day back from the CRM.
        let champion_scores = frame
            .column("churn_probability")
            .and_then(|c| c.f64().cloned())
            .map_err(TaskError::new)?;
        let champion_tiers = frame
            .column("risk_tier")
            .and_then(|c| c.str().cloned())
            .map_err(TaskError::new)?;
        // Tonight's estimate of how these scores will do, checked when the labels land: for each
        // arm, on the customers it serves.
        let (estimate_scores, estimate_tiers) = match &canary {
            Some(canary) => served_in(&canary.served, Role::Champion).map_err(TaskError::new)?,
            None => (champion_scores.clone(), champion_tiers.clone()),
        };
        drop(frame);
        let estimate_started = std::time::Instant::now();
        let estimate = save_estimate(
            &warehouse,
            &ScoredBy {
                score_date: &score_date,
                model: &model_name,
                role: Role::Champion,
                model_version: version,
            },
            &estimate_scores,
            &estimate_tiers,
            &shadow_tiers,
        )
        .await?;
        let canary_output = match (canary, canary_version) {
            (Some(canary), Some(canary_version)) => {
                let (scores, tiers) =
                    served_in(&canary.rows, Role::Canary).map_err(TaskError::new)?;
                save_estimate(
                    &warehouse,
                    &ScoredBy {
                        score_date: &score_date,
                        model: &model_name,
                        role: Role::Canary,
                        model_version: canary_version,
                    },
                    &scores,
                    &tiers,
                    &shadow_tiers,
                )
                .await?;
                serde_json::json!({
                    "version": canary_version,
                    "customers": canary.rows.height(),
                    "share": p.canary.as_ref().map(|c| c.share),
                })
            }
            _ => serde_json::Value::Null,
        };
        let estimate_seconds = estimate_started.elapsed().as_secs_f64();
        ctx.log.line(format!(
            "estimated from the calibrated scores in {estimate_seconds:.2} s: ROC AUC {:.4}, \
             churn rate {:.4}",
            estimate.get("roc_auc").copied().unwrap_or(f64::NAN),
            estimate.get("churn_rate").copied().unwrap_or(f64::NAN)
        ));
        let shadow = match p.shadow {
            Some(choice) => {
                let shadow = ShadowRun {
                    store: &store,
                    warehouse: &warehouse,
                    model_name: &model_name,
                    champion: &champion,
                    date,
                    score_date: &score_date,
                    tiers: &shadow_tiers,
                    contract: shadow_contract,
                };
                match shadow
                    .run(choice, &champion_scores, &champion_tiers, &ctx.log)
                    .await
                {
                    Ok(Some(record)) => serde_json::to_value(&record).map_err(TaskError::new)?,
                    Ok(None) => serde_json::Value::Null,
                    Err(error) => {
                        ctx.log.line(format!(
                            "shadow: FAILED, the champion's day stands: {error}"
                        ));
                        serde_json::json!({ "error": error })
                    }
                }
            }
            None => serde_json::Value::Null,
        };
        // The night's rows are all in: the planner learns how many (the publish and report
        // stages' queries read them next).
        // Everything is committed by now: a failure here slows the queries, it loses nothing.
        let analyzed = Instant::now();
        match warehouse.analyze_risk_scores().await {
            Ok(true) => ctx.log.line(format!(
                "risk table statistics refreshed in {:.2}s",
                analyzed.elapsed().as_secs_f64()
            )),
            Ok(false) => {}
            Err(error) => ctx.log.line(format!(
                "risk table statistics not refreshed ({error}); the report's queries may be slow"
            )),
        }
        Ok(TaskOutcome::Success(serde_json::json!({
            "shadow": shadow,
            "canary": canary_output,
            "rows": rows,
            "model": model_name,
            "model_version": version,
            "exports": exports,
            "changed_since_previous": changed,
            "previous_published": previous_date,
            "tiers": counts,
            "score_seconds": score_seconds,
            "load_seconds": load_seconds,
            "estimate_seconds": estimate_seconds,
        })))
    }
}

/// The tiers with the cut-offs evaluate chose tonight from the actions' economics for the model
/// that scores (`champion`, whose artifact is `model`), and a note per changed tier.
async fn tiers_from_costs(
    store: &DataStore,
    tiers: &Tiers,
    model_name: &str,
    date: chrono::NaiveDate,
    champion: &ModelVersion,
    model: &ChurnModel,
) -> Result<(Tiers, Vec<String>), TaskError> {
    let prefix = artifacts::candidate_prefix(model_name, date);
    let key = artifacts::key(&prefix, artifacts::EVALUATION_FILE);
    // Tonight's evaluation; without one (the stage run alone for a day evaluate did not see),
    // the plans the model card kept from when this version was evaluated as a candidate.
    let (evaluation, source) = match artifacts::get_json::<Evaluation>(store, &key).await {
        Ok(evaluation) => (Some(evaluation), format!("{date}'s evaluation")),
        Err(_) => (
            serde_json::from_value::<Evaluation>(champion.card["evaluation"].clone()).ok(),
            format!("the model card of v{}", champion.version),
        ),
    };
    let Some(plans) = evaluation
        .as_ref()
        .and_then(|e| e.plans_for(champion.version, model.family()))
    else {
        return Err(TaskError::permanent(format!(
            "score.params.thresholds = \"costs\", but neither {date}'s evaluation (`{key}`) nor \
             the model card of {model_name} v{} has cut-offs chosen from costs: set the actions' \
             economics in evaluate.params.actions and run evaluate for the date, or use \
             thresholds = \"typed\"",
            champion.version
        )));
    };
    let cut_offs: Vec<(String, f64, Option<usize>)> = plans
        .iter()
        .map(|plan| {
            (
                plan.action.tier.clone(),
                plan.min_probability,
                plan.action.capacity,
            )
        })
        .collect();
    let (tiers, mut notes) = tiers
        .with_cut_offs(&cut_offs)
        .map_err(|e| TaskError::permanent(format!("score.params.thresholds = \"costs\": {e}")))?;
    notes.push(format!("chosen in {source}"));
    Ok((tiers, notes))
}

/// Loads the risk frame into the warehouse while its CSV export is written to `staged_csv` and its
/// Parquet export encoded: the CSV is encoded once, a piece at a time, and each piece goes both to
/// the warehouse (PostgreSQL's `COPY`) and to the export, so the whole CSV is never held. The
/// staged CSV comes back unfinished, for the caller to finish once the load has committed (or to
/// abort). A failed export stops the pieces, which rolls the load back.
async fn load_and_export(
    warehouse: &Warehouse,
    store: &DataStore,
    (partition, clear): (&RiskPartition<'_>, &[RiskPartition<'_>]),
    frame: &DataFrame,
    staged_csv: StagedWrite,
    parquet_key: &str,
) -> (
    Result<u64, String>,
    Result<StagedWrite, StorageError>,
    Result<Vec<u8>, StorageError>,
) {
    // Two pieces waiting a consumer at most: about 30 MB of CSV in flight with reasons.
    let (to_warehouse, mut warehouse_pieces) = mpsc::channel::<Bytes>(2);
    let (to_export, export_pieces) = mpsc::channel::<Bytes>(2);
    let mut consumers = vec![to_export];
    if warehouse.loads_risk_csv() {
        consumers.push(to_warehouse);
    }
    let encoder = spawn_csv_encoder(frame, consumers);
    // `clear`'s partitions (a canary's rows of an earlier run) go in the same transaction.
    let load = async {
        let load = RiskLoad {
            partition: *partition,
            frame,
            csv: futures::stream::poll_fn(move |cx| warehouse_pieces.poll_recv(cx)).boxed(),
        };
        warehouse
            .replace_risk_partitions(vec![load], clear)
            .await
            .map(|loaded| loaded.first().copied().unwrap_or(0))
    };
    let (loaded, exported, parquet) = tokio::join!(
        load,
        write_pieces(staged_csv, export_pieces),
        encode_parquet_export(store, frame, parquet_key)
    );
    (load_result(loaded, vec![encoder]).await, exported, parquet)
}

/// Writes the CSV pieces as they come to the staged export, and hands it back unfinished.
async fn write_pieces(
    mut staged_csv: StagedWrite,
    mut pieces: mpsc::Receiver<Bytes>,
) -> Result<StagedWrite, StorageError> {
    while let Some(piece) = pieces.recv().await {
        staged_csv.write(piece).await?;
    }
    Ok(staged_csv)
}

/// `frame`'s Parquet export (dates typed), encoded for `parquet_key`.
async fn encode_parquet_export(
    store: &DataStore,
    frame: &DataFrame,
    parquet_key: &str,
) -> Result<Vec<u8>, StorageError> {
    match typed_for_parquet(frame) {
        Ok(typed) => store.encode_parquet(parquet_key, &typed).await,
        Err(err) => Err(StorageError::Root {
            root: store.root().to_string(),
            reason: format!("preparing the Parquet export `{parquet_key}`: {err}"),
        }),
    }
}

/// Encodes `frame`'s risk CSV a piece at a time off the async threads and sends each piece to
/// every consumer; stops when one has gone away (it failed, and says why itself).
fn spawn_csv_encoder(
    frame: &DataFrame,
    consumers: Vec<mpsc::Sender<Bytes>>,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let owned = frame.clone();
    tokio::task::spawn_blocking(move || {
        let pieces = risk_csv_pieces(&owned, CSV_PIECE_ROWS).map_err(|e| e.to_string())?;
        for piece in pieces {
            let piece = Bytes::from(piece.map_err(|e| format!("encoding the risk CSV: {e}"))?);
            if consumers
                .iter()
                .any(|consumer| consumer.blocking_send(piece.clone()).is_err())
            {
                break;
            }
        }
        Ok(())
    })
}

/// A load's result beside its encoder's: an encoder that failed ended the pieces early, so the
/// load saw too few rows and rolled back, and the encoder's error is the one to report.
async fn load_result(
    loaded: Result<u64, WarehouseError>,
    encoders: Vec<tokio::task::JoinHandle<Result<(), String>>>,
) -> Result<u64, String> {
    let mut encoded = Ok(());
    for encoder in encoders {
        let result = encoder_result(encoder).await;
        if encoded.is_ok() {
            encoded = result;
        }
    }
    match (loaded, encoded) {
        (Ok(loaded), Ok(())) => Ok(loaded),
        (_, Err(err)) => Err(err),
        (Err(err), Ok(())) => Err(err.to_string()),
    }
}

/// How a CSV encoder ended (its crash as an error).
async fn encoder_result(
    encoder: tokio::task::JoinHandle<Result<(), String>>,
) -> Result<(), String> {
    match encoder.await {
        Ok(result) => result,
        Err(err) => Err(format!("encoding the risk CSV crashed: {err}")),
    }
}

/// `frame`'s load into `partition`, its CSV encoded a piece at a time beside the load where the
/// warehouse reads CSV (the encoder, to wait for with [`load_result`]).
fn risk_load<'a>(
    warehouse: &Warehouse,
    partition: RiskPartition<'a>,
    frame: &'a DataFrame,
) -> (
    RiskLoad<'a>,
    Option<tokio::task::JoinHandle<Result<(), String>>>,
) {
    let (to_warehouse, mut pieces) = mpsc::channel::<Bytes>(2);
    // Where the warehouse reads the frame itself the sender is dropped: no pieces come.
    let encoder = warehouse
        .loads_risk_csv()
        .then(|| spawn_csv_encoder(frame, vec![to_warehouse]));
    let load = RiskLoad {
        partition,
        frame,
        csv: futures::stream::poll_fn(move |cx| pieces.poll_recv(cx)).boxed(),
    };
    (load, encoder)
}

/// The challenger the canary serves tonight and to which customers.
struct CanaryArm {
    version: i64,
    model: ChurnModel,
    setting: CanarySetting,
}

/// The canary's rows (role canary, its customers only) and what the CRM is served: the champion's
/// rows of the other customers and the canary's rows.
struct CanaryFrames {
    rows: DataFrame,
    served: DataFrame,
}

impl CanaryArm {
    /// Scores the canary's customers of `snapshot` with the challenger (CPU work), with reasons
    /// when the champion's rows have them: a CRM user reads the canary's rows as any other.
    fn score(
        &self,
        contract: &tasks::contract::Contract,
        tiers: &Tiers,
        snapshot: &DataFrame,
        champion_run: &ScoreRun<'_>,
        with_reasons: bool,
    ) -> Result<DataFrame, String> {
        let mask = canary_mask(
            snapshot,
            &contract.key,
            &self.setting.salt,
            self.setting.share,
        )
        .map_err(|e| format!("drawing the canary's customers: {e}"))?;
        let customers = snapshot
            .filter(&mask)
            .map_err(|e| format!("drawing the canary's customers: {e}"))?;
        let reasons = if with_reasons {
            Some(
                tasks::model::reasons::reasons(&self.model, contract, &customers)
                    .map_err(|e| format!("explaining the canary's scores: {e}"))?,
            )
        } else {
            None
        };
        let run = ScoreRun {
            model_version: self.version,
            role: Role::Canary,
            ..*champion_run
        };
        // The canary's customers are a share of the day's: so are its tiers' capacities (the
        // champion's frame kept every capacity over all customers).
        let tiers = tiers.with_capacity_share(self.setting.share);
        risk_frame(contract, &self.model, &tiers, &customers, &run, reasons)
            .map_err(|e| format!("scoring the canary: {e}"))
    }
}

/// What the CRM is served when a canary runs: the champion's rows of the customers outside the
/// canary, then the canary's rows.
fn served_frame(
    champion: &DataFrame,
    canary: &DataFrame,
    setting: &CanarySetting,
) -> Result<DataFrame, String> {
    let in_canary = canary_mask(champion, "customer_id", &setting.salt, setting.share)
        .map_err(|e| format!("drawing the canary's customers: {e}"))?;
    let outside = champion
        .filter(&!&in_canary)
        .map_err(|e| format!("serving the canary: {e}"))?;
    if outside.height() + canary.height() != champion.height() {
        return Err(format!(
            "serving the canary: {} champion rows outside it and {} canary rows do not make the \
             {} customers",
            outside.height(),
            canary.height(),
            champion.height()
        ));
    }
    outside
        .vstack(canary)
        .map_err(|e| format!("serving the canary: {e}"))
}

/// The probabilities and tiers of the rows of `frame` served in `role`'s arm.
fn served_in(frame: &DataFrame, role: Role) -> Result<(Float64Chunked, StringChunked), String> {
    let column = |name: &str| frame.column(name).map_err(|e| e.to_string());
    let arm = column("role")?
        .str()
        .map_err(|e| e.to_string())?
        .equal(role.as_str());
    let rows = frame.filter(&arm).map_err(|e| e.to_string())?;
    let scores = rows
        .column("churn_probability")
        .and_then(|c| c.f64().cloned())
        .map_err(|e| e.to_string())?;
    let tiers = rows
        .column("risk_tier")
        .and_then(|c| c.str().cloned())
        .map_err(|e| e.to_string())?;
    Ok((scores, tiers))
}

/// The canary tonight: the version the shadow `choice` names, loaded, unless it was rolled back
/// as a canary. None, with a line in the log saying why, when there is none: a canary that cannot
/// be served is reported, never a reason to hold the day back (every customer gets the champion).
async fn canary_arm(
    store: &DataStore,
    warehouse: &Warehouse,
    model_name: &str,
    champion: &ModelVersion,
    choice: ShadowChoice,
    setting: &CanarySetting,
    log: &workflows::task::TaskLog,
) -> Option<CanaryArm> {
    let nobody = "every customer gets the champion's score";
    let chosen = match choose_shadow(warehouse, model_name, champion, choice).await {
        Ok(Some(chosen)) => chosen,
        Ok(None) => {
            log.line(format!(
                "canary: no registered version besides the champion and the archived ones; \
                 {nobody}"
            ));
            return None;
        }
        Err(error) => {
            log.line(format!("canary: not served tonight ({error}); {nobody}"));
            return None;
        }
    };
    match warehouse
        .canary_rolled_back(model_name, chosen.version)
        .await
    {
        Ok(false) => {}
        Ok(true) => {
            log.line(format!(
                "canary: v{} was rolled back and is not served again; {nobody}",
                chosen.version
            ));
            return None;
        }
        Err(error) => {
            log.line(format!("canary: not served tonight ({error}); {nobody}"));
            return None;
        }
    }
    match artifacts::load_model(store, &chosen.artifact_prefix).await {
        Ok(model) => Some(CanaryArm {
            version: chosen.version,
            model,
            setting: setting.clone(),
        }),
        Err(error) => {
            log.line(format!(
                "canary: v{} cannot be loaded ({error}); {nobody}",
                chosen.version
            ));
            None
        }
    }
}

/// The version a shadow `choice` names: a pinned version (an error when it is the champion or
/// missing), or the newest registered candidate (None when there is none).
async fn choose_shadow(
    warehouse: &Warehouse,
    model_name: &str,
    champion: &ModelVersion,
    choice: ShadowChoice,
) -> Result<Option<ModelVersion>, String> {
    let versions = warehouse
        .model_versions(model_name)
        .await
        .map_err(|e| e.to_string())?;
    match choice {
        ShadowChoice::Version(version) => {
            match versions.into_iter().find(|v| v.version == version) {
                Some(v) if v.version == champion.version => Err(format!(
                    "shadow = {version}: v{version} is the champion; a shadow is another version"
                )),
                Some(v) => Ok(Some(v)),
                None => Err(format!(
                    "shadow = {version}: {model_name} has no v{version} (see `churnflow models \
                     list`)"
                )),
            }
        }
        ShadowChoice::Named(ShadowName::NewestCandidate) => {
            Ok(versions.into_iter().find(|v| v.stage == Role::Candidate))
        }
    }
}

/// Loads the champion's rows and the canary's into their partitions in one transaction, then
/// writes the served rows as the day's CSV (to `staged_csv`, unfinished) and Parquet exports. The
/// rows are encoded once for each load and once for the export: a canary's night holds more than
/// the single encoding of [`load_and_export`].
async fn load_with_canary(
    warehouse: &Warehouse,
    store: &DataStore,
    champion: (&RiskPartition<'_>, &DataFrame),
    canary: (&RiskPartition<'_>, &DataFrame),
    served: &DataFrame,
    staged_csv: StagedWrite,
    parquet_key: &str,
) -> (
    Result<u64, String>,
    Result<StagedWrite, StorageError>,
    Result<Vec<u8>, StorageError>,
) {
    // Both partitions in one transaction: the CRM never sees the champion's new rows beside the
    // canary's old ones.
    let mut encoders = Vec::new();
    let mut loads = Vec::new();
    for (partition, frame) in [champion, canary] {
        let (load, encoder) = risk_load(warehouse, *partition, frame);
        loads.push(load);
        encoders.extend(encoder);
    }
    let loaded = warehouse
        .replace_risk_partitions(loads, &[])
        .await
        .map(|loaded| loaded.first().copied().unwrap_or(0));
    let loaded = load_result(loaded, encoders).await;
    let (to_export, export_pieces) = mpsc::channel::<Bytes>(2);
    let encoder = spawn_csv_encoder(served, vec![to_export]);
    let (exported, parquet) = tokio::join!(
        write_pieces(staged_csv, export_pieces),
        encode_parquet_export(store, served, parquet_key)
    );
    // An encoder that failed left the export short: the caller aborts it on this error.
    let encoded = encoder_result(encoder).await;
    let loaded = loaded.and_then(|rows| encoded.map(|()| rows));
    (loaded, exported, parquet)
}

/// Writes `frame`'s full and delta exports, CSV and Parquet, under `prefix` (whole files: the
/// champion's own files of a canary's night).
async fn write_files(store: &DataStore, prefix: &str, frame: &DataFrame) -> Result<(), String> {
    let changed = delta(frame).map_err(|e| e.to_string())?;
    for (name, rows) in EXPORT_FILES.chunks(2).zip([frame, &changed]) {
        let csv_key = format!("{prefix}/{}", name[0]);
        let parquet_key = format!("{prefix}/{}", name[1]);
        let csv = risk_csv(rows, true).map_err(|e| format!("{csv_key}: {e}"))?;
        store
            .put_bytes(&csv_key, csv)
            .await
            .map_err(|e| e.to_string())?;
        let typed = typed_for_parquet(rows).map_err(|e| format!("{parquet_key}: {e}"))?;
        let parquet = store
            .encode_parquet(&parquet_key, &typed)
            .await
            .map_err(|e| e.to_string())?;
        store
            .put_bytes(&parquet_key, parquet)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What scoring a shadow model needs from the score stage.
struct ShadowRun<'a> {
    store: &'a DataStore,
    warehouse: &'a Warehouse,
    model_name: &'a str,
    champion: &'a ModelVersion,
    date: chrono::NaiveDate,
    score_date: &'a str,
    tiers: &'a Tiers,
    contract: tasks::contract::Contract,
}

impl ShadowRun<'_> {
    /// Scores the day's snapshot with the shadow `choice` names (nothing when there is no such
    /// version), stores its rows with role shadow and the agreement with the champion's
    /// `champion_scores` / `champion_tiers` (the snapshot's order).
    async fn run(
        self,
        choice: ShadowChoice,
        champion_scores: &Float64Chunked,
        champion_tiers: &StringChunked,
        log: &workflows::task::TaskLog,
    ) -> Result<Option<ShadowRecord>, String> {
        let chosen =
            match choose_shadow(self.warehouse, self.model_name, self.champion, choice).await? {
                Some(chosen) => chosen,
                None => {
                    log.line(
                        "shadow: no registered version besides the champion and the archived \
                         ones; nothing scored in the shadow",
                    );
                    return Ok(None);
                }
            };
        let started = Instant::now();
        let model = artifacts::load_model(self.store, &chosen.artifact_prefix)
            .await
            .map_err(|e| e.to_string())?;
        let snapshot = self
            .store
            .get_parquet(&partition_key(Table::Features, self.date))
            .await
            .map_err(|e| e.to_string())?;
        let scored_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (day, name, version) = (
            self.score_date.to_string(),
            self.model_name.to_string(),
            chosen.version,
        );
        let (tiers, contract) = (self.tiers.clone(), self.contract);
        let (champion_scores, champion_tiers) = (champion_scores.clone(), champion_tiers.clone());
        let (frame, agreement) = blocking("scoring the shadow", move || {
            let run = ScoreRun {
                score_date: &day,
                model: &name,
                model_version: version,
                role: Role::Shadow,
                scored_at: &scored_at,
            };
            let frame = risk_frame(&contract, &model, &tiers, &snapshot, &run, None)
                .map_err(|e| e.to_string())?;
            drop(snapshot);
            let scores: Vec<f64> = frame
                .column("churn_probability")
                .and_then(|c| c.f64().cloned())
                .map_err(|e| e.to_string())?
                .into_no_null_iter()
                .collect();
            let shadow_tiers = frame
                .column("risk_tier")
                .and_then(|c| c.str().cloned())
                .map_err(|e| e.to_string())?;
            let champion_scores: Vec<f64> = champion_scores.into_no_null_iter().collect();
            let champion_tiers: Vec<Option<&str>> = champion_tiers.iter().collect();
            let shadow_tiers: Vec<Option<&str>> = shadow_tiers.iter().collect();
            let agreement = agreement(
                (&champion_scores, &champion_tiers),
                (&scores, &shadow_tiers),
                &tiers,
            )
            .map_err(|e| e.to_string())?;
            Ok::<_, String>((frame, agreement))
        })
        .await
        .map_err(|e| e.to_string())?;
        let partition = RiskPartition {
            score_date: self.score_date,
            model: self.model_name,
            role: Role::Shadow,
        };
        let loaded = load_rows(self.warehouse, &partition, &frame).await?;
        let column = |name: &str| frame.column(name).map_err(|e| e.to_string());
        save_estimate(
            self.warehouse,
            &ScoredBy {
                score_date: self.score_date,
                model: self.model_name,
                role: Role::Shadow,
                model_version: chosen.version,
            },
            column("churn_probability")?
                .f64()
                .map_err(|e| e.to_string())?,
            column("risk_tier")?.str().map_err(|e| e.to_string())?,
            self.tiers,
        )
        .await
        .map_err(|e| e.to_string())?;
        let record = ShadowRecord {
            score_date: self.score_date.to_string(),
            model: self.model_name.to_string(),
            champion_version: self.champion.version,
            shadow_version: chosen.version,
            agreement,
        };
        self.warehouse
            .save_shadow_agreement(&record)
            .await
            .map_err(|e| e.to_string())?;
        let a = &record.agreement;
        log.line(format!(
            "shadow v{} scored {loaded} customers in {:.2}s beside champion v{}: Spearman {:.4}, \
             top-decile overlap {:.1}%, same tier {:.1}%",
            chosen.version,
            started.elapsed().as_secs_f64(),
            self.champion.version,
            a.spearman,
            a.top_decile_overlap * 100.0,
            a.tier_agreement * 100.0
        ));
        Ok(Some(record))
    }
}

/// Loads a risk frame into the warehouse only (no export files): its CSV encoded a piece at a
/// time beside the load where the warehouse reads CSV.
async fn load_rows(
    warehouse: &Warehouse,
    partition: &RiskPartition<'_>,
    frame: &DataFrame,
) -> Result<u64, String> {
    let (load, encoder) = risk_load(warehouse, *partition, frame);
    let loaded = warehouse
        .replace_risk_partitions(vec![load], &[])
        .await
        .map(|loaded| loaded.first().copied().unwrap_or(0));
    load_result(loaded, encoder.into_iter().collect()).await
}

/// Estimates how `scores` (with their `tiers`) will perform from the calibrated probabilities
/// alone and stores the estimate for `scored`; the metrics estimated.
async fn save_estimate(
    warehouse: &Warehouse,
    scored: &ScoredBy<'_>,
    scores: &Float64Chunked,
    tiers: &StringChunked,
    tier_set: &Tiers,
) -> Result<std::collections::BTreeMap<String, f64>, TaskError> {
    let (scores, tiers) = (scores.clone(), tiers.clone());
    let names: Vec<String> = tier_set.tiers().iter().map(|t| t.name.clone()).collect();
    let estimate = blocking("estimating the performance", move || {
        let scores: Vec<f64> = scores.into_no_null_iter().collect();
        let tiers: Vec<Option<&str>> = tiers.iter().collect();
        Ok::<_, String>(performance(&scores, &tiers, &names, None))
    })
    .await?;
    warehouse
        .save_performance(scored, Measured::Estimated, &estimate)
        .await
        .map_err(TaskError::new)?;
    Ok(estimate)
}
