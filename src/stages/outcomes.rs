//! `outcomes`: when the labels of a day scored one horizon ago land, how the scores sent to the CRM
//! that day did: ROC AUC, the churn rate, precision and recall of each tier and the calibration
//! error, realised from the labels and stored beside the estimate the score stage made that night
//! (`model_performance`). A realised ROC AUC below the policy is reported, and the report stage
//! sends an alert for it. Without labels yet, or without scores that day, the stage is skipped.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tasks::estimation::performance;
use tasks::identity::Role;
use tasks::storage::{Table, partition_key};
use tasks::training_set::label_values;
use tasks::warehouse::{Measured, ScoredBy};
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::{ModelParams, StageEnv, blocking};

pub struct Outcomes {
    pub env: StageEnv,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomesPolicy {
    /// The realised ROC AUC below which the report alerts; no alert when absent.
    pub min_roc_auc: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomesParams {
    #[serde(flatten)]
    pub model: ModelParams,
    #[serde(default)]
    pub policy: OutcomesPolicy,
}

/// What the stage found, as its output (the report reads it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomesSummary {
    pub score_date: String,
    pub model_version: i64,
    /// Scored customers with a label, and those without one.
    pub rows: usize,
    pub unlabelled: usize,
    pub realised: BTreeMap<String, f64>,
    /// What the score stage estimated that night, where it did.
    pub estimated: BTreeMap<String, f64>,
    /// Why the realised performance falls short of the policy, if it does.
    pub below_policy: Option<String>,
}

#[async_trait]
impl Task for Outcomes {
    type Params = OutcomesParams;

    fn kind(&self) -> &'static str {
        "outcomes"
    }

    fn check(&self, p: &OutcomesParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        if let Some(bound) = p.policy.min_roc_auc {
            problems.closed_unit("policy.min_roc_auc", bound);
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: OutcomesParams) -> Result<TaskOutcome, TaskError> {
        let contract = super::load_contract(p.model.contract.as_deref())?;
        let store = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let model = &p.model.model;
        let scored_day =
            ctx.logical_date.day() - chrono::Duration::days(i64::from(contract.label_horizon_days));
        let score_date = scored_day.to_string();
        let labels_key = partition_key(Table::Labels, scored_day);
        if !store.exists(&labels_key).await.map_err(TaskError::new)? {
            return Ok(TaskOutcome::Skipped(format!(
                "no labels for {score_date} (one horizon, {} days, ago) yet",
                contract.label_horizon_days
            )));
        }
        let rows = warehouse
            .risk_rows(&score_date, None)
            .await
            .map_err(TaskError::new)?;
        let Some(first) = rows.first() else {
            return Ok(TaskOutcome::Skipped(format!(
                "nothing was scored on {score_date}: no outcome to measure"
            )));
        };
        let model_version = first.model_version;
        let labels = store
            .get_parquet(&labels_key)
            .await
            .map_err(TaskError::new)?;
        let key = contract.key.clone();
        let (realised, matched, unlabelled) = blocking("measuring the outcomes", move || {
            let outcomes =
                label_values(&contract, &labels, scored_day).map_err(|e| e.to_string())?;
            let keys = labels
                .column(&key)
                .and_then(|c| c.cast(&tasks::polars::prelude::DataType::String))
                .map_err(|e| format!("labels `{labels_key}`: key column `{key}`: {e}"))?;
            let keys = keys.str().map_err(|e| e.to_string())?;
            let by_key: HashMap<&str, bool> = keys
                .iter()
                .zip(outcomes)
                .filter_map(|(k, y)| Some((k?, y)))
                .collect();
            let (mut scores, mut tiers, mut ys) = (Vec::new(), Vec::new(), Vec::new());
            for row in &rows {
                if let Some(&y) = by_key.get(row.customer_id.as_str()) {
                    scores.push(row.churn_probability);
                    tiers.push(Some(row.risk_tier.as_str()));
                    ys.push(y);
                }
            }
            // Tiers highest first: by the highest probability they hold.
            let mut names: Vec<(String, f64)> = Vec::new();
            for row in &rows {
                match names.iter_mut().find(|(n, _)| *n == row.risk_tier) {
                    Some((_, top)) => *top = top.max(row.churn_probability),
                    None => names.push((row.risk_tier.clone(), row.churn_probability)),
                }
            }
            names.sort_by(|a, b| b.1.total_cmp(&a.1));
            let names: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
            let matched = ys.len();
            if matched == 0 {
                return Ok((BTreeMap::new(), 0, rows.len()));
            }
            Ok::<_, String>((
                performance(&scores, &tiers, &names, Some(&ys)),
                matched,
                rows.len() - matched,
            ))
        })
        .await?;
        if matched == 0 {
            return Ok(TaskOutcome::Skipped(format!(
                "none of the {unlabelled} customers scored on {score_date} has a label"
            )));
        }
        warehouse
            .save_performance(
                &ScoredBy {
                    score_date: &score_date,
                    model,
                    role: Role::Champion,
                    model_version,
                },
                Measured::Realised,
                &realised,
            )
            .await
            .map_err(TaskError::new)?;
        let estimated: BTreeMap<String, f64> = warehouse
            .performance(&score_date, model)
            .await
            .map_err(TaskError::new)?
            .into_iter()
            .filter(|r| r.role == Role::Champion.as_str())
            .filter_map(|r| Some((r.metric, r.estimated?)))
            .collect();
        let auc = realised.get("roc_auc").copied().unwrap_or(f64::NAN);
        // A ROC AUC that is not a number (one class among the labelled) is below any bound.
        let below_policy = p.policy.min_roc_auc.filter(|min| auc.is_nan() || auc < *min).map(|min| {
            format!(
                "the scores of {score_date} (v{model_version}) reached a ROC AUC of {auc:.4} once \
                 the labels landed, below the policy's {min:.4}"
            )
        });
        ctx.log.line(format!(
            "outcomes of {score_date} (v{model_version}): {matched} customers labelled \
             ({unlabelled} without a label): ROC AUC {auc:.4} realised, {} estimated that night; \
             churn rate {:.4} realised, {} estimated",
            estimated
                .get("roc_auc")
                .map_or("none".to_string(), |e| format!("{e:.4}")),
            realised.get("churn_rate").copied().unwrap_or(f64::NAN),
            estimated
                .get("churn_rate")
                .map_or("none".to_string(), |e| format!("{e:.4}")),
        ));
        if let Some(reason) = &below_policy {
            ctx.log.line(format!("BELOW POLICY: {reason}"));
        }
        let summary = OutcomesSummary {
            score_date,
            model_version,
            rows: matched,
            unlabelled,
            realised,
            estimated,
            below_policy,
        };
        Ok(TaskOutcome::Success(serde_json::json!({
            "outcomes": serde_json::to_value(&summary).map_err(TaskError::new)?,
        })))
    }
}
