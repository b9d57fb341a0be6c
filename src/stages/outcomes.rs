//! `outcomes`: when the labels of a day scored one horizon ago land, how the scores sent to the CRM
//! that day did: ROC AUC, the churn rate, precision and recall of each tier and the calibration
//! error, realised from the labels and stored beside the estimate the score stage made that night
//! (`model_performance`), for each arm the CRM was served (the champion's, and a canary's when one
//! ran). A realised ROC AUC below the policy is reported, and the report stage sends an alert for
//! it. Without labels yet, or without scores that day, the stage is skipped.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tasks::estimation::performance;
use tasks::identity::Role;
use tasks::storage::{Table, partition_key};
use tasks::training_set::label_values;
use tasks::warehouse::{Measured, RequestKind, ScoredBy};
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::{ModelParams, StageEnv, blocking};

pub struct Outcomes {
    pub env: StageEnv,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomesPolicy {
    /// The realised ROC AUC below which the report alerts and a retrain is requested of the next
    /// run; neither when absent.
    pub min_roc_auc: Option<f64>,
    /// The realised calibration error (ECE) above which a recalibration is requested of the next
    /// run; none when absent.
    pub max_calibration_error: Option<f64>,
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
    /// The canary's arm, when one served some of that day's customers (the figures above are
    /// then the champion's arm's).
    #[serde(default)]
    pub canary: Option<ArmOutcome>,
    /// What the outcomes asked of the next run (a retrain, a recalibration).
    #[serde(default)]
    pub requests: Vec<RequestKind>,
    /// The policy's floor on the realised ROC AUC, when it sets one (the report's trend draws it).
    #[serde(default)]
    pub min_roc_auc: Option<f64>,
}

/// How the rows one arm served did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmOutcome {
    pub model_version: i64,
    /// Served customers with a label, and those without one.
    pub rows: usize,
    pub unlabelled: usize,
    pub realised: BTreeMap<String, f64>,
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
        if let Some(bound) = p.policy.max_calibration_error {
            problems.closed_unit("policy.max_calibration_error", bound);
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
        let served = warehouse
            .served_scores(&score_date, model)
            .await
            .map_err(TaskError::new)?;
        let Some(first) = served.arms.first() else {
            return Ok(TaskOutcome::Skipped(format!(
                "nothing was scored on {score_date}: no outcome to measure"
            )));
        };
        // What the CRM was served that day, by arm: the champion's rows, and a canary's rows
        // for its customers when one ran.
        let model_version = served
            .arms
            .iter()
            .find(|(role, _)| role == Role::Champion.as_str())
            .unwrap_or(first)
            .1;
        let labels = store
            .get_parquet(&labels_key)
            .await
            .map_err(TaskError::new)?;
        let key = contract.key.clone();
        let arms = blocking("measuring the outcomes", move || {
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
            // Tiers highest first: by the highest probability they hold.
            let mut tops = vec![f64::NEG_INFINITY; served.tier_names.len()];
            for (tier, p) in served.tiers.iter().zip(&served.probabilities) {
                let top = &mut tops[*tier as usize];
                *top = top.max(*p);
            }
            let mut names: Vec<(String, f64)> =
                served.tier_names.iter().cloned().zip(tops).collect();
            names.sort_by(|a, b| b.1.total_cmp(&a.1));
            let names: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
            let mut arms: BTreeMap<String, ArmOutcome> = BTreeMap::new();
            for arm in [Role::Champion, Role::Canary] {
                // An arm is one role and version (a canary's rows share the canary's version).
                let Some((index, (_, version))) = served
                    .arms
                    .iter()
                    .enumerate()
                    .find(|(_, (role, _))| role == arm.as_str())
                else {
                    continue;
                };
                let (mut scores, mut tiers, mut ys) = (Vec::new(), Vec::new(), Vec::new());
                let mut in_arm = 0usize;
                for row in (0..served.len()).filter(|&i| served.arm_of_row[i] as usize == index) {
                    in_arm += 1;
                    if let Some(&y) = by_key.get(served.customer_ids[row].as_str()) {
                        scores.push(served.probabilities[row]);
                        tiers.push(Some(served.tier_names[served.tiers[row] as usize].as_str()));
                        ys.push(y);
                    }
                }
                let matched = ys.len();
                arms.insert(
                    arm.as_str().to_string(),
                    ArmOutcome {
                        model_version: *version,
                        rows: matched,
                        unlabelled: in_arm - matched,
                        realised: if matched == 0 {
                            BTreeMap::new()
                        } else {
                            performance(&scores, &tiers, &names, Some(&ys))
                        },
                    },
                );
            }
            Ok::<_, String>(arms)
        })
        .await?;
        let matched: usize = arms.values().map(|a| a.rows).sum();
        let unlabelled: usize = arms.values().map(|a| a.unlabelled).sum();
        // The summary's figures are the champion's arm's; a canary's are beside them.
        let (champion_rows, champion_unlabelled) = arms
            .get(Role::Champion.as_str())
            .map_or((0, 0), |a| (a.rows, a.unlabelled));
        if matched == 0 {
            return Ok(TaskOutcome::Skipped(format!(
                "none of the {unlabelled} customers scored on {score_date} has a label"
            )));
        }
        for (arm, outcome) in &arms {
            if outcome.rows == 0 {
                continue;
            }
            let role = Role::parse(arm).unwrap_or(Role::Champion);
            warehouse
                .save_performance(
                    &ScoredBy {
                        score_date: &score_date,
                        model,
                        role,
                        model_version: outcome.model_version,
                    },
                    Measured::Realised,
                    &outcome.realised,
                )
                .await
                .map_err(TaskError::new)?;
        }
        let realised = arms
            .get(Role::Champion.as_str())
            .map(|a| a.realised.clone())
            .unwrap_or_default();
        let canary = arms.get(Role::Canary.as_str()).cloned();
        if let Some(canary) = &canary {
            ctx.log.line(format!(
                "outcomes of {score_date}, canary arm (v{}): {} customers labelled: ROC AUC {:.4} \
                 realised, against {:.4} for the champion's arm",
                canary.model_version,
                canary.rows,
                canary.realised.get("roc_auc").copied().unwrap_or(f64::NAN),
                realised.get("roc_auc").copied().unwrap_or(f64::NAN),
            ));
        }
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
            "outcomes of {score_date} (v{model_version}): {champion_rows} customers labelled \
             ({champion_unlabelled} without a label): ROC AUC {auc:.4} realised, {} estimated that night; \
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
        // Decay asks the next run for a remedy, with the reason.
        let ece = realised
            .get("expected_calibration_error")
            .copied()
            .unwrap_or(f64::NAN);
        let miscalibrated = p
            .policy
            .max_calibration_error
            .filter(|max| ece > *max)
            .map(|max| {
                format!(
                    "the scores of {score_date} (v{model_version}) had a calibration error of \
                     {ece:.4} once the labels landed, above the policy's {max:.4}"
                )
            });
        let mut requests = Vec::new();
        for (kind, reason) in [
            (RequestKind::Retrain, &below_policy),
            (RequestKind::Recalibrate, &miscalibrated),
        ] {
            if let Some(reason) = reason {
                warehouse
                    .request_model_change(
                        model,
                        kind,
                        reason,
                        "outcomes",
                        &ctx.logical_date.day().to_string(),
                    )
                    .await
                    .map_err(TaskError::new)?;
                ctx.log
                    .line(format!("requested of the next run: {}", kind.as_str()));
                requests.push(kind);
            }
        }
        let summary = OutcomesSummary {
            score_date,
            model_version,
            rows: champion_rows,
            unlabelled: champion_unlabelled,
            realised,
            estimated,
            below_policy,
            canary,
            requests,
            min_roc_auc: p.policy.min_roc_auc,
        };
        Ok(TaskOutcome::Success(serde_json::json!({
            "outcomes": serde_json::to_value(&summary).map_err(TaskError::new)?,
        })))
    }
}
