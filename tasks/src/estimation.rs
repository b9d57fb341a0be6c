//! Performance of a night's scores: estimated the night they are made, from the calibrated
//! probabilities alone (confidence-based performance estimation, as NannyML's CBPE does: a
//! customer scored p counts as p of a churner and 1 - p of a stayer), and realised once the labels
//! land a horizon later. Both give the same metrics, so each estimate can be checked against its
//! realised value: ROC AUC, the churn rate, and per tier its precision (the churn rate within the
//! tier) and recall (the tier's share of all churners).

use std::collections::BTreeMap;

use crate::metrics::{RELIABILITY_BINS, expected_calibration_error, reliability, roc_auc};

/// The expected ROC AUC of calibrated `probabilities`: the expected ROC curve (true- and
/// false-positive rates from the cumulative sums of p and 1 - p, customers of equal probability
/// taken together), integrated by the trapezoid rule.
pub fn expected_roc_auc(probabilities: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = probabilities.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let positives: f64 = sorted.iter().sum();
    let negatives: f64 = sorted.len() as f64 - positives;
    if positives <= 0.0 || negatives <= 0.0 {
        return f64::NAN;
    }
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut last_tpr, mut last_fpr) = (0.0, 0.0);
    let mut area = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j] == sorted[i] {
            tp += sorted[j];
            fp += 1.0 - sorted[j];
            j += 1;
        }
        let (tpr, fpr) = (tp / positives, fp / negatives);
        area += (fpr - last_fpr) * (tpr + last_tpr) / 2.0;
        (last_tpr, last_fpr) = (tpr, fpr);
        i = j;
    }
    area
}

/// The metrics of one night's scores. `tiers[i]` is row i's tier, `tier_names` every tier
/// (highest first); `labels` are the outcomes (None: estimate from the probabilities).
pub fn performance(
    probabilities: &[f64],
    tiers: &[Option<&str>],
    tier_names: &[String],
    labels: Option<&[bool]>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let rows = probabilities.len() as f64;
    // A row's "churn": its label, or its probability when there is none yet.
    let churn = |i: usize| match labels {
        Some(labels) => f64::from(u8::from(labels[i])),
        None => probabilities[i],
    };
    let churners: f64 = (0..probabilities.len()).map(churn).sum();
    out.insert(
        "roc_auc".to_string(),
        match labels {
            Some(labels) => roc_auc(probabilities, labels),
            None => expected_roc_auc(probabilities),
        },
    );
    out.insert("churn_rate".to_string(), churners / rows);
    for name in tier_names {
        let members: Vec<usize> = (0..probabilities.len())
            .filter(|&i| tiers[i] == Some(name.as_str()))
            .collect();
        if members.is_empty() {
            continue;
        }
        let tier_churners: f64 = members.iter().map(|&i| churn(i)).sum();
        out.insert(
            format!("precision_{name}"),
            tier_churners / members.len() as f64,
        );
        if churners > 0.0 {
            out.insert(format!("recall_{name}"), tier_churners / churners);
        }
    }
    if let Some(labels) = labels {
        out.insert(
            "expected_calibration_error".to_string(),
            expected_calibration_error(&reliability(probabilities, labels, RELIABILITY_BINS)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_expected_auc_of_certain_scores_is_the_realised_one() {
        // Probabilities of 0 and 1 are outcomes already: the estimate is the realised ROC AUC.
        let p = [1.0, 1.0, 0.0, 0.0, 1.0];
        assert_eq!(expected_roc_auc(&p), 1.0);
        let labels = [true, true, false, false, true];
        let tiers = [
            Some("high"),
            Some("high"),
            Some("low"),
            Some("low"),
            Some("high"),
        ];
        let names = vec!["high".to_string(), "low".to_string()];
        assert_eq!(
            performance(&p, &tiers, &names, None),
            performance(&p, &tiers, &names, Some(&labels))
                .into_iter()
                .filter(|(k, _)| k != "expected_calibration_error")
                .collect()
        );
    }

    /// Outcomes drawn from calibrated probabilities: the estimates land within sampling error of
    /// the realised values (100,000 customers: ROC AUC within 0.01, rates within 0.005).
    #[test]
    fn estimates_from_calibrated_scores_match_the_outcomes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let n = 100_000;
        let p: Vec<f64> = (0..n).map(|_| rng.random::<f64>().powi(3)).collect();
        let labels: Vec<bool> = p.iter().map(|&p| rng.random::<f64>() < p).collect();
        let tiers: Vec<Option<&str>> = p
            .iter()
            .map(|&p| Some(if p >= 0.5 { "high" } else { "low" }))
            .collect();
        let names = vec!["high".to_string(), "low".to_string()];
        let estimated = performance(&p, &tiers, &names, None);
        let realised = performance(&p, &tiers, &names, Some(&labels));
        for (metric, tolerance) in [
            ("roc_auc", 0.01),
            ("churn_rate", 0.005),
            ("precision_high", 0.01),
            ("recall_high", 0.01),
        ] {
            let (e, r) = (estimated[metric], realised[metric]);
            assert!(
                (e - r).abs() < tolerance,
                "{metric}: estimated {e}, realised {r}"
            );
        }
    }
}
