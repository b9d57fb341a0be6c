//! The churn model behind one seam. A model is a fitted *family* (how raw scores are computed)
//! plus the calibration that turns those raw scores into probabilities; it is saved and loaded as
//! one JSON artifact tagged with its family, so scoring applies exactly what training fitted.
//!
//! Every family implements [`FittedFamily`]: raw margins (log-odds before calibration) over a
//! frame, per-feature contributions to that margin for any row (the reasons a CRM user reads),
//! and a description for the model card. Fitting is family-specific ([`FamilyParams::fit`]),
//! since each family has its own parameters in dags.toml.
//!
//! Artifacts written before families existed have no `family` tag and are logistic regressions:
//! [`ChurnModel::from_json`] reads them as such.

pub mod boosting;
pub mod logistic_model;
pub mod reasons;
pub mod tree_shap;

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calibration::{CalibrationError, Calibrator, Method};
use crate::contract::Contract;
use crate::logistic::{self, LogisticError};
use crate::preprocess::PreprocessError;

pub use boosting::{BoostedModel, BoostingParams};
pub use logistic_model::{LogisticModel, LogisticParams};

/// The kinds of model churnflow can fit, simplest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    LogisticRegression,
    GradientBoosting,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::LogisticRegression, Family::GradientBoosting];

    /// The family's name in dags.toml, artifacts and the warehouse.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::LogisticRegression => "logistic_regression",
            Family::GradientBoosting => "gradient_boosting",
        }
    }

    /// What a person reads in the report.
    pub fn display_name(self) -> &'static str {
        match self {
            Family::LogisticRegression => "logistic regression",
            Family::GradientBoosting => "gradient-boosted trees",
        }
    }

    /// Rank of complexity: a more complex family must beat a simpler one by the gate's margin.
    pub fn complexity(self) -> u8 {
        match self {
            Family::LogisticRegression => 0,
            Family::GradientBoosting => 1,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error("fitting the logistic regression: {0}")]
    Fit(#[from] LogisticError),
    #[error("fitting the gradient-boosted trees: {0}")]
    Boosting(String),
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
    #[error("the model artifact is not a churnflow model: {0}")]
    Artifact(String),
}

/// Each row's contributions to its margin, one per contract feature, and the margin of a row
/// the model knows nothing about: `base + sum(row) = margin` for every row.
#[derive(Debug, Clone, PartialEq)]
pub struct Contributions {
    /// Contract feature names, in the order of each row's values.
    pub features: Vec<String>,
    pub base: f64,
    /// Row-major: row i's contributions are `values[i * features.len()..][..features.len()]`.
    pub values: Vec<f64>,
}

impl Contributions {
    pub fn rows(&self) -> usize {
        self.values.len() / self.features.len().max(1)
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let width = self.features.len();
        &self.values[i * width..(i + 1) * width]
    }
}

/// A model card's account of a fitted family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyDescription {
    pub family: Family,
    /// One line for people: size and how the fit went.
    pub summary: String,
    pub params: FamilyParams,
}

/// What every fitted family does.
pub trait FittedFamily {
    fn family(&self) -> Family;
    /// The raw margin (log-odds before calibration) of each row.
    fn margins(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError>;
    /// Each row's contributions to its margin per contract feature.
    fn contributions(&self, features: &DataFrame) -> Result<Contributions, ModelError>;
    fn describe(&self) -> FamilyDescription;
    /// Each numeric feature's training mean: a reason calls a value above it high.
    fn feature_centres(&self) -> BTreeMap<String, f64>;
}

/// A family's parameters as dags.toml states them (under `train.params.families.<family>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum FamilyParams {
    LogisticRegression(LogisticParams),
    GradientBoosting(BoostingParams),
}

impl FamilyParams {
    /// What is wrong with the parameters, each naming its key (checked by `dags check`).
    pub fn problems(&self) -> Vec<String> {
        match self {
            FamilyParams::LogisticRegression(params) => params.problems(),
            FamilyParams::GradientBoosting(params) => params.problems(),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            FamilyParams::LogisticRegression(_) => Family::LogisticRegression,
            FamilyParams::GradientBoosting(_) => Family::GradientBoosting,
        }
    }

    /// Fits this family on training rows, giving the frame up as it is transformed. Families
    /// that stop early hold their own share of these rows out (never the calibration or
    /// validation rows).
    pub fn fit(
        &self,
        contract: &Contract,
        features: DataFrame,
        labels: &[bool],
    ) -> Result<FittedModel, ModelError> {
        match self {
            FamilyParams::LogisticRegression(params) => Ok(FittedModel::LogisticRegression(
                LogisticModel::fit_owned(contract, features, labels, *params)?,
            )),
            FamilyParams::GradientBoosting(params) => Ok(FittedModel::GradientBoosting(Box::new(
                BoostedModel::fit_owned(contract, features, labels, params)?,
            ))),
        }
    }
}

/// A fitted family, tagged with its name in the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum FittedModel {
    LogisticRegression(LogisticModel),
    GradientBoosting(Box<BoostedModel>),
}

impl FittedModel {
    fn inner(&self) -> &dyn FittedFamily {
        match self {
            FittedModel::LogisticRegression(model) => model,
            FittedModel::GradientBoosting(model) => model.as_ref(),
        }
    }
}

/// A fitted family and its calibration: what the registry versions and scoring applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    #[serde(flatten)]
    pub fitted: FittedModel,
    /// Maps the family's margin to a calibrated probability; models saved before calibration
    /// have none and report the plain sigmoid of the margin.
    #[serde(default)]
    pub calibrator: Option<Calibrator>,
}

/// Rows transformed at a time when scoring, so millions of customers never need their whole
/// feature matrix at once.
pub const SLICE_ROWS: usize = 64 * 1024;

impl ChurnModel {
    pub fn new(fitted: FittedModel) -> Self {
        Self {
            fitted,
            calibrator: None,
        }
    }

    /// Reads an artifact; one without a `family` tag (written before families existed) is a
    /// logistic regression.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Artifact(e.to_string()))?;
        if let Some(fields) = value.as_object_mut()
            && !fields.contains_key("family")
        {
            fields.insert(
                "family".to_string(),
                Family::LogisticRegression.as_str().into(),
            );
        }
        serde_json::from_value(value).map_err(|e| ModelError::Artifact(e.to_string()))
    }

    pub fn family(&self) -> Family {
        self.fitted.inner().family()
    }

    pub fn describe(&self) -> FamilyDescription {
        self.fitted.inner().describe()
    }

    /// Fits the calibration on rows held out from the fit and keeps it in the model, so every
    /// prediction from now on is a calibrated probability.
    pub fn calibrate(
        &mut self,
        method: Method,
        features: &DataFrame,
        labels: &[bool],
    ) -> Result<(), ModelError> {
        let margins = self.margins(features)?;
        self.calibrator = Some(Calibrator::fit(method, &margins, labels)?);
        Ok(())
    }

    /// The probability of each margin: calibrated when the model has a calibrator.
    pub fn probabilities(&self, margins: &[f64]) -> Vec<f64> {
        margins.iter().map(|z| self.probability(*z)).collect()
    }

    fn probability(&self, margin: f64) -> f64 {
        match &self.calibrator {
            Some(calibrator) => calibrator.apply(margin),
            None => logistic::sigmoid(margin),
        }
    }

    /// The family's margin (log-odds before calibration) of each row.
    pub fn margins(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError> {
        self.map_margins(features, SLICE_ROWS, |z| z)
    }

    /// The probability of churn of each row: calibrated when the model has a calibrator.
    pub fn predict(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError> {
        self.predict_in_slices(features, SLICE_ROWS)
    }

    fn predict_in_slices(
        &self,
        features: &DataFrame,
        slice_rows: usize,
    ) -> Result<Vec<f64>, ModelError> {
        self.map_margins(features, slice_rows, |z| self.probability(z))
    }

    /// Each numeric feature's training mean.
    pub fn feature_centres(&self) -> BTreeMap<String, f64> {
        self.fitted.inner().feature_centres()
    }

    /// Each row's contributions to its margin per contract feature.
    pub fn contributions(&self, features: &DataFrame) -> Result<Contributions, ModelError> {
        self.fitted.inner().contributions(features)
    }

    /// `map` of every row's margin, `slice_rows` rows at a time.
    fn map_margins(
        &self,
        features: &DataFrame,
        slice_rows: usize,
        map: impl Fn(f64) -> f64,
    ) -> Result<Vec<f64>, ModelError> {
        let family = self.fitted.inner();
        let mut values = Vec::with_capacity(features.height());
        let mut offset = 0;
        while offset < features.height() {
            let slice = features.slice(offset as i64, slice_rows);
            values.extend(family.margins(&slice)?.into_iter().map(&map));
            offset += slice_rows;
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo_data::{SnapshotSpec, generate};

    /// `customers` demo rows of 2026-03-01 and their labels (shared with the families' tests).
    pub(super) fn demo(customers: usize, seed: u64) -> (DataFrame, Vec<bool>) {
        let snapshot = generate(&SnapshotSpec {
            customers,
            snapshot_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            seed,
            drift: false,
        })
        .unwrap();
        let labels = snapshot.churned().unwrap();
        (snapshot.features, labels)
    }

    fn logistic(features: &DataFrame, labels: &[bool]) -> ChurnModel {
        let params = FamilyParams::LogisticRegression(LogisticParams::default());
        ChurnModel::new(
            params
                .fit(&Contract::demo(), features.clone(), labels)
                .unwrap(),
        )
    }

    #[test]
    fn scoring_in_slices_gives_the_same_probabilities_as_at_once() {
        let (features, labels) = demo(3_000, 5);
        let model = logistic(&features, &labels);
        let whole = model.predict_in_slices(&features, usize::MAX).unwrap();
        let sliced = model.predict_in_slices(&features, 1_024).unwrap();
        assert_eq!(whole.len(), 3_000);
        assert_eq!(sliced, whole);
    }

    #[test]
    fn an_artifact_round_trips_with_its_family_tag() {
        let (features, labels) = demo(1_000, 5);
        let mut model = logistic(&features, &labels);
        model
            .calibrate(Method::Sigmoid, &features, &labels)
            .unwrap();
        let json = serde_json::to_vec(&model).unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains(r#""family":"logistic_regression""#), "{text}");
        assert_eq!(ChurnModel::from_json(&json).unwrap(), model);
    }

    #[test]
    fn an_artifact_without_a_family_tag_loads_as_a_logistic_regression() {
        let (features, labels) = demo(1_000, 5);
        let model = logistic(&features, &labels);
        let mut value = serde_json::to_value(&model).unwrap();
        value.as_object_mut().unwrap().remove("family");
        let legacy = serde_json::to_vec(&value).unwrap();
        let loaded = ChurnModel::from_json(&legacy).unwrap();
        assert_eq!(loaded.family(), Family::LogisticRegression);
        assert_eq!(
            loaded.predict(&features).unwrap(),
            model.predict(&features).unwrap()
        );
    }

    #[test]
    fn an_unknown_family_is_refused_by_name() {
        let err = ChurnModel::from_json(br#"{"family": "xgboost"}"#).unwrap_err();
        assert!(err.to_string().contains("xgboost"), "{err}");
    }

    #[test]
    fn contributions_add_up_to_the_margin() {
        let (features, labels) = demo(2_000, 5);
        let model = logistic(&features, &labels);
        let margins = model.margins(&features).unwrap();
        let contributions = model.contributions(&features).unwrap();
        assert_eq!(contributions.rows(), 2_000);
        assert_eq!(contributions.features, Contract::demo().feature_names());
        for (i, margin) in margins.iter().enumerate() {
            let total = contributions.base + contributions.row(i).iter().sum::<f64>();
            assert!(
                (total - margin).abs() < 1e-9,
                "row {i}: {total} vs {margin}"
            );
        }
    }
}
