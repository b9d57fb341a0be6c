//! The feature transform against scikit-learn: `fixtures/preprocess.json` is written by
//! `fixtures/make_preprocess.py` (a ColumnTransformer fitted on training rows, applied to rows
//! with nulls and a category never seen in training).

mod common;

use common::{CONTRACT, frame};
use serde_json::Value;
use tasks::contract::Contract;
use tasks::preprocess::Preprocessor;

#[test]
fn transform_matches_scikit_learn_on_unseen_rows() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/preprocess.json")).unwrap();
    let contract = Contract::parse(CONTRACT, "test contract").unwrap();
    let preprocessor = Preprocessor::fit(&contract, &frame(&fixture["train"])).unwrap();
    let names: Vec<String> = fixture["output_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let n = n.as_str().unwrap();
            match n.strip_prefix("num__") {
                Some(numeric) => numeric.to_string(),
                None => n.trim_start_matches("cat__").replacen('_', "=", 1),
            }
        })
        .collect();
    assert_eq!(preprocessor.output_names(), names);
    let ours = preprocessor.transform(&frame(&fixture["other"])).unwrap();
    let expected = fixture["expected"].as_array().unwrap();
    assert_eq!(ours.nrows(), expected.len());
    for (i, row) in expected.iter().enumerate() {
        for (j, value) in row.as_array().unwrap().iter().enumerate() {
            let reference = value.as_f64().unwrap();
            assert!(
                (ours[(i, j)] - reference).abs() <= 1e-12,
                "row {i}, column {}: {} vs scikit-learn {reference}",
                names[j],
                ours[(i, j)]
            );
        }
    }
}

#[test]
fn survives_a_round_trip_through_json() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/preprocess.json")).unwrap();
    let contract = Contract::parse(CONTRACT, "test contract").unwrap();
    let fitted = Preprocessor::fit(&contract, &frame(&fixture["train"])).unwrap();
    let saved = serde_json::to_string(&fitted).unwrap();
    let loaded: Preprocessor = serde_json::from_str(&saved).unwrap();
    assert_eq!(loaded, fitted);
    let other = frame(&fixture["other"]);
    assert_eq!(
        loaded.transform(&other).unwrap(),
        fitted.transform(&other).unwrap()
    );
}
