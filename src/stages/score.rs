//! `score`: the champion scores every customer of the logical date's snapshot. The day's rows
//! replace that date's partition of the risk table at once, then go out as CSV and Parquet under
//! `exports/risk_scores/score_date=<date>/`. A failure leaves yesterday's rows and files as they
//! were.

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;
use tasks::agreement::agreement;
use tasks::artifacts;
use tasks::estimation::performance;
use tasks::identity::Role;
use tasks::model::ChurnModel;
use tasks::model_card::Evaluation;
use tasks::polars::prelude::DataFrame;
use tasks::polars::prelude::{Float64Chunked, StringChunked};
use tasks::scoring::{
    ScoreRun, Tier, Tiers, changed_rows, delta, risk_frame, typed_for_parquet, with_previous_tiers,
};
use tasks::storage::{DataStore, StagedWrite, StorageError, Table, partition_key};
use tasks::warehouse::{
    CSV_PIECE_ROWS, RiskPartition, Warehouse, WarehouseError, risk_csv, risk_csv_pieces,
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
        let (frame, changed, counts) = blocking("scoring", move || {
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
            // The snapshot is done with: let it go before the exports are encoded.
            drop(snapshot);
            if let Some((_, before)) = &previous {
                frame = with_previous_tiers(frame, before).map_err(|e| e.to_string())?;
            }
            let changed = changed_rows(&frame).map_err(|e| e.to_string())?;
            let counts = tiers.counts(&frame).map_err(|e| e.to_string())?;
            Ok::<_, String>((frame, changed, counts))
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
        let staged_csv = store.stage(&csv_key).await.map_err(TaskError::new)?;
        let (loaded, exported, parquet) = load_and_export(
            &warehouse,
            &store,
            &partition,
            &frame,
            staged_csv,
            &parquet_key,
        )
        .await;
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
            let delta = delta(&frame).map_err(TaskError::new)?;
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
        drop(frame);
        // Tonight's estimate of how these scores will do, checked when the labels land.
        let estimate = save_estimate(
            &warehouse,
            &ScoredBy {
                score_date: &score_date,
                model: &model_name,
                role: Role::Champion,
                model_version: version,
            },
            &champion_scores,
            &champion_tiers,
            &shadow_tiers,
        )
        .await?;
        ctx.log.line(format!(
            "estimated from the calibrated scores: ROC AUC {:.4}, churn rate {:.4}",
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
        Ok(TaskOutcome::Success(serde_json::json!({
            "shadow": shadow,
            "rows": rows,
            "model": model_name,
            "model_version": version,
            "exports": exports,
            "changed_since_previous": changed,
            "previous_published": previous_date,
            "tiers": counts,
            "score_seconds": score_seconds,
            "load_seconds": load_seconds,
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
    partition: &RiskPartition<'_>,
    frame: &DataFrame,
    mut staged_csv: StagedWrite,
    parquet_key: &str,
) -> (
    Result<u64, String>,
    Result<StagedWrite, StorageError>,
    Result<Vec<u8>, StorageError>,
) {
    // Two pieces waiting a consumer at most: about 30 MB of CSV in flight with reasons.
    let (to_warehouse, mut warehouse_pieces) = mpsc::channel::<Bytes>(2);
    let (to_export, mut export_pieces) = mpsc::channel::<Bytes>(2);
    let mut consumers = vec![to_export];
    if warehouse.loads_risk_csv() {
        consumers.push(to_warehouse);
    }
    let encoder = spawn_csv_encoder(frame, consumers);
    let load = warehouse.replace_risk_scores(
        partition,
        frame,
        futures::stream::poll_fn(move |cx| warehouse_pieces.poll_recv(cx)),
    );
    let export = async move {
        while let Some(piece) = export_pieces.recv().await {
            staged_csv.write(piece).await?;
        }
        Ok(staged_csv)
    };
    let typed = typed_for_parquet(frame);
    let parquet = async {
        match typed {
            Ok(typed) => store.encode_parquet(parquet_key, &typed).await,
            Err(err) => Err(StorageError::Root {
                root: store.root().to_string(),
                reason: format!("preparing the Parquet export `{parquet_key}`: {err}"),
            }),
        }
    };
    let (loaded, exported, parquet) = tokio::join!(load, export, parquet);
    (load_result(loaded, Some(encoder)).await, exported, parquet)
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
    encoder: Option<tokio::task::JoinHandle<Result<(), String>>>,
) -> Result<u64, String> {
    let encoded = match encoder {
        Some(encoder) => match encoder.await {
            Ok(result) => result,
            Err(err) => Err(format!("encoding the risk CSV crashed: {err}")),
        },
        None => Ok(()),
    };
    match (loaded, encoded) {
        (Ok(loaded), Ok(())) => Ok(loaded),
        (_, Err(err)) => Err(err),
        (Err(err), Ok(())) => Err(err.to_string()),
    }
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
        let versions = self
            .warehouse
            .model_versions(self.model_name)
            .await
            .map_err(|e| e.to_string())?;
        let chosen = match choice {
            ShadowChoice::Version(version) => {
                let found = versions.into_iter().find(|v| v.version == version);
                match found {
                    Some(v) if v.version == self.champion.version => {
                        return Err(format!(
                            "shadow = {version}: v{version} is the champion; a shadow is another \
                             version"
                        ));
                    }
                    Some(v) => v,
                    None => {
                        return Err(format!(
                            "shadow = {version}: {} has no v{version} (see `churnflow models \
                             list`)",
                            self.model_name
                        ));
                    }
                }
            }
            ShadowChoice::Named(ShadowName::NewestCandidate) => {
                match versions.into_iter().find(|v| v.stage == Role::Candidate) {
                    Some(v) => v,
                    None => {
                        log.line(
                            "shadow: no registered version besides the champion and the archived \
                             ones; nothing scored in the shadow",
                        );
                        return Ok(None);
                    }
                }
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
    let (to_warehouse, mut pieces) = mpsc::channel::<Bytes>(2);
    // Where the warehouse reads the frame itself the sender is dropped: no pieces come.
    let encoder = warehouse
        .loads_risk_csv()
        .then(|| spawn_csv_encoder(frame, vec![to_warehouse]));
    let loaded = warehouse
        .replace_risk_scores(
            partition,
            frame,
            futures::stream::poll_fn(move |cx| pieces.poll_recv(cx)),
        )
        .await;
    load_result(loaded, encoder).await
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
