//! The baseline churn model: the fitted [`Preprocessor`] followed by a logistic regression
//! (linfa-logistic), saved and loaded as one JSON artifact so scoring applies exactly the training
//! transform.
//!
//! Class weighting: linfa-logistic takes no sample weights, so the model is fitted unweighted and
//! its intercept is moved by ln(negatives / positives), the prior correction that balanced class
//! weights amount to for a logistic model (slopes, and so the ranking and ROC AUC, are unchanged;
//! probabilities are centred as `class_weight="balanced"` centres them).
//!
//! linfa-logistic's probability is that of the more frequent class; the stored coefficients are
//! oriented so that the model always predicts the probability of churn.
//!
//! Convergence: linfa-logistic minimises the *summed* log loss, so a fixed gradient tolerance gets
//! stricter with every row (at 1e-4 it ran out of iterations on 80k rows, 4.5 times slower than
//! scikit-learn). The tolerance here is per row, as scikit-learn's `tol` is on the mean loss.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::preprocess::{PreprocessError, Preprocessor};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// L2 penalty of linfa-logistic.
    pub alpha: f64,
    pub max_iterations: u64,
    /// Move the intercept as balanced class weights would.
    pub balance_classes: bool,
    /// Stop when the gradient's norm falls below this times the number of training rows.
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
    /// Includes the prior correction when classes were balanced.
    pub intercept: f64,
    pub prior_correction: f64,
    pub params: TrainParams,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error("fitting the logistic regression failed: {0}")]
    Fit(String),
    #[error("{rows} feature rows but {labels} labels")]
    Length { rows: usize, labels: usize },
    #[error("the training labels hold only one class")]
    OneClass,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl ChurnModel {
    /// Fits the transform and the model on training rows; `labels[i]` is true when row i churned.
    pub fn fit(
        contract: &Contract,
        features: &DataFrame,
        labels: &[bool],
        params: TrainParams,
    ) -> Result<Self, ModelError> {
        if features.height() != labels.len() {
            return Err(ModelError::Length {
                rows: features.height(),
                labels: labels.len(),
            });
        }
        let positives = labels.iter().filter(|l| **l).count();
        if positives == 0 || positives == labels.len() {
            return Err(ModelError::OneClass);
        }
        let preprocessor = Preprocessor::fit(contract, features)?;
        let x: Array2<f64> = preprocessor.transform(features)?;
        let y: Array1<bool> = Array1::from(labels.to_vec());
        let fitted = LogisticRegression::default()
            .alpha(params.alpha)
            .max_iterations(params.max_iterations)
            .gradient_tolerance(params.gradient_tolerance * labels.len() as f64)
            .fit(&Dataset::new(x, y))
            .map_err(|err| ModelError::Fit(err.to_string()))?;
        // linfa-logistic models the probability of its "positive" class, which is the more
        // frequent label (not the larger value): for churn data that is `false`, not churned.
        // P(churn) = 1 - sigmoid(z) = sigmoid(-z), so the signs flip when that is the case.
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        let prior_correction = if params.balance_classes {
            ((labels.len() - positives) as f64 / positives as f64).ln()
        } else {
            0.0
        };
        Ok(Self {
            feature_names: preprocessor.output_names(),
            preprocessor,
            coefficients: fitted.params().iter().map(|w| sign * w).collect(),
            intercept: sign * fitted.intercept() + prior_correction,
            prior_correction,
            params,
        })
    }

    /// The probability of churn of each row.
    pub fn predict(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError> {
        let x = self.preprocessor.transform(features)?;
        let weights = Array1::from(self.coefficients.clone());
        Ok(x.dot(&weights)
            .iter()
            .map(|z| sigmoid(z + self.intercept))
            .collect())
    }
}
