//! The baseline model on demo data: trained on one snapshot, measured out of time on a later one.
//!
//! The ROC AUC floor is 0.80: the Python reference's logistic regression reaches 0.853 on the same
//! generative model (shared/bench/py_baseline/results/n100000), and with ~4000 validation rows the
//! AUC's sampling error is about ±0.015, so 0.80 fails only a model that learnt much less.

mod common;

use chrono::NaiveDate;
use serde_json::Value;
use tasks::contract::Contract;
use tasks::demo_data::{SnapshotSpec, generate};
use tasks::metrics::evaluate;
use tasks::model::{ChurnModel, FamilyParams, FittedModel, LogisticParams as TrainParams};

/// A logistic regression fitted on `features`.
fn fit_logistic(
    contract: &Contract,
    features: &tasks::polars::prelude::DataFrame,
    labels: &[bool],
    params: TrainParams,
) -> Result<ChurnModel, tasks::model::ModelError> {
    Ok(ChurnModel::new(
        FamilyParams::LogisticRegression(params).fit(contract, features.clone(), labels)?,
    ))
}

fn snapshot(date: (i32, u32, u32)) -> tasks::demo_data::Snapshot {
    generate(&SnapshotSpec {
        customers: 4_000,
        snapshot_date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
        seed: 11,
        drift: false,
    })
    .unwrap()
}

fn labels(snapshot: &tasks::demo_data::Snapshot) -> Vec<bool> {
    snapshot.churned().unwrap()
}

#[test]
fn learns_churn_out_of_time_and_balances_classes() {
    let contract = Contract::demo();
    let (train, later) = (snapshot((2026, 3, 1)), snapshot((2026, 5, 1)));
    let started = std::time::Instant::now();
    let model = fit_logistic(
        &contract,
        &train.features,
        &labels(&train),
        TrainParams::default(),
    )
    .unwrap();
    eprintln!(
        "fit 4000 rows x {} inputs in {:.2}s",
        match &model.fitted {
            FittedModel::LogisticRegression(m) => m.feature_names.len(),
            FittedModel::GradientBoosting(_) => panic!("a logistic regression was fitted"),
        },
        started.elapsed().as_secs_f64()
    );
    let scores = model.predict(&later.features).unwrap();
    let metrics = evaluate(&scores, &labels(&later), 0.5).unwrap();
    eprintln!("{metrics:?}");
    assert!(metrics.roc_auc >= 0.80, "ROC AUC {}", metrics.roc_auc);
    // Balanced: at 0.5 the model flags well more than the ~20% base rate, like scikit-learn's
    // class_weight="balanced" (which flagged ~35% in the reference run).
    assert!(
        (0.25..0.50).contains(&metrics.positive_rate),
        "positive rate {}",
        metrics.positive_rate
    );
    let unbalanced = fit_logistic(
        &contract,
        &train.features,
        &labels(&train),
        TrainParams {
            balance_classes: false,
            ..TrainParams::default()
        },
    )
    .unwrap();
    let plain = evaluate(
        &unbalanced.predict(&later.features).unwrap(),
        &labels(&later),
        0.5,
    )
    .unwrap();
    assert!(
        plain.positive_rate < 0.2,
        "unbalanced positive rate {}",
        plain.positive_rate
    );
    // Weighting moves the slopes a little, the ranking hardly.
    assert!(
        (plain.roc_auc - metrics.roc_auc).abs() < 0.005,
        "balanced ROC AUC {} against unweighted {}",
        metrics.roc_auc,
        plain.roc_auc
    );
}

#[test]
fn a_saved_model_scores_exactly_as_the_trained_one() {
    let contract = Contract::demo();
    let train = snapshot((2026, 3, 1));
    let model = fit_logistic(
        &contract,
        &train.features,
        &labels(&train),
        TrainParams::default(),
    )
    .unwrap();
    let saved = serde_json::to_string(&model).unwrap();
    let loaded: ChurnModel = serde_json::from_str(&saved).unwrap();
    let later = snapshot((2026, 5, 1));
    assert_eq!(
        loaded.predict(&later.features).unwrap(),
        model.predict(&later.features).unwrap()
    );
}

fn largest_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Against scikit-learn (`fixtures/logreg.json`, written by `fixtures/make_logreg.py`): the same
/// transform and an L2-penalised logistic regression with C = 1, unweighted and with
/// `class_weight="balanced"`, fitted on 2000 rows and applied to 800 others. Both minimise the
/// same objective, so at a tight tolerance the churn probabilities agree to 1e-5, and at the
/// default tolerance (scikit-learn's own default `tol`) to 1e-3; the ROC AUC to 0.002 either way.
#[test]
fn matches_scikit_learn_logistic_regression() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/logreg.json")).unwrap();
    let contract = Contract::parse(common::CONTRACT, "test contract").unwrap();
    let train = common::frame(&fixture["train"]);
    let other = common::frame(&fixture["other"]);
    let churned = common::bools(&fixture["train_churned"]);
    let other_churned = common::bools(&fixture["other_churned"]);
    let default_tolerance = TrainParams::default().gradient_tolerance;
    // (reference, balance classes, gradient tolerance per row, largest probability difference)
    for (case, balance_classes, gradient_tolerance, tolerance) in [
        ("unweighted", false, 1e-12, 1e-5),
        ("unweighted", false, default_tolerance, 1e-3),
        ("balanced", true, 1e-12, 1e-5),
        ("balanced", true, default_tolerance, 1e-3),
    ] {
        let params = TrainParams {
            alpha: 1.0,
            max_iterations: 1000,
            balance_classes,
            gradient_tolerance,
        };
        let model = fit_logistic(&contract, &train, &churned, params).unwrap();
        let ours = model.predict(&other).unwrap();
        let reference = common::floats(&fixture[case]["probabilities"]);
        let difference = largest_difference(&ours, &reference);
        println!(
            "{case}, gradient tolerance {gradient_tolerance:e}: largest probability difference \
             {difference:.2e}"
        );
        assert!(
            difference < tolerance,
            "{case}: probabilities differ by up to {difference} (tolerance {tolerance})"
        );
        let roc_auc = evaluate(&ours, &other_churned, 0.5).unwrap().roc_auc;
        let reference_auc = fixture[case]["roc_auc"].as_f64().unwrap();
        assert!(
            (roc_auc - reference_auc).abs() < 0.002,
            "{case}: ROC AUC {roc_auc} against scikit-learn's {reference_auc}"
        );
    }
}

/// NaN and infinities reach a model only where the contract lets them through as a warning; the
/// model then treats them as missing, like nulls, so every score is still a probability.
#[test]
fn non_finite_features_score_as_missing_values() {
    use polars::prelude::*;
    let contract = Contract::demo();
    let train = snapshot((2026, 3, 1));
    let model = fit_logistic(
        &contract,
        &train.features,
        &labels(&train),
        TrainParams::default(),
    )
    .unwrap();
    let later = snapshot((2026, 5, 1)).features;
    let rows = later.height();
    let mut broken = later.clone();
    let revenue: Vec<f64> = (0..rows)
        .map(|i| {
            if i % 2 == 0 {
                f64::NAN
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    broken
        .with_column(Column::new("total_revenue".into(), revenue))
        .unwrap();
    let mut nulled = later.clone();
    nulled
        .with_column(Column::full_null(
            "total_revenue".into(),
            rows,
            &DataType::Float64,
        ))
        .unwrap();
    let broken_scores = model.predict(&broken).unwrap();
    assert!(broken_scores.iter().all(|p| (0.0..=1.0).contains(p)));
    assert_eq!(broken_scores, model.predict(&nulled).unwrap());
}
