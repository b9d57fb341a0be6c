//! Metrics against scikit-learn: `fixtures/metrics.json` is written by `fixtures/make_metrics.py`
//! (library versions inside), on a churn-like case, a case with heavy ties, and extreme
//! probabilities that the log loss must clip.

use serde_json::Value;
use tasks::metrics::{MetricsError, evaluate};

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
