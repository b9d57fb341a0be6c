//! Contract checks: a clean snapshot passes, drift warns, and each kind of bad input is a hard
//! violation that names its column, rule, observed value, limit and example keys.

use chrono::NaiveDate;
use polars::prelude::*;
use tasks::contract::Contract;
use tasks::demo_data::{SnapshotSpec, generate};
use tasks::validate::{Severity, validate};

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
}

fn snapshot(drift: bool) -> DataFrame {
    generate(&SnapshotSpec {
        customers: 2_000,
        snapshot_date: date(),
        seed: 3,
        drift,
    })
    .unwrap()
    .features
}

fn rules(frame: &DataFrame) -> Vec<(String, &'static str, Severity)> {
    validate(&Contract::demo(), frame, date(), Some(2_000))
        .violations
        .into_iter()
        .map(|v| (v.column, v.rule, v.severity))
        .collect()
}

#[test]
fn clean_snapshot_passes() {
    let report = validate(&Contract::demo(), &snapshot(false), date(), Some(2_000));
    assert!(report.passed(), "{}", report.summary());
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

#[test]
fn unseen_category_is_a_warning_with_its_share() {
    let report = validate(&Contract::demo(), &snapshot(true), date(), Some(2_000));
    assert!(report.passed());
    let warning = &report.violations[0];
    assert_eq!(
        (warning.column.as_str(), warning.rule),
        ("payment_method", "allowed_values")
    );
    assert_eq!(warning.severity, Severity::Soft);
    assert!(
        warning.observed.contains("buy_now_pay_later"),
        "{}",
        warning.observed
    );
    assert_eq!(warning.example_keys.len(), 5);
}

#[test]
fn missing_column_and_wrong_type_are_hard() {
    let mut frame = snapshot(false).drop("total_orders").unwrap();
    frame
        .with_column(Column::new(
            "website_visits_30d".into(),
            vec!["many"; 2_000],
        ))
        .unwrap();
    assert_eq!(
        rules(&frame),
        [
            ("total_orders".to_string(), "present", Severity::Hard),
            ("website_visits_30d".to_string(), "type", Severity::Hard),
        ]
    );
}

#[test]
fn duplicate_keys_name_the_keys() {
    let frame = snapshot(false);
    let doubled = frame.vstack(&frame.slice(0, 2)).unwrap();
    let report = validate(&Contract::demo(), &doubled, date(), Some(2_000));
    assert!(!report.passed());
    let v = &report.violations[0];
    assert_eq!((v.column.as_str(), v.rule), ("customer_id", "unique_key"));
    assert_eq!(v.observed, "4 rows share a key");
    assert_eq!(
        v.example_keys,
        ["C000000001", "C000000002", "C000000001", "C000000002"]
    );
}

#[test]
fn nulls_ranges_and_stale_dates_are_hard() {
    let mut frame = snapshot(false);
    let n = frame.height();
    let rates: Vec<Option<f64>> = (0..n)
        .map(|i| if i == 3 { Some(1.7) } else { Some(0.2) })
        .collect();
    frame
        .with_column(Column::new("cart_abandonment_rate".into(), rates))
        .unwrap();
    let countries: Vec<Option<&str>> = (0..n)
        .map(|i| if i % 2 == 0 { None } else { Some("US") })
        .collect();
    frame
        .with_column(Column::new("country".into(), countries))
        .unwrap();
    let report = validate(
        &Contract::demo(),
        &frame,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        None,
    );
    insta::assert_snapshot!(report.summary(), @r"
    column `cart_abandonment_rate`: rule range: observed 1 rows outside (min 0.2, max 1.7), limit [0, 1] (e.g. C000000004)
    column `country`: rule null_fraction: observed 0.5000 (1000 rows), limit 0.0000 (e.g. C000000001, C000000003, C000000005, C000000007, C000000009)
    column `snapshot_date`: rule freshness: observed 2000 rows with another snapshot date, limit 2026-11-25 (e.g. C000000001, C000000002, C000000003, C000000004, C000000005)
    ");
}

#[test]
fn empty_snapshot_and_row_count_change() {
    let empty = snapshot(false).slice(0, 0);
    assert_eq!(
        rules(&empty)[0],
        ("*".to_string(), "not_empty", Severity::Hard)
    );
    let half = snapshot(false).slice(0, 600);
    let report = validate(&Contract::demo(), &half, date(), Some(2_000));
    assert!(report.passed());
    assert_eq!(report.violations[0].rule, "row_count_change");
    assert_eq!(
        report.violations[0].observed,
        "600 rows, -70.0% against 2000"
    );
}

/// `total_revenue` NaN on the first half of the rows, `order_frequency` +inf on the second half.
fn with_non_finite(frame: DataFrame) -> DataFrame {
    let rows = frame.height();
    let half = rows / 2;
    let revenue: Vec<f64> = (0..rows)
        .map(|i| if i < half { f64::NAN } else { 10.0 })
        .collect();
    let frequency: Vec<f64> = (0..rows)
        .map(|i| if i < half { 1.0 } else { f64::INFINITY })
        .collect();
    let mut frame = frame;
    frame
        .with_column(Column::new("total_revenue".into(), revenue))
        .unwrap();
    frame
        .with_column(Column::new("order_frequency".into(), frequency))
        .unwrap();
    frame
}

#[test]
fn nan_and_infinity_are_hard_with_counts_and_keys() {
    let frame = with_non_finite(snapshot(false));
    let report = validate(&Contract::demo(), &frame, date(), Some(2_000));
    assert!(!report.passed());
    let finite: Vec<_> = report
        .violations
        .iter()
        .filter(|v| v.rule == "finite")
        .collect();
    assert_eq!(finite.len(), 2, "{:?}", report.violations);
    assert_eq!(finite[0].column, "order_frequency");
    assert_eq!(
        finite[0].observed,
        "1000 rows not finite (NaN 0, +inf 1000, -inf 0)"
    );
    assert_eq!(finite[1].column, "total_revenue");
    assert_eq!(
        finite[1].observed,
        "1000 rows not finite (NaN 1000, +inf 0, -inf 0)"
    );
    assert!(finite.iter().all(|v| v.severity == Severity::Hard));
    let keys = frame.column("customer_id").unwrap().str().unwrap().clone();
    assert_eq!(finite[1].example_keys[0], keys.get(0).unwrap());
    assert_eq!(finite[0].example_keys[0], keys.get(1_000).unwrap());
    // The range rule (min 0) speaks of real numbers only: +inf is not also "out of range".
    assert!(report.violations.iter().all(|v| v.rule != "range"));
    assert!(
        report
            .summary()
            .contains("column `total_revenue`: rule finite: observed 1000 rows not finite"),
        "{}",
        report.summary()
    );
}

#[test]
fn non_finite_soft_in_the_contract_is_a_warning() {
    let text = tasks::contract::DEMO_CONTRACT.replace(
        "total_revenue = { type = \"float\", feature = \"numeric\", min = 0, display_name",
        "total_revenue = { type = \"float\", feature = \"numeric\", min = 0, non_finite = \"soft\", display_name",
    );
    assert_ne!(text, tasks::contract::DEMO_CONTRACT);
    let contract = Contract::parse(&text, "soft.toml").unwrap();
    let mut frame = snapshot(false);
    let revenue: Vec<f64> = (0..frame.height())
        .map(|i| if i % 4 == 0 { f64::NAN } else { 5.0 })
        .collect();
    frame
        .with_column(Column::new("total_revenue".into(), revenue))
        .unwrap();
    let report = validate(&contract, &frame, date(), Some(2_000));
    assert!(report.passed(), "{}", report.summary());
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].rule, "finite");
    assert_eq!(report.violations[0].severity, Severity::Soft);
}

/// A customer field of megabytes reaches messages cut to a bounded length.
#[test]
fn a_huge_unseen_value_is_cut_in_the_violation() {
    let mut frame = snapshot(false);
    let huge = "z".repeat(1_000_000);
    let methods: Vec<&str> = (0..frame.height())
        .map(|i| if i == 0 { huge.as_str() } else { "paypal" })
        .collect();
    frame
        .with_column(Column::new("payment_method".into(), methods))
        .unwrap();
    let report = validate(&Contract::demo(), &frame, date(), Some(2_000));
    let unseen = report
        .violations
        .iter()
        .find(|v| v.rule == "allowed_values")
        .unwrap();
    assert!(
        unseen.observed.len() < 300,
        "{} bytes",
        unseen.observed.len()
    );
    assert!(
        unseen.observed.contains("(999920 more characters)"),
        "{}",
        unseen.observed
    );
}
