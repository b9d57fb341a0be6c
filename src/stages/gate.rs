//! `gate`: chooses among the run's candidate families (a more complex one must beat a simpler one
//! by the policy's `complexity_margin`) and applies the promotion policy from dags.toml to it. The decision and every
//! reason are stored; a rejection does not fail the run (the champion keeps scoring) but is
//! reported and alerted by the report stage.

use async_trait::async_trait;
use serde::Deserialize;
use tasks::artifacts;
use tasks::gate::{Policy, apply_fairness, choose, decide};
use tasks::model_card::Evaluation;
use tasks::warehouse::GateRecord;
use workflows::{Task, TaskContext, TaskError, TaskOutcome};

use super::evaluate::missing_candidate;
use super::{ModelParams, StageEnv};

pub struct Gate {
    pub env: StageEnv,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateParams {
    #[serde(flatten)]
    pub model: ModelParams,
    /// Unset rules take the defaults of [`Policy`].
    #[serde(default)]
    pub policy: Policy,
}

#[async_trait]
impl Task for Gate {
    type Params = GateParams;

    fn kind(&self) -> &'static str {
        "gate"
    }

    fn check(&self, p: &GateParams) -> Vec<String> {
        let mut problems = super::checks::Problems::default();
        problems.model(&p.model);
        // ROC AUC and the Brier score of a probability both lie in [0, 1].
        problems.closed_unit("policy.min_roc_auc", p.policy.min_roc_auc);
        problems.closed_unit("policy.max_brier", p.policy.max_brier);
        problems.closed_unit(
            "policy.max_roc_auc_regression",
            p.policy.max_roc_auc_regression,
        );
        problems.closed_unit("policy.complexity_margin", p.policy.complexity_margin);
        if let Some(bound) = p.policy.max_demographic_parity_difference {
            problems.closed_unit("policy.max_demographic_parity_difference", bound);
        }
        if let Some(bound) = p.policy.max_equalized_odds_difference {
            problems.closed_unit("policy.max_equalized_odds_difference", bound);
        }
        problems.into_vec()
    }

    async fn run(&self, ctx: &TaskContext, p: GateParams) -> Result<TaskOutcome, TaskError> {
        if let Some(reason) = super::not_trained(ctx) {
            return Ok(TaskOutcome::Skipped(reason));
        }
        let store = self.env.store()?;
        let warehouse = self.env.warehouse().await?;
        let policy = p.policy;
        let prefix = artifacts::candidate_prefix(&p.model.model, ctx.logical_date.day());
        let evaluation: Evaluation =
            artifacts::get_json(&store, &artifacts::key(&prefix, artifacts::EVALUATION_FILE))
                .await
                .map_err(|e| missing_candidate(&prefix, e))?;
        let (family, choice) = choose(&evaluation.candidates, policy.complexity_margin)
            .ok_or_else(|| missing_candidate_metrics(&prefix))?;
        let Some(candidate) = evaluation.candidate_entry(family) else {
            return Err(missing_candidate_metrics(&prefix));
        };
        let mut decision = decide(
            &policy,
            family,
            &candidate.metrics,
            evaluation
                .champion
                .as_ref()
                .map(|c| (c.version, &c.metrics)),
        );
        apply_fairness(&mut decision, &policy, &candidate.slices);
        decision.choice = choice;
        for failed in &evaluation.failed {
            decision.choice.push(format!(
                "{} was not a candidate: its fit failed ({})",
                failed.family.display_name(),
                failed.error.as_deref().unwrap_or("no reason recorded")
            ));
        }
        warehouse
            .save_gate_decision(
                &ctx.dag,
                &ctx.logical_date.to_string(),
                &GateRecord {
                    model: p.model.model.clone(),
                    family: decision.family,
                    passed: decision.passed,
                    // Why this family, then the rules: what the report lists.
                    reasons: decision
                        .choice
                        .iter()
                        .chain(&decision.reasons)
                        .cloned()
                        .collect(),
                    policy: serde_json::to_value(policy).map_err(TaskError::new)?,
                },
            )
            .await
            .map_err(TaskError::new)?;
        artifacts::put_json(
            &store,
            &artifacts::key(&prefix, artifacts::GATE_FILE),
            &decision,
        )
        .await
        .map_err(TaskError::new)?;
        for line in &decision.choice {
            ctx.log.line(line);
        }
        for reason in &decision.reasons {
            ctx.log.line(reason);
        }
        ctx.log.line(if decision.passed {
            format!("{} candidate passed the gate", decision.family)
        } else {
            "candidate REJECTED by the gate; the champion stays".to_string()
        });
        Ok(TaskOutcome::Success(
            serde_json::to_value(&decision).map_err(TaskError::new)?,
        ))
    }
}

/// The error when the evaluation holds no candidate to judge.
fn missing_candidate_metrics(prefix: &str) -> TaskError {
    TaskError::new(format!(
        "the evaluation under `{prefix}/` holds no candidate's metrics (evaluate writes them)"
    ))
}
