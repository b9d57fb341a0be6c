//! The baseline churn model: the fitted [`Preprocessor`] followed by a class-weighted logistic
//! regression, saved and loaded as one JSON artifact so scoring applies exactly the training
//! transform.
//!
//! The regression is [`crate::logistic`]: scikit-learn's objective (weighted mean log loss, L2
//! penalty `alpha`, unpenalised intercept) with `class_weight="balanced"` weights when
//! `balance_classes` is set, minimised by argmin's L-BFGS.

use ndarray::ArrayView1;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calibration::{CalibrationError, Calibrator, Method};
use crate::contract::Contract;
use crate::logistic::{self, LogisticError, LogisticSettings};
use crate::preprocess::{PreprocessError, Preprocessor};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// L2 penalty (scikit-learn's 1 / C).
    pub alpha: f64,
    pub max_iterations: u64,
    /// Weight the classes as scikit-learn's `class_weight="balanced"` does.
    pub balance_classes: bool,
    /// Stop when the norm of the mean loss's gradient falls below this (scikit-learn's `tol`).
    #[serde(default = "default_gradient_tolerance")]
    pub gradient_tolerance: f64,
}

fn default_gradient_tolerance() -> f64 {
    1e-4
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            max_iterations: 200,
            balance_classes: true,
            gradient_tolerance: default_gradient_tolerance(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    pub preprocessor: Preprocessor,
    pub feature_names: Vec<String>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    pub params: TrainParams,
    /// L-BFGS iterations the fit took, and whether it met the gradient tolerance.
    #[serde(default)]
    pub iterations: u64,
    #[serde(default)]
    pub converged: bool,
    /// Maps the regression's margin to a calibrated probability; models saved before calibration
    /// have none and report the regression's own (class-weighted) sigmoid.
    #[serde(default)]
    pub calibrator: Option<Calibrator>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error("fitting the logistic regression: {0}")]
    Fit(#[from] LogisticError),
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
}

impl ChurnModel {
    /// Fits the transform and the model on training rows; `labels[i]` is true when row i churned.
    pub fn fit(
        contract: &Contract,
        features: &DataFrame,
        labels: &[bool],
        params: TrainParams,
    ) -> Result<Self, ModelError> {
        // The clone shares the columns; fit_owned's releasing them frees nothing of `features`.
        Self::fit_owned(contract, features.clone(), labels, params)
    }

    /// As [`ChurnModel::fit`], giving the frame up column by column as it is transformed, so a
    /// large training frame and its feature matrix are not held at once. The matrix holds `f32`
    /// cells (scoring transforms in `f64`; the two differ by float rounding, about 1e-7).
    pub fn fit_owned(
        contract: &Contract,
        features: DataFrame,
        labels: &[bool],
        params: TrainParams,
    ) -> Result<Self, ModelError> {
        let preprocessor = Preprocessor::fit(contract, &features)?;
        // f32 cells: half the memory of the largest thing training holds; sums stay in f64.
        let x = preprocessor.transform_owned::<f32>(features)?;
        let fitted = logistic::fit(
            x.view(),
            labels,
            LogisticSettings {
                alpha: params.alpha,
                balanced: params.balance_classes,
                max_iterations: params.max_iterations,
                gradient_tolerance: params.gradient_tolerance,
            },
        )?;
        Ok(Self {
            feature_names: preprocessor.output_names(),
            preprocessor,
            coefficients: fitted.coefficients,
            intercept: fitted.intercept,
            params,
            iterations: fitted.iterations,
            converged: fitted.converged,
            calibrator: None,
        })
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
        match &self.calibrator {
            Some(calibrator) => margins.iter().map(|z| calibrator.apply(*z)).collect(),
            None => margins.iter().map(|z| logistic::sigmoid(*z)).collect(),
        }
    }

    /// The regression's margin (log-odds, class-weighted) of each row, before calibration.
    pub fn margins(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError> {
        self.map_margins(features, 64 * 1024, |z| z)
    }

    /// The probability of churn of each row: calibrated when the model has a calibrator.
    ///
    /// Rows are transformed a slice at a time, so scoring millions of customers never holds
    /// their whole feature matrix.
    pub fn predict(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError> {
        self.predict_in_slices(features, 64 * 1024)
    }

    fn predict_in_slices(
        &self,
        features: &DataFrame,
        slice_rows: usize,
    ) -> Result<Vec<f64>, ModelError> {
        match &self.calibrator {
            Some(calibrator) => self.map_margins(features, slice_rows, |z| calibrator.apply(z)),
            None => self.map_margins(features, slice_rows, logistic::sigmoid),
        }
    }

    /// `map` of every row's margin, transforming `slice_rows` rows at a time.
    fn map_margins(
        &self,
        features: &DataFrame,
        slice_rows: usize,
        map: impl Fn(f64) -> f64,
    ) -> Result<Vec<f64>, ModelError> {
        let coefficients = ArrayView1::from(&self.coefficients[..]);
        let mut values = Vec::with_capacity(features.height());
        let mut offset = 0;
        while offset < features.height() {
            let slice = features.slice(offset as i64, slice_rows);
            let x = self.preprocessor.transform(&slice)?;
            let z = logistic::margins(x.view(), coefficients, self.intercept);
            values.extend(z.iter().map(|z| map(*z)));
            offset += slice_rows;
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo_data::{SnapshotSpec, generate};

    #[test]
    fn scoring_in_slices_gives_the_same_probabilities_as_at_once() {
        let snapshot = generate(&SnapshotSpec {
            customers: 3_000,
            snapshot_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            seed: 5,
            drift: false,
        })
        .unwrap();
        let labels: Vec<bool> = snapshot
            .labels
            .column("churned")
            .unwrap()
            .bool()
            .unwrap()
            .iter()
            .map(|v| v.unwrap())
            .collect();
        let contract = Contract::demo();
        let model = ChurnModel::fit_owned(
            &contract,
            snapshot.features.clone(),
            &labels,
            TrainParams::default(),
        )
        .unwrap();
        let whole = model
            .predict_in_slices(&snapshot.features, usize::MAX)
            .unwrap();
        let sliced = model.predict_in_slices(&snapshot.features, 1_024).unwrap();
        assert_eq!(whole.len(), 3_000);
        assert_eq!(sliced, whole);
        // The owned fit equals the borrowed one.
        let borrowed = ChurnModel::fit(
            &contract,
            &snapshot.features,
            &labels,
            TrainParams::default(),
        )
        .unwrap();
        assert_eq!(borrowed, model);
    }
}
