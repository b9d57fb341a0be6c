//! `train`: builds the leakage-safe training set of the logical date, fits the baseline model on
//! it and stages the candidate (model, validation rows, drift reference, training summary) under
//! `models/<model>/candidates/<date>/`.

use std::time::Instant;

use async_trait::async_trait;
use rand::SeedableRng;
use rand::seq::index::sample;
use serde::Deserialize;
use tasks::artifacts::{self, SCORE_COLUMN};
use tasks::calibration::Method;
use tasks::metrics;
use tasks::model::{BoostingParams, ChurnModel, Family, FamilyParams, LogisticParams};
use tasks::model_card::{CalibrationSummary, FamilyOutcome, TrainingSummary};
use tasks::polars::prelude::*;
use tasks::training_set::{self, TrainingSetSpec};
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::{ModelParams, StageEnv, blocking_task};

pub struct Train {
    pub env: StageEnv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainStageParams {
    #[serde(flatten)]
    pub model: ModelParams,
    /// How far back (days before T - horizon) labelled snapshots are used.
    #[serde(default = "default_window")]
    pub window_days: u32,
    /// The share held out for validation when only one labelled snapshot exists.
    #[serde(default = "default_holdout")]
    pub holdout_fraction: f64,
    /// A cap on training rows (stratified sample).
    pub max_train_rows: Option<usize>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The families to fit, each with its parameters; the logistic regression alone when absent.
    pub families: Option<FamilyTable>,
    /// Logistic-regression settings written before families existed (DAG files of that time
    /// keep working): the L2 penalty, iterations and convergence tolerance.
    pub alpha: Option<f64>,
    pub max_iterations: Option<u64>,
    pub gradient_tolerance: Option<f64>,
    /// Rows of the training set kept as the drift reference.
    #[serde(default = "default_reference_rows")]
    pub reference_rows: usize,
    /// How raw scores become probabilities: `sigmoid` (Platt), `isotonic`, or `auto` (the one
    /// with the lower log loss on the validation rows).
    #[serde(default)]
    pub calibration: Method,
    /// The share of training rows held out from the fit to calibrate on (stratified).
    #[serde(default = "default_calibration_fraction")]
    pub calibration_fraction: f64,
    /// When to fit: `nightly` (every run) or `on_request` (only while the model has no champion
    /// or a request is open: decay found by the outcomes task or high drift found by the drift
    /// task, in `model_requests`). Either way the run meets every open request and says so.
    #[serde(default)]
    pub retrain: RetrainWhen,
}

/// `train.params.retrain`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetrainWhen {
    #[default]
    Nightly,
    OnRequest,
}

/// The first words of the reason train gives when it skips for want of a request: evaluate, gate
/// and register skip after it.
pub const NOT_REQUESTED: &str = "no retrain requested";

fn default_calibration_fraction() -> f64 {
    0.2
}

fn default_window() -> u32 {
    365
}
fn default_holdout() -> f64 {
    0.2
}
fn default_seed() -> u64 {
    42
}

/// `train.params.families`: one table per family to fit; a family not named is not fitted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyTable {
    pub logistic_regression: Option<LogisticParams>,
    pub gradient_boosting: Option<BoostingParams>,
}

impl TrainStageParams {
    /// The families to fit, simplest first.
    pub fn family_params(&self) -> Vec<FamilyParams> {
        let legacy = || {
            let defaults = LogisticParams::default();
            LogisticParams {
                alpha: self.alpha.unwrap_or(defaults.alpha),
                max_iterations: self.max_iterations.unwrap_or(defaults.max_iterations),
                gradient_tolerance: self
                    .gradient_tolerance
                    .unwrap_or(defaults.gradient_tolerance),
                ..defaults
            }
        };
        let Some(table) = &self.families else {
            return vec![FamilyParams::LogisticRegression(legacy())];
        };
        let mut families = Vec::new();
        if let Some(params) = table.logistic_regression {
            families.push(FamilyParams::LogisticRegression(params));
        }
        if let Some(params) = &table.gradient_boosting {
            families.push(FamilyParams::GradientBoosting(params.clone()));
        }
        families
    }
}
fn default_reference_rows() -> usize {
    100_000
}

/// How calibration changed the scores of the validation rows, for the log and the model card.
fn calibration_summary(
    model: &ChurnModel,
    rows: usize,
    raw: &[f64],
    calibrated: &[f64],
    labels: &[bool],
) -> CalibrationSummary {
    let mean = |scores: &[f64]| scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    let ece = |scores: &[f64]| {
        metrics::expected_calibration_error(&metrics::reliability(
            scores,
            labels,
            metrics::RELIABILITY_BINS,
        ))
    };
    CalibrationSummary {
        method: model
            .calibrator
            .as_ref()
            .map_or("none", |c| c.method())
            .to_string(),
        rows,
        mean_score_before: mean(raw),
        mean_score_after: mean(calibrated),
        observed_rate: labels.iter().filter(|y| **y).count() as f64 / labels.len().max(1) as f64,
        ece_before: ece(raw),
        ece_after: ece(calibrated),
    }
}

/// Up to `rows` training rows (a seeded random sample), kept as the drift reference.
fn reference_sample(features: &DataFrame, rows: usize, seed: u64) -> Result<DataFrame, String> {
    Ok(if features.height() > rows {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut picked: Vec<IdxSize> = sample(&mut rng, features.height(), rows)
            .into_iter()
            .map(|i| i as IdxSize)
            .collect();
        picked.sort_unstable();
        features
            .take(&IdxCa::from_vec("idx".into(), picked))
            .map_err(|e| e.to_string())?
    } else {
        features.clone()
    })
}

/// The reference sample with the model's scores beside it.
fn scored_reference(model: &ChurnModel, sampled: DataFrame) -> Result<DataFrame, String> {
    let scores = model.predict(&sampled).map_err(|e| e.to_string())?;
    let mut reference = sampled;
    reference
        .with_column(Column::new(SCORE_COLUMN.into(), scores))
        .map_err(|e| e.to_string())?;
    Ok(reference)
}

/// A family's candidate, fitted and calibrated, with what staging needs.
struct FittedCandidate {
    model: ChurnModel,
    reference: DataFrame,
    calibration: CalibrationSummary,
    fit_seconds: f64,
}

/// What training did with one family: its candidate, or why there is none.
type FamilyResult = (Family, Result<FittedCandidate, String>);

/// Fits one family on the fit rows, calibrates it on the held-out rows and scores the reference
/// sample with it.
fn fit_candidate(
    params: &FamilyParams,
    contract: &tasks::contract::Contract,
    fit: (DataFrame, &[bool]),
    held_out: &training_set::Labelled,
    validation: &training_set::Labelled,
    method: Method,
    sampled: DataFrame,
) -> Result<FittedCandidate, String> {
    let started = Instant::now();
    let mut model = ChurnModel::new(
        params
            .fit(contract, fit.0, fit.1)
            .map_err(|e| e.to_string())?,
    );
    let margins = model
        .margins(&validation.features)
        .map_err(|e| e.to_string())?;
    let raw = model.probabilities(&margins);
    model
        // One-class calibration rows are refused before any family is fitted.
        .calibrate(method, &held_out.features, &held_out.labels)
        .map_err(|e| e.to_string())?;
    let calibrated = model.probabilities(&margins);
    let calibration = calibration_summary(
        &model,
        held_out.labels.len(),
        &raw,
        &calibrated,
        &validation.labels,
    );
    let reference = scored_reference(&model, sampled)?;
    Ok(FittedCandidate {
        model,
        reference,
        calibration,
        fit_seconds: started.elapsed().as_secs_f64(),
    })
}

#[async_trait]
impl Task for Train {
    type Params = TrainStageParams;

    fn kind(&self) -> &'static str {
        "train"
    }

    fn check(&self, p: &TrainStageParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        problems.at_least_one("window_days", u64::from(p.window_days));
        problems.open_unit("holdout_fraction", p.holdout_fraction);
        problems.open_unit("calibration_fraction", p.calibration_fraction);
        problems.at_least_one("reference_rows", p.reference_rows as u64);
        if let Some(rows) = p.max_train_rows {
            problems.at_least_one("max_train_rows", rows as u64);
        }
        if p.families.is_some()
            && (p.alpha.is_some() || p.max_iterations.is_some() || p.gradient_tolerance.is_some())
        {
            problems.push(
                "alpha, max_iterations and gradient_tolerance belong under \
                 families.logistic_regression when `families` is set",
            );
        }
        let families = p.family_params();
        if families.is_empty() {
            problems.push(
                "families names no family: add [families.logistic_regression] and/or \
                 [families.gradient_boosting]",
            );
        }
        for family in &families {
            for problem in family.problems() {
                match p.families {
                    Some(_) => problems.push(format!("families.{}.{problem}", family.family())),
                    None => problems.push(problem),
                }
            }
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: TrainStageParams) -> Result<TaskOutcome, TaskError> {
        let contract = super::load_contract(p.model.contract.as_deref())?;
        let store = self.env.store()?;
        let date = ctx.logical_date.day();
        let warehouse = self.env.warehouse().await?;
        let requests = warehouse
            .model_requests(&p.model.model, true)
            .await
            .map_err(TaskError::new)?;
        if p.retrain == RetrainWhen::OnRequest && requests.is_empty() {
            let champion = warehouse
                .champion(&p.model.model)
                .await
                .map_err(TaskError::new)?;
            if let Some(champion) = champion {
                return Ok(TaskOutcome::Skipped(format!(
                    "{NOT_REQUESTED} (retrain = \"on_request\"): no decay or high drift has \
                     asked for one since the last fit; champion v{} (trained for {}) scores",
                    champion.version, champion.logical_date
                )));
            }
            ctx.log
                .line("no champion yet: training although no retrain was requested");
        }
        for request in &requests {
            ctx.log.line(format!(
                "meets the {} request of the {} task of {}: {}",
                request.request.as_str(),
                request.requested_by,
                request.requested_on,
                request.reason
            ));
        }
        let started = Instant::now();
        let spec = TrainingSetSpec {
            logical_date: date,
            window_days: p.window_days,
            holdout_fraction: p.holdout_fraction,
            max_train_rows: p.max_train_rows,
            seed: p.seed,
        };
        let set = training_set::build(&store, &contract, &spec)
            .await
            .map_err(TaskError::new)?;
        let train_positives = set.train.labels.iter().filter(|l| **l).count();
        ctx.log.line(format!(
            "training set: {} rows from {} snapshot(s) ({} churned), {} validation rows ({:?}), \
             built in {:.1}s",
            set.train.labels.len(),
            set.train_snapshots.len(),
            train_positives,
            set.validation.labels.len(),
            set.validation_kind,
            started.elapsed().as_secs_f64()
        ));
        let families = p.family_params();
        let train_rows = set.train.labels.len();
        let (train, validation) = (set.train, set.validation);
        let fit_contract = contract.clone();
        let (reference_rows, seed) = (p.reference_rows, p.seed);
        let (method, calibration_fraction) = (p.calibration, p.calibration_fraction);
        let log = ctx.log.clone();
        let (results, validation_frame) = blocking_task("fitting the models", move || {
            let failed = |e: &dyn std::fmt::Display| TaskError::new(format!("training: {e}"));
            // Calibration rows never take part in the fit: a model is over-confident on its own
            // training rows, and a calibration fitted there would keep it so.
            let (held_out, fit) = training_set::stratified_split(train, calibration_fraction, seed)
                .map_err(|e| failed(&e))?;
            if held_out.labels.iter().all(|y| *y) || held_out.labels.iter().all(|y| !*y) {
                return Err(TaskError::permanent(format!(
                    "the {} calibration rows hold only one class: the training set is too small \
                     for calibration_fraction {calibration_fraction}",
                    held_out.labels.len()
                )));
            }
            let sampled =
                reference_sample(&fit.features, reference_rows, seed).map_err(|e| failed(&e))?;
            // One family after the other: each fit already uses every core, and the last one is
            // given the training frame to free as it transforms it.
            let mut fit_features = Some(fit.features);
            let mut results: Vec<FamilyResult> = Vec::new();
            for (i, params) in families.iter().enumerate() {
                let features = if i + 1 == families.len() {
                    fit_features.take()
                } else {
                    fit_features.clone()
                }
                .ok_or_else(|| failed(&"the training rows were given away"))?;
                log.line(format!(
                    "fitting {} on {} rows ({} held out to calibrate)",
                    params.family().display_name(),
                    fit.labels.len(),
                    held_out.labels.len()
                ));
                let result = fit_candidate(
                    params,
                    &fit_contract,
                    (features, &fit.labels),
                    &held_out,
                    &validation,
                    method,
                    sampled.clone(),
                );
                results.push((params.family(), result));
            }
            let validation_frame = artifacts::with_labels(&validation.features, &validation.labels)
                .map_err(|e| failed(&e))?;
            Ok((results, validation_frame))
        })
        .await?;
        let prefix = artifacts::candidate_prefix(&p.model.model, date);
        let mut staged = Vec::new();
        let mut outcomes = Vec::new();
        for (family, result) in results {
            match result {
                Ok(candidate) => {
                    let c = &candidate.calibration;
                    ctx.log.line(format!(
                        "{family}: {} in {:.1}s; calibrated ({}) on {} held-out rows: on the \
                         validation rows the mean score went {:.4} -> {:.4} against a churn rate \
                         of {:.4}, the expected calibration error {:.4} -> {:.4}",
                        candidate.model.describe().summary,
                        candidate.fit_seconds,
                        c.method,
                        c.rows,
                        c.mean_score_before,
                        c.mean_score_after,
                        c.observed_rate,
                        c.ece_before,
                        c.ece_after
                    ));
                    outcomes.push(FamilyOutcome {
                        family,
                        error: None,
                    });
                    staged.push((family, candidate));
                }
                Err(error) => {
                    ctx.log.line(format!("{family}: FIT FAILED: {error}"));
                    outcomes.push(FamilyOutcome {
                        family,
                        error: Some(error),
                    });
                }
            }
        }
        if staged.is_empty() {
            let reasons: Vec<String> = outcomes
                .iter()
                .map(|o| format!("{}: {}", o.family, o.error.as_deref().unwrap_or("")))
                .collect();
            return Err(TaskError::new(format!(
                "no model family could be fitted ({}); the champion stays",
                reasons.join("; ")
            )));
        }
        let features = contract.feature_names();
        let put = |e: artifacts::ArtifactError| TaskError::new(e);
        let mut validation_frame = validation_frame;
        store
            .put_parquet(
                &artifacts::key(&prefix, artifacts::VALIDATION_FILE),
                &mut validation_frame,
            )
            .await
            .map_err(TaskError::new)?;
        for (family, candidate) in staged {
            let family_prefix = artifacts::family_prefix(&prefix, family);
            let summary = TrainingSummary {
                model: p.model.model.clone(),
                logical_date: date,
                label: contract.label.clone(),
                label_positive: contract.label_positive.clone(),
                features: features.clone(),
                window_days: p.window_days,
                train_snapshots: set.train_snapshots.clone(),
                validation: set.validation_kind.clone(),
                train_rows,
                train_positives,
                validation_rows: validation_frame.height(),
                fingerprint: set.fingerprint.clone(),
                family: candidate.model.describe(),
                fit_seconds: candidate.fit_seconds,
                calibration: Some(candidate.calibration.clone()),
            };
            artifacts::put_json(
                &store,
                &artifacts::key(&family_prefix, artifacts::MODEL_FILE),
                &candidate.model,
            )
            .await
            .map_err(put)?;
            let mut reference = candidate.reference;
            store
                .put_parquet(
                    &artifacts::key(&family_prefix, artifacts::REFERENCE_FILE),
                    &mut reference,
                )
                .await
                .map_err(TaskError::new)?;
            artifacts::put_json(
                &store,
                &artifacts::key(&family_prefix, artifacts::TRAINING_FILE),
                &summary,
            )
            .await
            .map_err(put)?;
        }
        // Written last: evaluate finds the candidates through it.
        artifacts::put_json(
            &store,
            &artifacts::key(&prefix, artifacts::FAMILIES_FILE),
            &outcomes,
        )
        .await
        .map_err(put)?;
        ctx.log.line(format!("candidates staged under {prefix}/"));
        if !requests.is_empty() {
            let seqs: Vec<i64> = requests.iter().map(|r| r.seq).collect();
            warehouse
                .meet_requests(
                    &seqs,
                    &date.to_string(),
                    &format!(
                        "candidates fitted and calibrated on data up to {date} (staged under \
                         {prefix}/); evaluate chooses their cut-offs, and the gate decides \
                         whether one replaces the champion"
                    ),
                )
                .await
                .map_err(TaskError::new)?;
        }
        Ok(TaskOutcome::Success(serde_json::json!({
            "requests_met": requests,
            "model": p.model.model,
            "candidate": prefix,
            "train_rows": train_rows,
            "validation_rows": validation_frame.height(),
            "families": outcomes,
        })))
    }
}
