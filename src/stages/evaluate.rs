//! `evaluate`: every candidate family's metrics on the run's validation rows, and the champion's on
//! the same rows when there is a champion, stored in the warehouse per model, role and family and
//! staged for the gate.

use std::cell::Cell;
use std::time::Instant;

use async_trait::async_trait;
use serde::Deserialize;
use tasks::artifacts::{self, ArtifactError};
use tasks::economics::{ActionPlan, RetentionAction, plan_actions};
use tasks::fairness::{SliceReport, slice_report};
use tasks::identity::Role;
use tasks::metrics::{Metrics, evaluate};
use tasks::model_card::{CandidateMetrics, ChampionMetrics, Evaluation, FamilyOutcome};
use tasks::polars::prelude::{DataFrame, DataType, StringChunked};
use tasks::warehouse::MetricRecord;
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::{ModelParams, StageEnv, blocking};

pub struct Evaluate {
    pub env: StageEnv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateParams {
    #[serde(flatten)]
    pub model: ModelParams,
    /// A customer is flagged (contacted) at or above this probability.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// The retention actions and their economics, highest tier first: each gets the probability
    /// cut-off that maximises its profit on the validation rows, for the model card, the report
    /// and the score stage (`score.params.thresholds = "costs"`).
    #[serde(default)]
    pub actions: Vec<RetentionAction>,
    /// A group of a slice column whose ROC AUC is more than this below the whole's is a failure
    /// slice (named in the report).
    #[serde(default = "default_failure_margin")]
    pub failure_slice_margin: f64,
}

fn default_failure_margin() -> f64 {
    0.05
}

fn default_threshold() -> f64 {
    0.5
}

/// The metrics as name -> value rows for the warehouse: every numeric field of [`Metrics`], by
/// its serde name, so a metric added there is stored without a change here.
pub fn metric_rows(metrics: &Metrics) -> std::collections::BTreeMap<String, f64> {
    match serde_json::to_value(metrics) {
        Ok(serde_json::Value::Object(fields)) => fields
            .into_iter()
            .filter_map(|(name, value)| value.as_f64().map(|v| (name, v)))
            .collect(),
        _ => std::collections::BTreeMap::new(),
    }
}

#[async_trait]
impl Task for Evaluate {
    type Params = EvaluateParams;

    fn kind(&self) -> &'static str {
        "evaluate"
    }

    fn check(&self, p: &EvaluateParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        problems.open_unit("threshold", p.threshold);
        problems.closed_unit("failure_slice_margin", p.failure_slice_margin);
        for (i, action) in p.actions.iter().enumerate() {
            for problem in action.problems() {
                problems.push(format!("actions[{i}] (tier `{}`): {problem}", action.tier));
            }
        }
        let mut tiers: Vec<&str> = p.actions.iter().map(|a| a.tier.as_str()).collect();
        tiers.sort_unstable();
        if let Some(twice) = tiers.windows(2).find(|w| w[0] == w[1]) {
            problems.push(format!("two actions are set for tier `{}`", twice[0]));
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: EvaluateParams) -> Result<TaskOutcome, TaskError> {
        if let Some(reason) = super::not_trained(ctx) {
            return Ok(TaskOutcome::Skipped(reason));
        }
        let store = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let model_name = p.model.model.clone();
        let prefix = artifacts::candidate_prefix(&model_name, ctx.logical_date.day());
        let outcomes: Vec<FamilyOutcome> =
            artifacts::get_json(&store, &artifacts::key(&prefix, artifacts::FAMILIES_FILE))
                .await
                .map_err(|e| missing_candidate(&prefix, e))?;
        let mut candidates = Vec::new();
        for outcome in outcomes.iter().filter(|o| o.error.is_none()) {
            let family_prefix = artifacts::family_prefix(&prefix, outcome.family);
            let model = artifacts::load_model(&store, &family_prefix)
                .await
                .map_err(|e| missing_candidate(&family_prefix, e))?;
            candidates.push((outcome.family, model));
        }
        let failed: Vec<FamilyOutcome> =
            outcomes.into_iter().filter(|o| o.error.is_some()).collect();
        let validation_key = artifacts::key(&prefix, artifacts::VALIDATION_FILE);
        let frame = store
            .get_parquet(&validation_key)
            .await
            .map_err(TaskError::new)?;
        let (features, labels) =
            artifacts::split_labels(frame, &validation_key).map_err(TaskError::new)?;
        let champion = match warehouse
            .champion(&model_name)
            .await
            .map_err(TaskError::new)?
        {
            Some(version) => Some((
                version.version,
                artifacts::load_model(&store, &version.artifact_prefix)
                    .await
                    .map_err(TaskError::new)?,
            )),
            None => None,
        };
        let threshold = p.threshold;
        let actions = p.actions;
        let failure_margin = p.failure_slice_margin;
        let contract = super::load_contract(p.model.contract.as_deref())?;
        let slice_groups = slice_groups(&features, &contract.slice_columns, &validation_key)?;
        let (evaluation, plan_seconds, slice_seconds) = blocking("evaluating", move || {
            // Seconds spent on the action plans and the slices, for the log.
            let (plan_seconds, slice_seconds) = (Cell::new(0.0), Cell::new(0.0));
            let plans = |scores: &[f64]| {
                if actions.is_empty() {
                    return Ok(Vec::new());
                }
                let started = Instant::now();
                let plans = plan_actions(scores, &labels, &actions)
                    .map_err(|e| format!("the actions' profit on the validation rows: {e}"));
                plan_seconds.set(plan_seconds.get() + started.elapsed().as_secs_f64());
                plans
            };
            // Slices at the operating threshold: the first action's cut-off when the actions
            // have economics, else `threshold`.
            let slices = |scores: &[f64], metrics: &Metrics, plans: &[ActionPlan]| {
                let operating = plans.first().map_or(threshold, |p| p.min_probability);
                let started = Instant::now();
                let reports = slice_groups
                    .iter()
                    .map(|(column, groups)| {
                        let groups: Vec<Option<&str>> = groups.iter().collect();
                        slice_report(
                            column,
                            &groups,
                            scores,
                            &labels,
                            operating,
                            metrics.roc_auc,
                            failure_margin,
                        )
                    })
                    .collect::<Vec<_>>();
                slice_seconds.set(slice_seconds.get() + started.elapsed().as_secs_f64());
                reports
            };
            let candidates = candidates
                .into_iter()
                .map(|(family, model)| {
                    let scores = model
                        .predict(&features)
                        .map_err(|e| format!("{family} cannot score the validation rows: {e}"))?;
                    let metrics =
                        evaluate(&scores, &labels, threshold).map_err(|e| e.to_string())?;
                    let actions = plans(&scores)?;
                    let slices = slices(&scores, &metrics, &actions);
                    Ok::<_, String>(CandidateMetrics {
                        family,
                        metrics,
                        actions,
                        slices,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let champion = match champion {
                Some((version, model)) => {
                    let scores = model.predict(&features).map_err(|e| {
                        format!("champion v{version} cannot score the validation rows: {e}")
                    })?;
                    let metrics =
                        evaluate(&scores, &labels, threshold).map_err(|e| e.to_string())?;
                    let actions = plans(&scores)?;
                    let slices = slices(&scores, &metrics, &actions);
                    Some(ChampionMetrics {
                        version,
                        family: model.family(),
                        metrics,
                        actions,
                        slices,
                    })
                }
                None => None,
            };
            Ok::<_, String>((
                Evaluation {
                    candidates,
                    champion,
                    failed,
                },
                plan_seconds.get(),
                slice_seconds.get(),
            ))
        })
        .await?;
        ctx.log.line(format!(
            "action plans in {plan_seconds:.2}s, slices in {slice_seconds:.2}s over {} models",
            evaluation.candidates.len() + usize::from(evaluation.champion.is_some())
        ));
        let mut records: Vec<MetricRecord> = evaluation
            .candidates
            .iter()
            .map(|c| MetricRecord {
                model: model_name.clone(),
                role: Role::Candidate,
                family: c.family,
                model_version: None,
                metrics: with_slice_rows(
                    with_profit_rows(metric_rows(&c.metrics), &c.actions),
                    &c.slices,
                ),
            })
            .collect();
        if let Some(champion) = &evaluation.champion {
            records.push(MetricRecord {
                model: model_name.clone(),
                role: Role::Champion,
                family: champion.family,
                model_version: Some(champion.version),
                metrics: with_slice_rows(
                    with_profit_rows(metric_rows(&champion.metrics), &champion.actions),
                    &champion.slices,
                ),
            });
        }
        warehouse
            .save_metrics(&ctx.dag, &ctx.logical_date.to_string(), &records)
            .await
            .map_err(TaskError::new)?;
        artifacts::put_json(
            &store,
            &artifacts::key(&prefix, artifacts::EVALUATION_FILE),
            &evaluation,
        )
        .await
        .map_err(TaskError::new)?;
        for c in &evaluation.candidates {
            let m = &c.metrics;
            ctx.log.line(format!(
                "{} on {} validation rows: ROC AUC {:.4}, PR AUC {:.4}, Brier {:.4}, ECE {:.4}, \
                 lift@10% {:.2}",
                c.family,
                m.rows,
                m.roc_auc,
                m.pr_auc,
                m.brier,
                m.expected_calibration_error,
                m.top_decile_lift
            ));
        }
        for c in &evaluation.candidates {
            for plan in &c.actions {
                ctx.log.line(format!("{}: {}", c.family, plan_line(plan)));
            }
            for slice in &c.slices {
                ctx.log.line(format!(
                    "{}: by {} ({} groups) at probability {:.4}: demographic-parity difference \
                     {:.4}, equalized-odds difference {:.4}{}",
                    c.family,
                    slice.column,
                    slice.groups.len(),
                    slice.threshold,
                    slice.demographic_parity_difference,
                    slice.equalized_odds_difference,
                    if slice.failure_slices.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; failure slices: {}",
                            slice
                                .failure_slices
                                .iter()
                                .map(|(value, auc)| format!("{value} (ROC AUC {auc:.4})"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ));
            }
        }
        if let Some(champion) = &evaluation.champion {
            ctx.log.line(format!(
                "champion v{} ({}) on the same rows: ROC AUC {:.4}, Brier {:.4}",
                champion.version, champion.family, champion.metrics.roc_auc, champion.metrics.brier
            ));
        }
        Ok(TaskOutcome::Success(
            serde_json::to_value(&evaluation).map_err(TaskError::new)?,
        ))
    }
}

/// Each action's profit figures as metric rows (`profit_per_customer_<tier>`,
/// `emp_per_customer_<tier>`, `cut_off_<tier>`), so they have a history beside the other metrics.
fn with_profit_rows(
    mut rows: std::collections::BTreeMap<String, f64>,
    plans: &[ActionPlan],
) -> std::collections::BTreeMap<String, f64> {
    for plan in plans {
        let tier = &plan.action.tier;
        rows.insert(
            format!("profit_per_customer_{tier}"),
            plan.profit_per_customer,
        );
        rows.insert(format!("emp_per_customer_{tier}"), plan.emp_per_customer);
        rows.insert(format!("cut_off_{tier}"), plan.min_probability);
    }
    rows
}

/// Each slice column's differences as metric rows (`demographic_parity_difference_<column>`,
/// `equalized_odds_difference_<column>`).
fn with_slice_rows(
    mut rows: std::collections::BTreeMap<String, f64>,
    slices: &[SliceReport],
) -> std::collections::BTreeMap<String, f64> {
    for slice in slices {
        rows.insert(
            format!("demographic_parity_difference_{}", slice.column),
            slice.demographic_parity_difference,
        );
        rows.insert(
            format!("equalized_odds_difference_{}", slice.column),
            slice.equalized_odds_difference,
        );
    }
    rows
}

/// Each slice column's values per validation row (None: missing), for the columns the rows
/// have. A slice column the contract names but the rows lack is an error naming it.
fn slice_groups(
    features: &DataFrame,
    columns: &[String],
    validation_key: &str,
) -> Result<Vec<(String, StringChunked)>, TaskError> {
    columns
        .iter()
        .map(|column| {
            let values = features
                .column(column)
                .and_then(|c| c.cast(&DataType::String))
                .and_then(|c| c.str().cloned())
                .map_err(|e| {
                    TaskError::permanent(format!(
                        "slice column `{column}` of the contract is not in the validation rows \
                         `{validation_key}`: {e}"
                    ))
                })?;
            Ok((column.clone(), values))
        })
        .collect()
}

/// One action plan as a log line.
fn plan_line(plan: &ActionPlan) -> String {
    format!(
        "tier {}: cut-off {:.4} (break-even {:.4}{}), {} customers, profit {:.0} ({:.3} a \
         customer), EMP {:.3} a customer at {:.1}% acted on",
        plan.action.tier,
        plan.min_probability,
        plan.break_even_probability,
        if plan.capacity_bound {
            ", held by capacity"
        } else {
            ""
        },
        plan.customers,
        plan.profit,
        plan.profit_per_customer,
        plan.emp_per_customer,
        plan.emp_share * 100.0
    )
}

/// The error when the candidate's files are not where training puts them.
pub fn missing_candidate(prefix: &str, err: ArtifactError) -> TaskError {
    TaskError::new(format!(
        "no candidate model under `{prefix}/` (the train stage of this date stages it there): {err}"
    ))
}
