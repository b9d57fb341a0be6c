//! The feature transform against scikit-learn: `fixtures/preprocess.json` is written by
//! `fixtures/make_preprocess.py` (a ColumnTransformer fitted on training rows, applied to rows
//! with nulls and a category never seen in training).

use polars::prelude::*;
use serde_json::Value;
use tasks::contract::Contract;
use tasks::preprocess::Preprocessor;

const CONTRACT: &str = r#"
key = "id"
snapshot_column = "day"
label = "left"
label_positive = "Yes"
label_horizon_days = 30
[columns]
id = { type = "string" }
day = { type = "date" }
visits = { type = "float", feature = "numeric" }
recency = { type = "float", feature = "numeric" }
constant = { type = "float", feature = "numeric" }
plan = { type = "string", feature = "categorical" }
channel = { type = "string", feature = "categorical" }
"#;

fn frame(records: &Value) -> DataFrame {
    let numbers = |c: &str| -> Vec<Option<f64>> {
        records[c]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::as_f64)
            .collect()
    };
    let texts = |c: &str| -> Vec<Option<String>> {
        records[c]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let rows = records["visits"].as_array().unwrap().len();
    DataFrame::new(
        rows,
        vec![
            Column::new("visits".into(), numbers("visits")),
            Column::new("recency".into(), numbers("recency")),
            Column::new("constant".into(), numbers("constant")),
            Column::new("plan".into(), texts("plan")),
            Column::new("channel".into(), texts("channel")),
        ],
    )
    .unwrap()
}

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
