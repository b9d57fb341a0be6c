//! `train`: builds the leakage-safe training set of the logical date, fits the baseline model on
//! it and stages the candidate (model, validation rows, drift reference, training summary) under
//! `models/<model>/candidates/<date>/`.

use std::time::Instant;

use async_trait::async_trait;
use rand::SeedableRng;
use rand::seq::index::sample;
use serde::Deserialize;
use tasks::artifacts::{self, SCORE_COLUMN};
use tasks::calibration::{CalibrationError, Method};
use tasks::metrics;
use tasks::model::{ChurnModel, ModelError, TrainParams};
use tasks::model_card::{CalibrationSummary, TrainingSummary};
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
    /// L2 penalty of the logistic regression.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_iterations")]
    pub max_iterations: u64,
    /// Convergence: fitting stops when the norm of the mean loss's gradient falls below this
    /// (scikit-learn's `tol`).
    #[serde(default = "default_gradient_tolerance")]
    pub gradient_tolerance: f64,
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
}

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
fn default_alpha() -> f64 {
    TrainParams::default().alpha
}
fn default_iterations() -> u64 {
    TrainParams::default().max_iterations
}
fn default_gradient_tolerance() -> f64 {
    TrainParams::default().gradient_tolerance
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
        problems.positive("alpha", p.alpha);
        problems.at_least_one("max_iterations", p.max_iterations);
        problems.positive("gradient_tolerance", p.gradient_tolerance);
        problems.at_least_one("reference_rows", p.reference_rows as u64);
        if let Some(rows) = p.max_train_rows {
            problems.at_least_one("max_train_rows", rows as u64);
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: TrainStageParams) -> Result<TaskOutcome, TaskError> {
        let contract = super::load_contract(p.model.contract.as_deref())?;
        let store = self.env.store()?;
        let date = ctx.logical_date.day();
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
        let params = TrainParams {
            alpha: p.alpha,
            max_iterations: p.max_iterations,
            balance_classes: true,
            gradient_tolerance: p.gradient_tolerance,
        };
        let fit_started = Instant::now();
        let train_rows = set.train.labels.len();
        let (train, validation) = (set.train, set.validation);
        let fit_contract = contract.clone();
        let (reference_rows, seed) = (p.reference_rows, p.seed);
        let (method, calibration_fraction) = (p.calibration, p.calibration_fraction);
        let (model, reference, validation_frame, calibration) =
            blocking_task("fitting the model", move || {
                let failed =
                    |e: &dyn std::fmt::Display| TaskError::new(format!("fitting the model: {e}"));
                // Calibration rows never take part in the fit: a model is over-confident on its own
                // training rows, and a calibration fitted there would keep it so.
                let (held_out, fit) =
                    training_set::stratified_split(train, calibration_fraction, seed)
                        .map_err(|e| failed(&e))?;
                let sampled = reference_sample(&fit.features, reference_rows, seed)
                    .map_err(|e| failed(&e))?;
                let mut model =
                    ChurnModel::fit_owned(&fit_contract, fit.features, &fit.labels, params)
                        .map_err(|e| failed(&e))?;
                let margins = model
                    .margins(&validation.features)
                    .map_err(|e| failed(&e))?;
                let raw = model.probabilities(&margins);
                model
                    .calibrate(method, &held_out.features, &held_out.labels)
                    .map_err(|e| match e {
                        // Too few churners to calibrate on: more rows, not a retry, will help.
                        ModelError::Calibration(CalibrationError::OneClass(_)) => {
                            TaskError::permanent(format!(
                                "{e}: the training set is too small for calibration_fraction \
                                 {calibration_fraction}"
                            ))
                        }
                        other => failed(&other),
                    })?;
                let calibrated = model.probabilities(&margins);
                let calibration = calibration_summary(
                    &model,
                    held_out.labels.len(),
                    &raw,
                    &calibrated,
                    &validation.labels,
                );
                let reference = scored_reference(&model, sampled).map_err(|e| failed(&e))?;
                let validation_frame =
                    artifacts::with_labels(&validation.features, &validation.labels)
                        .map_err(|e| failed(&e))?;
                Ok((model, reference, validation_frame, calibration))
            })
            .await?;
        ctx.log.line(format!(
            "calibrated ({}) on {} held-out rows; on the validation rows the mean score went \
             {:.4} -> {:.4} against a churn rate of {:.4}, the expected calibration error \
             {:.4} -> {:.4}",
            calibration.method,
            calibration.rows,
            calibration.mean_score_before,
            calibration.mean_score_after,
            calibration.observed_rate,
            calibration.ece_before,
            calibration.ece_after
        ));
        let fit_seconds = fit_started.elapsed().as_secs_f64();
        ctx.log.line(format!(
            "fitted {} on {} features in {fit_seconds:.1}s ({} L-BFGS iterations, {})",
            p.model.model,
            model.feature_names.len(),
            model.iterations,
            if model.converged {
                "converged"
            } else {
                "stopped at max_iterations before the gradient tolerance was met"
            }
        ));
        let mut features = contract.numeric_features();
        features.extend(contract.categorical_features());
        let summary = TrainingSummary {
            model: p.model.model.clone(),
            logical_date: date,
            label: contract.label.clone(),
            label_positive: contract.label_positive.clone(),
            features,
            window_days: p.window_days,
            train_snapshots: set.train_snapshots,
            validation: set.validation_kind,
            train_rows,
            train_positives,
            validation_rows: validation_frame.height(),
            fingerprint: set.fingerprint,
            params,
            fit_seconds,
            calibration: Some(calibration.clone()),
        };
        let prefix = artifacts::candidate_prefix(&p.model.model, date);
        let put = |e: artifacts::ArtifactError| TaskError::new(e);
        artifacts::put_json(
            &store,
            &artifacts::key(&prefix, artifacts::MODEL_FILE),
            &model,
        )
        .await
        .map_err(put)?;
        let mut reference = reference;
        let mut validation_frame = validation_frame;
        store
            .put_parquet(
                &artifacts::key(&prefix, artifacts::REFERENCE_FILE),
                &mut reference,
            )
            .await
            .map_err(TaskError::new)?;
        store
            .put_parquet(
                &artifacts::key(&prefix, artifacts::VALIDATION_FILE),
                &mut validation_frame,
            )
            .await
            .map_err(TaskError::new)?;
        artifacts::put_json(
            &store,
            &artifacts::key(&prefix, artifacts::TRAINING_FILE),
            &summary,
        )
        .await
        .map_err(put)?;
        ctx.log.line(format!("candidate staged under {prefix}/"));
        Ok(TaskOutcome::Success(serde_json::json!({
            "model": p.model.model,
            "candidate": prefix,
            "train_rows": summary.train_rows,
            "validation_rows": summary.validation_rows,
            "fit_seconds": fit_seconds,
            "calibration": calibration,
        })))
    }
}
