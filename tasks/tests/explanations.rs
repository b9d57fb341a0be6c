//! Reasons' numbers against shap and LightGBM (fixtures/make_explanations.py ->
//! explanations.json): the same LightGBM trees and the same logistic regression, written as
//! churnflow artifacts, explained by churnflow and by `shap.TreeExplainer`,
//! `lightgbm.predict(pred_contrib=True)` and `shap.LinearExplainer`.

use serde_json::Value;
use tasks::model::ChurnModel;
use tasks::polars::prelude::*;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/explanations.json")).unwrap()
}

fn model(case: &Value) -> ChurnModel {
    ChurnModel::from_json(case["model"].to_string().as_bytes()).unwrap()
}

fn numbers(value: &Value) -> Vec<Option<f64>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(Value::as_f64)
        .collect()
}

fn matrix(value: &Value) -> Vec<Vec<f64>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| numbers(row).into_iter().map(Option::unwrap).collect())
        .collect()
}

/// Numeric columns from rows of numbers (null where the fixture has none).
fn numeric_frame(names: &[&str], rows: &Value) -> DataFrame {
    let rows: Vec<Vec<Option<f64>>> = rows.as_array().unwrap().iter().map(numbers).collect();
    let columns = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            Column::new(
                (*name).into(),
                rows.iter().map(|row| row[j]).collect::<Vec<_>>(),
            )
        })
        .collect();
    DataFrame::new(rows.len(), columns).unwrap()
}

fn assert_close(ours: &[f64], theirs: &[f64], tolerance: f64, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= tolerance, "{what} [{i}]: {a} vs {b}");
    }
}

#[test]
fn tree_contributions_equal_shaps_tree_explainer_and_lightgbms_pred_contrib() {
    let case = &fixture()["trees"];
    let model = model(case);
    let frame = numeric_frame(&["x0", "x1", "x2", "x3"], &case["rows"]);
    let margins: Vec<f64> = numbers(&case["margins"]).into_iter().flatten().collect();
    assert_close(&model.margins(&frame).unwrap(), &margins, 1e-9, "margins");
    let contributions = model.contributions(&frame).unwrap();
    let expected = case["shap_expected_value"].as_f64().unwrap();
    assert!(
        (contributions.base - expected).abs() < 1e-6,
        "{} vs {expected}",
        contributions.base
    );
    let shap = matrix(&case["shap_values"]);
    let lightgbm = matrix(&case["lightgbm_contrib"]);
    for (i, (shap_row, lightgbm_row)) in shap.iter().zip(&lightgbm).enumerate() {
        let ours = contributions.row(i);
        assert_close(ours, shap_row, 1e-6, &format!("row {i} against shap"));
        assert_close(
            ours,
            &lightgbm_row[..4],
            1e-6,
            &format!("row {i} against LightGBM"),
        );
        let total = contributions.base + ours.iter().sum::<f64>();
        assert!((total - margins[i]).abs() < 1e-9, "row {i}: local accuracy");
    }
}

#[test]
fn logistic_contributions_equal_shaps_linear_explainer() {
    let case = &fixture()["logistic"];
    let model = model(case);
    let mut frame = numeric_frame(&["n0", "n1", "n2"], &case["numeric_rows"]);
    let categories: Vec<Option<String>> = case["category_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect();
    frame
        .with_column(Column::new("c0".into(), categories))
        .unwrap();
    let margins: Vec<f64> = numbers(&case["margins"]).into_iter().flatten().collect();
    assert_close(&model.margins(&frame).unwrap(), &margins, 1e-9, "margins");
    let contributions = model.contributions(&frame).unwrap();
    assert_eq!(contributions.features, ["n0", "n1", "n2", "c0"]);
    let expected = case["shap_expected_value"].as_f64().unwrap();
    assert!(
        (contributions.base - expected).abs() < 1e-9,
        "{} vs {expected}",
        contributions.base
    );
    for (i, shap_row) in matrix(&case["shap_values"]).iter().enumerate() {
        assert_close(contributions.row(i), shap_row, 1e-9, &format!("row {i}"));
    }
}
