//! The promotion gate: a written policy (in dags.toml) applied to the candidate's metrics and,
//! when there is one, the champion's on the same validation rows. Every rule gives a reason,
//! whether it passed or not, so the report can show why a model was or was not promoted.

use serde::{Deserialize, Serialize};

use crate::fairness::SliceReport;
use crate::metrics::Metrics;
use crate::model::Family;
use crate::model_card::CandidateMetrics;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// The candidate's ROC AUC must be at least this.
    pub min_roc_auc: f64,
    /// The candidate's Brier score must be at most this.
    pub max_brier: f64,
    /// The candidate's ROC AUC may be at most this much below the champion's.
    pub max_roc_auc_regression: f64,
    /// A more complex family is preferred over a simpler one only when its ROC AUC is higher by
    /// at least this much on the same rows ("baseline first, complexity for measured benefit").
    pub complexity_margin: f64,
    /// Bounds on the differences between the groups of every slice column of the contract, at
    /// the operating threshold (Fairlearn's definitions); no bound when absent.
    pub max_demographic_parity_difference: Option<f64>,
    pub max_equalized_odds_difference: Option<f64>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_roc_auc: 0.70,
            max_brier: 0.25,
            max_roc_auc_regression: 0.01,
            complexity_margin: 0.005,
            max_demographic_parity_difference: None,
            max_equalized_odds_difference: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub passed: bool,
    /// One line per rule: what was required, what was seen, and whether it held.
    pub reasons: Vec<String>,
    /// The family the policy was applied to (the preferred candidate).
    pub family: Family,
    /// Why that family was preferred over the others, one line per comparison.
    pub choice: Vec<String>,
}

/// The candidate family to judge: the simplest, replaced by a more complex one only when that
/// one's ROC AUC beats it by `margin`. Returns the family and a line per comparison.
pub fn choose(candidates: &[CandidateMetrics], margin: f64) -> Option<(Family, Vec<String>)> {
    let mut ordered: Vec<&CandidateMetrics> = candidates.iter().collect();
    ordered.sort_by_key(|c| c.family.complexity());
    let (first, rest) = ordered.split_first()?;
    let mut preferred = *first;
    let mut lines = Vec::new();
    if rest.is_empty() {
        lines.push(format!(
            "{} is the only candidate",
            preferred.family.display_name()
        ));
    }
    for challenger in rest {
        let gain = challenger.metrics.roc_auc - preferred.metrics.roc_auc;
        if gain >= margin {
            lines.push(format!(
                "{} preferred: ROC AUC {:.4} beats {}'s {:.4} by {:.4} (margin {:.4})",
                challenger.family.display_name(),
                challenger.metrics.roc_auc,
                preferred.family.display_name(),
                preferred.metrics.roc_auc,
                gain,
                margin
            ));
            preferred = challenger;
        } else {
            lines.push(format!(
                "{} kept: {}'s ROC AUC {:.4} is {:.4} above its {:.4}, less than the margin {:.4}",
                preferred.family.display_name(),
                challenger.family.display_name(),
                challenger.metrics.roc_auc,
                gain,
                preferred.metrics.roc_auc,
                margin
            ));
        }
    }
    Some((preferred.family, lines))
}

/// Adds the policy's fairness bounds to `decision`, a rule per slice column and bound: the
/// candidate's differences between the groups of each slice column at most the bound.
pub fn apply_fairness(decision: &mut Decision, policy: &Policy, slices: &[SliceReport]) {
    let bounds = [
        (
            "demographic-parity difference",
            policy.max_demographic_parity_difference,
            (|s: &SliceReport| s.demographic_parity_difference) as fn(&SliceReport) -> f64,
        ),
        (
            "equalized-odds difference",
            policy.max_equalized_odds_difference,
            |s: &SliceReport| s.equalized_odds_difference,
        ),
    ];
    for (name, bound, value) in bounds {
        let Some(bound) = bound else { continue };
        if slices.is_empty() {
            decision.reasons.push(format!(
                "pass: no slice column to measure the {name} on (the contract's slice_columns)"
            ));
        }
        for slice in slices {
            let seen = value(slice);
            let ok = seen <= bound;
            decision.passed &= ok;
            decision.reasons.push(format!(
                "{}: {name} over {} {seen:.4} at probability {:.4} (maximum {bound:.4})",
                if ok { "pass" } else { "FAIL" },
                slice.column,
                slice.threshold
            ));
        }
    }
}

/// Applies `policy` to the candidate of `family`, against the champion when there is one.
pub fn decide(
    policy: &Policy,
    family: Family,
    candidate: &Metrics,
    champion: Option<(i64, &Metrics)>,
) -> Decision {
    let mut passed = true;
    let mut reasons = Vec::new();
    let mut rule = |ok: bool, text: String| {
        passed &= ok;
        reasons.push(format!("{}: {text}", if ok { "pass" } else { "FAIL" }));
    };
    rule(
        candidate.roc_auc >= policy.min_roc_auc,
        format!(
            "ROC AUC {:.4} (minimum {:.4})",
            candidate.roc_auc, policy.min_roc_auc
        ),
    );
    rule(
        candidate.brier <= policy.max_brier,
        format!(
            "Brier score {:.4} (maximum {:.4})",
            candidate.brier, policy.max_brier
        ),
    );
    match champion {
        Some((version, champion)) => {
            let drop = champion.roc_auc - candidate.roc_auc;
            rule(
                drop <= policy.max_roc_auc_regression,
                format!(
                    "ROC AUC {:.4} against champion v{version}'s {:.4} on the same rows \
                     (largest allowed drop {:.4})",
                    candidate.roc_auc, champion.roc_auc, policy.max_roc_auc_regression
                ),
            );
        }
        None => {
            reasons.push("pass: no champion yet; the first passing model becomes champion".into())
        }
    }
    Decision {
        passed,
        reasons,
        family,
        choice: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LR: Family = Family::LogisticRegression;
    const GBM: Family = Family::GradientBoosting;

    fn candidate(family: Family, roc_auc: f64) -> CandidateMetrics {
        CandidateMetrics {
            family,
            metrics: metrics(roc_auc, 0.15),
            actions: Vec::new(),
            slices: Vec::new(),
        }
    }

    #[test]
    fn the_complex_family_is_preferred_only_past_the_margin() {
        let margin = Policy::default().complexity_margin;
        // Listed complex first: the order of the candidates does not matter.
        let (family, lines) = choose(&[candidate(GBM, 0.8549), candidate(LR, 0.8500)], margin)
            .expect("two candidates");
        assert_eq!(family, LR, "{lines:?}");
        assert!(lines[0].contains("less than the margin"), "{lines:?}");
        let (family, lines) =
            choose(&[candidate(LR, 0.8500), candidate(GBM, 0.8551)], margin).expect("two");
        assert_eq!(family, GBM);
        assert!(
            lines[0].starts_with("gradient-boosted trees preferred"),
            "{lines:?}"
        );
        assert_eq!(
            choose(&[candidate(GBM, 0.9)], margin).map(|c| c.0),
            Some(GBM)
        );
        assert_eq!(choose(&[], margin), None);
    }

    fn metrics(roc_auc: f64, brier: f64) -> Metrics {
        Metrics {
            rows: 100,
            positives: 20,
            roc_auc,
            pr_auc: 0.5,
            log_loss: 0.4,
            brier,
            threshold: 0.5,
            precision: 0.5,
            recall: 0.5,
            f1: 0.5,
            positive_rate: 0.2,
            top_decile_lift: 3.0,
            mean_score: 0.2,
            observed_rate: 0.2,
            expected_calibration_error: 0.01,
            reliability: Vec::new(),
            gains: Vec::new(),
        }
    }

    #[test]
    fn a_good_first_model_passes() {
        let decision = decide(&Policy::default(), LR, &metrics(0.85, 0.15), None);
        assert!(decision.passed, "{decision:?}");
        assert_eq!(decision.reasons.len(), 3);
    }

    #[test]
    fn each_failed_rule_is_named() {
        let policy = Policy::default();
        let champion = metrics(0.90, 0.12);
        let decision = decide(&policy, LR, &metrics(0.65, 0.30), Some((3, &champion)));
        assert!(!decision.passed);
        let failed: Vec<&String> = decision
            .reasons
            .iter()
            .filter(|r| r.starts_with("FAIL"))
            .collect();
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(failed[2].contains("champion v3"), "{}", failed[2]);
    }

    #[test]
    fn a_small_regression_within_the_allowance_passes() {
        let champion = metrics(0.850, 0.15);
        let decision = decide(
            &Policy::default(),
            LR,
            &metrics(0.845, 0.15),
            Some((1, &champion)),
        );
        assert!(decision.passed, "{decision:?}");
    }

    #[test]
    fn a_fairness_bound_alone_can_refuse() {
        let mut decision = decide(&Policy::default(), LR, &metrics(0.85, 0.15), None);
        assert!(decision.passed);
        let slice = crate::fairness::SliceReport {
            column: "country".into(),
            threshold: 0.3,
            groups: Vec::new(),
            demographic_parity_difference: 0.04,
            equalized_odds_difference: 0.12,
            failure_slices: Vec::new(),
        };
        let policy = Policy {
            max_demographic_parity_difference: Some(0.05),
            max_equalized_odds_difference: Some(0.10),
            ..Policy::default()
        };
        apply_fairness(&mut decision, &policy, std::slice::from_ref(&slice));
        assert!(!decision.passed);
        let fairness: Vec<&str> = decision.reasons[decision.reasons.len() - 2..]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fairness,
            vec![
                "pass: demographic-parity difference over country 0.0400 at probability 0.3000 \
                 (maximum 0.0500)",
                "FAIL: equalized-odds difference over country 0.1200 at probability 0.3000 \
                 (maximum 0.1000)",
            ]
        );
        // No bounds: no rules added.
        let mut unbounded = decide(&Policy::default(), LR, &metrics(0.85, 0.15), None);
        let before = unbounded.reasons.len();
        apply_fairness(&mut unbounded, &Policy::default(), &[slice]);
        assert_eq!(unbounded.reasons.len(), before);
    }
}
