//! The demo generator: deterministic, realistic churn rate, nulls where the contract allows them,
//! drift that shows.

use chrono::NaiveDate;
use polars::prelude::*;
use tasks::contract::Contract;
use tasks::demo_data::{DRIFT_PAYMENT, SnapshotSpec, generate};

fn spec(drift: bool) -> SnapshotSpec {
    SnapshotSpec {
        customers: 20_000,
        snapshot_date: NaiveDate::from_ymd_opt(2026, 8, 1).unwrap(),
        seed: 7,
        drift,
    }
}

fn churn_rate(labels: &DataFrame) -> f64 {
    let churned = labels.column("churned").unwrap().bool().unwrap();
    churned.sum().unwrap() as f64 / labels.height() as f64
}

#[test]
fn follows_the_contract_columns_and_types() {
    let snapshot = generate(&spec(false)).unwrap();
    let contract = Contract::demo();
    let names: Vec<String> = snapshot
        .features
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let mut expected: Vec<String> = contract.columns.keys().cloned().collect();
    let mut got = names.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(
        snapshot.features.column("snapshot_date").unwrap().dtype(),
        &DataType::Date
    );
    assert_eq!(
        snapshot.features.column("total_orders").unwrap().dtype(),
        &DataType::Int64
    );
    assert_eq!(snapshot.labels.height(), 20_000);
}

#[test]
fn is_deterministic_for_a_seed_and_keeps_customers_across_snapshots() {
    let a = generate(&spec(false)).unwrap();
    let b = generate(&spec(false)).unwrap();
    assert!(a.features.equals_missing(&b.features));
    let later = generate(&SnapshotSpec {
        snapshot_date: NaiveDate::from_ymd_opt(2026, 8, 8).unwrap(),
        ..spec(false)
    })
    .unwrap();
    assert!(
        a.features
            .column("customer_id")
            .unwrap()
            .equals(later.features.column("customer_id").unwrap())
    );
    assert!(
        !a.features
            .column("total_orders")
            .unwrap()
            .equals(later.features.column("total_orders").unwrap())
    );
}

#[test]
fn churn_rate_is_realistic_and_nulls_appear() {
    let snapshot = generate(&spec(false)).unwrap();
    let rate = churn_rate(&snapshot.labels);
    assert!((0.15..=0.25).contains(&rate), "churn rate {rate}");
    for column in [
        "days_since_last_order",
        "avg_order_value",
        "email_open_rate",
        "favorite_category",
    ] {
        let nulls = snapshot.features.column(column).unwrap().null_count() as f64 / 20_000.0;
        assert!(nulls > 0.01 && nulls < 0.2, "{column}: null share {nulls}");
    }
}

#[test]
fn drift_shifts_features_and_adds_an_unseen_payment_method() {
    let clean = generate(&spec(false)).unwrap();
    let drifted = generate(&spec(true)).unwrap();
    let share = |df: &DataFrame| {
        let col = df.column("payment_method").unwrap().str().unwrap().clone();
        col.iter().filter(|v| *v == Some(DRIFT_PAYMENT)).count() as f64 / df.height() as f64
    };
    assert_eq!(share(&clean.features), 0.0);
    assert!((0.04..0.08).contains(&share(&drifted.features)));
    let mean = |df: &DataFrame, c: &str| {
        df.column(c)
            .unwrap()
            .as_materialized_series()
            .mean()
            .unwrap()
    };
    assert!(
        mean(&drifted.features, "website_visits_30d")
            < 0.85 * mean(&clean.features, "website_visits_30d")
    );
    assert!(churn_rate(&drifted.labels) > churn_rate(&clean.labels));
}

/// `--drift-from`: every snapshot from that date on is drifted, labelled ones included; with
/// `--drift` alone, only the newest.
#[test]
fn drift_from_a_date_drifts_every_snapshot_after_it() {
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    let mut spec = tasks::demo_data::HistorySpec {
        customers: 10,
        newest: day(11, 24),
        history_days: 210,
        cadence_days: 30,
        horizon_days: 90,
        seed: 42,
        drift_newest: false,
        drift_from: Some(day(7, 27)),
    };
    let drifted: Vec<_> = spec
        .dates()
        .into_iter()
        .filter(|d| spec.drifted(*d))
        .collect();
    assert_eq!(
        drifted,
        vec![day(7, 27), day(8, 26), day(9, 25), day(10, 25), day(11, 24)]
    );
    assert!(
        spec.labelled(day(8, 26)),
        "drifted days with known outcomes exist"
    );
    spec.drift_from = None;
    assert!(spec.dates().iter().all(|d| !spec.drifted(*d)));
    spec.drift_newest = true;
    let drifted: Vec<_> = spec
        .dates()
        .into_iter()
        .filter(|d| spec.drifted(*d))
        .collect();
    assert_eq!(drifted, vec![day(11, 24)]);
}
