//! Drift of a whole snapshot against the training reference: every feature of the contract
//! (numerics by KS, categoricals by chi-square) with p-values corrected for the number of features
//! tested, and the score distribution (prediction drift) beside them. The statistics are in
//! [`crate::drift`]; this module only pulls the columns out of the frames.

use polars::prelude::*;

use crate::contract::Contract;
use crate::drift::{
    DriftError, FeatureDrift, Histogram, Thresholds, adjust_p_values, categorical_drift,
    category_counts, numeric_drift,
};

/// The name the score's drift row carries.
pub const SCORE_FEATURE: &str = "churn_probability";
/// Equal-width probability bands of the score's histogram (5 points each).
pub const SCORE_BANDS: usize = 20;

fn column_error(feature: &str, err: PolarsError) -> DriftError {
    DriftError::Test {
        feature: feature.to_string(),
        reason: err.to_string(),
    }
}

/// A numeric column as f64, nulls as NaN (which the tests leave out).
pub fn numeric_values(frame: &DataFrame, feature: &str) -> Result<Vec<f64>, DriftError> {
    let column = frame
        .column(feature)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(|err| column_error(feature, err))?;
    let values = column.f64().map_err(|err| column_error(feature, err))?;
    Ok(values.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn categories(
    frame: &DataFrame,
    feature: &str,
) -> Result<std::collections::BTreeMap<String, usize>, DriftError> {
    let column = frame
        .column(feature)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(|err| column_error(feature, err))?;
    let values = column.str().map_err(|err| column_error(feature, err))?;
    Ok(category_counts(values.iter()))
}

/// Drift of every contract feature of `current` against `reference` (CPU work).
pub fn feature_drift(
    contract: &Contract,
    reference: &DataFrame,
    current: &DataFrame,
    thresholds: &Thresholds,
) -> Result<Vec<FeatureDrift>, DriftError> {
    let mut drifts = Vec::new();
    for feature in contract.numeric_features() {
        drifts.push(numeric_drift(
            &feature,
            &numeric_values(reference, &feature)?,
            &numeric_values(current, &feature)?,
            thresholds,
        )?);
    }
    for feature in contract.categorical_features() {
        drifts.push(categorical_drift(
            &feature,
            &categories(reference, &feature)?,
            &categories(current, &feature)?,
            thresholds,
        )?);
    }
    adjust_p_values(&mut drifts);
    Ok(drifts)
}

/// Drift of today's scores against the reference scores (one test, so no correction).
pub fn prediction_drift(
    reference: &[f64],
    current: &[f64],
    thresholds: &Thresholds,
) -> Result<FeatureDrift, DriftError> {
    let mut drift = numeric_drift(SCORE_FEATURE, reference, current, thresholds)?;
    drift.p_value_adjusted = drift.p_value;
    drift.histogram = Some(Histogram::of(reference, current, 0.0, 1.0, SCORE_BANDS));
    Ok(drift)
}
