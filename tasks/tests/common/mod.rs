//! What the scikit-learn comparison tests share: the contract of the fixtures' small table
//! (fixtures/make_preprocess.py and make_logreg.py), the frame of its JSON records, and readers
//! of the fixtures' JSON arrays.
#![allow(dead_code)] // each test binary uses its own part of this module

use polars::prelude::*;
use serde_json::Value;

pub const CONTRACT: &str = r#"
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

pub fn frame(records: &Value) -> DataFrame {
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

/// A JSON array of numbers.
pub fn floats(values: &Value) -> Vec<f64> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// A JSON array of booleans.
pub fn bools(values: &Value) -> Vec<bool> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect()
}
