//! What a registered model version says about itself: what it was trained on (snapshots, window,
//! rows, a fingerprint of the data), how (parameters), how well it did (metrics beside the
//! champion's), what the gate decided, and which build made it. Written as `card.json` next to the
//! model artifact.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::economics::ActionPlan;
use crate::fairness::SliceReport;
use crate::gate::Decision;
use crate::metrics::Metrics;
use crate::model::{Family, FamilyDescription};
use crate::training_set::Validation;

/// What the train stage saw and did; staged as `training.json` beside the candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    pub model: String,
    pub logical_date: NaiveDate,
    pub label: String,
    pub label_positive: String,
    pub features: Vec<String>,
    pub window_days: u32,
    pub train_snapshots: Vec<NaiveDate>,
    pub validation: Validation,
    pub train_rows: usize,
    pub train_positives: usize,
    pub validation_rows: usize,
    pub fingerprint: String,
    /// The family fitted, its parameters and how the fit went.
    pub family: FamilyDescription,
    pub fit_seconds: f64,
    /// How the model's scores were made probabilities; absent for models trained before.
    #[serde(default)]
    pub calibration: Option<CalibrationSummary>,
}

/// The calibration of a trained model, as the model card tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSummary {
    /// `sigmoid` or `isotonic`.
    pub method: String,
    /// Training rows held out from the fit to calibrate on.
    pub rows: usize,
    /// On the validation rows: the mean score before and after, the observed churn rate, and
    /// the expected calibration error before and after.
    pub mean_score_before: f64,
    pub mean_score_after: f64,
    pub observed_rate: f64,
    pub ece_before: f64,
    pub ece_after: f64,
}

/// What training did with one family of its DAG: staged a candidate, or failed (and why).
/// Staged as `families.json`; evaluate finds the candidates through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyOutcome {
    pub family: Family,
    pub error: Option<String>,
}

/// One candidate family's metrics on the run's validation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateMetrics {
    pub family: Family,
    pub metrics: Metrics,
    /// Each retention action's profit-maximising cut-off on these rows (when the DAG states the
    /// actions' economics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionPlan>,
    /// Per group of each slice column of the contract, and the differences between groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceReport>,
}

/// The champion's metrics on the candidates' validation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionMetrics {
    pub version: i64,
    pub family: Family,
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionPlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceReport>,
}

/// The evaluate stage's result; staged as `evaluation.json`: every candidate and the champion on
/// the same validation rows, and the families that could not be fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub candidates: Vec<CandidateMetrics>,
    pub champion: Option<ChampionMetrics>,
    pub failed: Vec<FamilyOutcome>,
}

impl Evaluation {
    /// The action plans and slice reports of the model that scores after the gate: the
    /// champion's own when it is version `version`, else those of the candidate of `promoted`
    /// (the family the gate just promoted).
    pub fn scoring_model(
        &self,
        version: i64,
        promoted: Option<Family>,
    ) -> Option<(&[ActionPlan], &[SliceReport])> {
        match &self.champion {
            Some(champion) if champion.version == version => {
                Some((&champion.actions, &champion.slices))
            }
            _ => promoted
                .and_then(|family| self.candidate_entry(family))
                .map(|c| (c.actions.as_slice(), c.slices.as_slice())),
        }
    }

    /// The validation metrics of the model that scores (see [`Evaluation::scoring_model`]).
    pub fn scoring_metrics(&self, version: i64, promoted: Option<Family>) -> Option<&Metrics> {
        match &self.champion {
            Some(champion) if champion.version == version => Some(&champion.metrics),
            _ => promoted.and_then(|family| self.candidate(family)),
        }
    }

    /// The action plans of the model that scores (see [`Evaluation::scoring_model`]), when it has
    /// any.
    pub fn plans_for(&self, version: i64, family: Family) -> Option<&[ActionPlan]> {
        self.scoring_model(version, Some(family))
            .map(|(plans, _)| plans)
            .filter(|plans| !plans.is_empty())
    }

    /// The candidate of `family`, whole.
    pub fn candidate_entry(&self, family: Family) -> Option<&CandidateMetrics> {
        self.candidates.iter().find(|c| c.family == family)
    }

    pub fn candidate(&self, family: Family) -> Option<&Metrics> {
        self.candidates
            .iter()
            .find(|c| c.family == family)
            .map(|c| &c.metrics)
    }
}

/// Which build made a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    pub churnflow_version: String,
    pub git_commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub model: String,
    pub version: i64,
    pub registered_at: chrono::DateTime<chrono::Utc>,
    pub build: Build,
    pub training: TrainingSummary,
    pub evaluation: Evaluation,
    pub gate: Decision,
}
