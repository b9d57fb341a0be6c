//! How a model does for each group of customers: per value of every slice column of the contract
//! (a country, a region), ROC AUC, the share acted on, the true- and false-positive rates at the
//! operating threshold and the calibration error; the demographic-parity and equalized-odds
//! differences between the groups, as Fairlearn defines them; and the failure slices, groups whose
//! ROC AUC falls well below the whole. Checked against fairlearn and scikit-learn in
//! `tests/fairness.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{RELIABILITY_BINS, expected_calibration_error, reliability, roc_auc};

/// The name a missing slice value is shown under.
pub const MISSING: &str = "(missing)";
/// A group's ROC AUC is compared with the whole only when it has at least this many rows of each
/// class: below that, a low value is noise more often than a failure.
pub const MIN_CLASS_ROWS: usize = 20;

/// One group of a slice column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceMetrics {
    pub value: String,
    pub rows: usize,
    pub positives: usize,
    /// None when the group holds one class only.
    pub roc_auc: Option<f64>,
    /// The share of the group at or above the threshold (Fairlearn's selection rate).
    pub positive_rate: f64,
    /// None when the group has no churners (no non-churners).
    pub true_positive_rate: Option<f64>,
    pub false_positive_rate: Option<f64>,
    pub expected_calibration_error: f64,
    pub mean_score: f64,
    pub observed_rate: f64,
}

/// A slice column's groups and the differences between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceReport {
    pub column: String,
    /// The probability at or above which a customer counts as acted on.
    pub threshold: f64,
    /// Groups in order of their value.
    pub groups: Vec<SliceMetrics>,
    /// The largest minus the smallest positive rate over the groups.
    pub demographic_parity_difference: f64,
    /// The larger of the true-positive-rate and false-positive-rate spreads over the groups
    /// (groups without one class leave that rate out).
    pub equalized_odds_difference: f64,
    /// Groups with enough rows of each class whose ROC AUC is more than the margin below the
    /// whole's, with their ROC AUC.
    pub failure_slices: Vec<(String, f64)>,
}

/// The slice report of one column. `groups[i]` is row i's value (None: missing), `scores` are
/// probabilities, `overall_roc_auc` the whole's, `failure_margin` how far below it a group's ROC
/// AUC must fall to be a failure slice.
pub fn slice_report(
    column: &str,
    groups: &[Option<&str>],
    scores: &[f64],
    labels: &[bool],
    threshold: f64,
    overall_roc_auc: f64,
    failure_margin: f64,
) -> SliceReport {
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, value) in groups.iter().enumerate() {
        members.entry(value.unwrap_or(MISSING)).or_default().push(i);
    }
    let mut metrics = Vec::with_capacity(members.len());
    let mut failure_slices = Vec::new();
    for (value, rows) in &members {
        let group_scores: Vec<f64> = rows.iter().map(|&i| scores[i]).collect();
        let group_labels: Vec<bool> = rows.iter().map(|&i| labels[i]).collect();
        let positives = group_labels.iter().filter(|y| **y).count();
        let negatives = rows.len() - positives;
        let flagged = |want: bool| {
            group_scores
                .iter()
                .zip(&group_labels)
                .filter(|(p, y)| **y == want && **p >= threshold)
                .count()
        };
        let selected = group_scores.iter().filter(|p| **p >= threshold).count();
        let roc = (positives > 0 && negatives > 0).then(|| roc_auc(&group_scores, &group_labels));
        if let Some(auc) = roc
            && positives >= MIN_CLASS_ROWS
            && negatives >= MIN_CLASS_ROWS
            && auc < overall_roc_auc - failure_margin
        {
            failure_slices.push((value.to_string(), auc));
        }
        let n = rows.len() as f64;
        metrics.push(SliceMetrics {
            value: value.to_string(),
            rows: rows.len(),
            positives,
            roc_auc: roc,
            positive_rate: selected as f64 / n,
            true_positive_rate: (positives > 0).then(|| flagged(true) as f64 / positives as f64),
            false_positive_rate: (negatives > 0).then(|| flagged(false) as f64 / negatives as f64),
            expected_calibration_error: expected_calibration_error(&reliability(
                &group_scores,
                &group_labels,
                RELIABILITY_BINS,
            )),
            mean_score: group_scores.iter().sum::<f64>() / n,
            observed_rate: positives as f64 / n,
        });
    }
    let spread = |values: Vec<f64>| {
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        if values.is_empty() { 0.0 } else { max - min }
    };
    let demographic_parity_difference = spread(metrics.iter().map(|m| m.positive_rate).collect());
    let equalized_odds_difference = spread(
        metrics
            .iter()
            .filter_map(|m| m.true_positive_rate)
            .collect(),
    )
    .max(spread(
        metrics
            .iter()
            .filter_map(|m| m.false_positive_rate)
            .collect(),
    ));
    SliceReport {
        column: column.to_string(),
        threshold,
        groups: metrics,
        demographic_parity_difference,
        equalized_odds_difference,
        failure_slices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_that_ranks_badly_is_a_failure_slice() {
        // Group "a" ranks perfectly, group "b" backwards; 25 of each class in each group.
        let mut groups = Vec::new();
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for i in 0..100 {
            let in_a = i < 50;
            let churner = i % 2 == 0;
            groups.push(Some(if in_a { "a" } else { "b" }));
            labels.push(churner);
            let high = if in_a { churner } else { !churner };
            scores.push(if high { 0.8 } else { 0.2 } + (i as f64) * 1e-4);
        }
        let overall = roc_auc(&scores, &labels);
        let report = slice_report("country", &groups, &scores, &labels, 0.5, overall, 0.05);
        assert_eq!(report.groups.len(), 2);
        assert_eq!(report.failure_slices.len(), 1);
        assert_eq!(report.failure_slices[0].0, "b");
        // a: every churner flagged, no one else; b: the reverse.
        assert_eq!(report.groups[0].true_positive_rate, Some(1.0));
        assert_eq!(report.groups[1].true_positive_rate, Some(0.0));
        assert_eq!(report.equalized_odds_difference, 1.0);
        assert_eq!(report.demographic_parity_difference, 0.0);
    }

    #[test]
    fn a_missing_value_is_a_group_of_its_own() {
        let report = slice_report(
            "region",
            &[Some("x"), None, None],
            &[0.9, 0.1, 0.6],
            &[true, false, true],
            0.5,
            1.0,
            0.05,
        );
        let values: Vec<&str> = report.groups.iter().map(|g| g.value.as_str()).collect();
        assert_eq!(values, vec![MISSING, "x"]);
        assert_eq!(report.groups[0].roc_auc, Some(1.0));
        assert_eq!(report.groups[1].roc_auc, None, "one class only");
        assert!(report.failure_slices.is_empty(), "too few rows to judge");
    }
}
