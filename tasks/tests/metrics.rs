//! Metrics against scikit-learn: `fixtures/metrics.json` is written by `fixtures/make_metrics.py`
//! (library versions inside), on a churn-like case, a case with heavy ties, and extreme
//! probabilities that the log loss must clip.

use serde_json::Value;
use tasks::metrics::{MetricsError, cumulative_gains, evaluate};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/metrics.json")).unwrap()
}

fn close(name: &str, metric: &str, ours: f64, reference: f64) {
    let tolerance = 1e-12 * reference.abs().max(1.0);
    assert!(
        (ours - reference).abs() <= tolerance,
        "{name}: {metric} = {ours}, scikit-learn says {reference}"
    );
}

#[test]
fn every_metric_matches_scikit_learn() {
    let fixture = fixture();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let scores: Vec<f64> = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let labels: Vec<bool> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        let threshold = case["threshold"].as_f64().unwrap();
        let metrics = evaluate(&scores, &labels, threshold).unwrap();
        let ours = serde_json::to_value(&metrics).unwrap();
        let expected = case["expected"].as_object().unwrap();
        assert_eq!(expected.len(), 9);
        for (metric, reference) in expected {
            close(
                name,
                metric,
                ours[metric].as_f64().unwrap(),
                reference.as_f64().unwrap(),
            );
        }
    }
}

#[test]
fn refuses_what_it_cannot_measure() {
    assert_eq!(
        evaluate(&[0.2, 0.3], &[true], 0.5),
        Err(MetricsError::Length(2, 1))
    );
    assert_eq!(
        evaluate(&[0.2, 0.3], &[true, true], 0.5),
        Err(MetricsError::OneClass(2))
    );
    assert_eq!(
        evaluate(&[0.2, 1.3], &[true, false], 0.5),
        Err(MetricsError::NotAProbability(1.3))
    );
}

/// Worked by hand: 10 customers, scores falling with the index, churners at positions 0, 1, 3
/// and 8 (4 churners). Contacting the riskiest k tenths (one customer each) reaches 1, 2, 2, 3, 3,
/// 3, 3, 3, 4, 4 churners; with 5 points (two customers each): 2, 3, 3, 3, 4.
#[test]
fn cumulative_gains_counts_churners_among_the_riskiest() {
    let scores: Vec<f64> = (0..10).map(|i| 0.95 - i as f64 * 0.1).collect();
    let churned = [0, 1, 3, 8];
    let labels: Vec<bool> = (0..10).map(|i| churned.contains(&i)).collect();
    let tenths: Vec<(f64, f64)> = cumulative_gains(&scores, &labels, 10)
        .into_iter()
        .map(|p| (p.share, p.captured))
        .collect();
    let reached = [1, 2, 2, 3, 3, 3, 3, 3, 4, 4];
    let expected: Vec<(f64, f64)> = reached
        .iter()
        .enumerate()
        .map(|(k, n)| ((k + 1) as f64 / 10.0, *n as f64 / 4.0))
        .collect();
    assert_eq!(tenths, expected);
    let fifths: Vec<f64> = cumulative_gains(&scores, &labels, 5)
        .into_iter()
        .map(|p| p.captured)
        .collect();
    assert_eq!(fifths, vec![0.5, 0.75, 0.75, 0.75, 1.0]);
    // Unequal shares: 7 customers in 10 points take ceil(7k/10) each (1, 2, 3, 3, 4, 5, 5, 6, 7, 7).
    let seven: Vec<f64> = cumulative_gains(&scores[..7], &labels[..7], 10)
        .into_iter()
        .map(|p| p.captured * 3.0)
        .collect();
    assert_eq!(
        seven,
        vec![1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    );
    assert!(cumulative_gains(&scores, &[false; 10], 10).is_empty());
    // Each point says how many were contacted: 7 customers cannot split into tenths.
    let shares: Vec<f64> = cumulative_gains(&scores[..7], &labels[..7], 10)
        .into_iter()
        .map(|p| p.share * 7.0)
        .collect();
    assert_eq!(
        shares,
        vec![1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0, 7.0]
    );
    // The metrics carry the tenths; the last point reaches every churner.
    let metrics = evaluate(&scores, &labels, 0.5).unwrap();
    assert_eq!(metrics.gains.len(), 10);
    assert_eq!(metrics.gains.last().map(|p| p.captured), Some(1.0));
}
