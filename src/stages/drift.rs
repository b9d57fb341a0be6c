//! `drift`: today's snapshot and today's scores against the champion's training reference, one
//! row per feature (and one for the score) to the warehouse. Severity follows the PSI and
//! effect-size thresholds of dags.toml; high drift is alerted by the report stage.

use async_trait::async_trait;
use serde::Deserialize;
use tasks::artifacts::{self, SCORE_COLUMN};
use tasks::drift::{Severity, Thresholds};
use tasks::snapshot_drift::{feature_drift, numeric_values, prediction_drift};
use tasks::storage::{Table, partition_key};
use tasks::warehouse::{DriftRow, RequestKind};
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::score::{champion_export_prefix, export_prefix};
use super::{ModelParams, StageEnv, blocking};

pub struct Drift {
    pub env: StageEnv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftParams {
    #[serde(flatten)]
    pub model: ModelParams,
    /// Severity thresholds; the defaults of `tasks::drift::Thresholds` when absent.
    pub thresholds: Option<Thresholds>,
}

#[async_trait]
impl Task for Drift {
    type Params = DriftParams;

    fn kind(&self) -> &'static str {
        "drift"
    }

    fn check(&self, p: &DriftParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        if let Some(thresholds) = &p.thresholds {
            for (name, levels) in [
                ("psi", thresholds.psi),
                ("wasserstein", thresholds.wasserstein),
                ("jensen_shannon", thresholds.jensen_shannon),
            ] {
                let ordered = 0.0 <= levels.low
                    && levels.low <= levels.medium
                    && levels.medium <= levels.high;
                if !ordered || !levels.high.is_finite() {
                    problems.push(format!(
                        "thresholds.{name}: low {}, medium {}, high {} must satisfy \
                         0 <= low <= medium <= high",
                        levels.low, levels.medium, levels.high
                    ));
                }
            }
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: DriftParams) -> Result<TaskOutcome, TaskError> {
        let contract = super::load_contract(p.model.contract.as_deref())?;
        let thresholds = p.thresholds.unwrap_or_default();
        let store = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let model_name = p.model.model.clone();
        let champion = warehouse
            .champion(&model_name)
            .await
            .map_err(TaskError::new)?
            .ok_or_else(|| {
                TaskError::new(format!(
                    "model `{model_name}` has no champion to compare with"
                ))
            })?;
        let reference = store
            .get_parquet(&artifacts::key(
                &champion.artifact_prefix,
                artifacts::REFERENCE_FILE,
            ))
            .await
            .map_err(TaskError::new)?;
        let date = ctx.logical_date.day();
        let current = store
            .get_parquet(&partition_key(Table::Features, date))
            .await
            .map_err(TaskError::new)?;
        // The champion's own scores: on a canary's night the day's export also holds the
        // canary's, which the champion's reference says nothing about.
        let champion_key = format!(
            "{}/risk_scores.parquet",
            champion_export_prefix(&date.to_string())
        );
        let scores_key = if store.exists(&champion_key).await.map_err(TaskError::new)? {
            champion_key
        } else {
            format!("{}/risk_scores.parquet", export_prefix(&date.to_string()))
        };
        let scores = store.get_parquet(&scores_key).await.map_err(|e| {
            TaskError::new(format!(
                "today's scores are missing (the score stage writes `{scores_key}`): {e}"
            ))
        })?;
        let drifts = blocking("measuring drift", move || {
            let features = feature_drift(&contract, &reference, &current, &thresholds)
                .map_err(|e| e.to_string())?;
            let prediction = prediction_drift(
                &numeric_values(&reference, SCORE_COLUMN).map_err(|e| e.to_string())?,
                &numeric_values(&scores, "churn_probability").map_err(|e| e.to_string())?,
                &thresholds,
            )
            .map_err(|e| e.to_string())?;
            Ok::<_, String>((features, prediction))
        })
        .await?;
        let (features, prediction) = drifts;
        let row = |kind: &str, drift| DriftRow {
            model: model_name.clone(),
            model_version: champion.version,
            kind: kind.to_string(),
            drift,
        };
        let mut rows: Vec<DriftRow> = features.into_iter().map(|d| row("feature", d)).collect();
        rows.push(row("prediction", prediction));
        warehouse
            .save_drift(&ctx.dag, &ctx.logical_date.to_string(), &rows)
            .await
            .map_err(TaskError::new)?;
        let max = rows
            .iter()
            .map(|r| r.drift.severity)
            .max()
            .unwrap_or(Severity::None);
        metrics::gauge!("churnflow_drift_severity", "dag" => ctx.dag.clone()).set(max as u8 as f64);
        let flagged: Vec<String> = rows
            .iter()
            .filter(|r| r.drift.severity >= Severity::Medium)
            .map(|r| format!("{} ({})", r.drift.feature, r.drift.severity.as_str()))
            .collect();
        // High drift asks the next run for a remedy: moved inputs a retrain, moved scores new
        // cut-offs.
        let high = |kind: &str| -> Vec<String> {
            rows.iter()
                .filter(|r| r.kind == kind && r.drift.severity >= Severity::High)
                .map(|r| format!("`{}`", r.drift.feature))
                .collect()
        };
        let day = date.to_string();
        let mut requests = Vec::new();
        for (kind, drifted, what) in [
            (RequestKind::Retrain, high("feature"), "features"),
            (RequestKind::Rethreshold, high("prediction"), "scores"),
        ] {
            if drifted.is_empty() {
                continue;
            }
            let reason = format!(
                "high drift on {day} against v{}'s training reference in the {what}: {}",
                champion.version,
                drifted.join(", ")
            );
            warehouse
                .request_model_change(&model_name, kind, &reason, "drift", &day)
                .await
                .map_err(TaskError::new)?;
            ctx.log.line(format!(
                "requested of the next run: {} ({reason})",
                kind.as_str()
            ));
            requests.push(kind);
        }
        ctx.log.line(format!(
            "{} drift rows against v{}'s reference; highest severity {}; medium or worse: {}",
            rows.len(),
            champion.version,
            max.as_str(),
            if flagged.is_empty() {
                "none".to_string()
            } else {
                flagged.join(", ")
            }
        ));
        Ok(TaskOutcome::Success(serde_json::json!({
            "max_severity": max,
            "flagged": flagged,
            "features": rows.len(),
            "requests": requests,
        })))
    }
}
