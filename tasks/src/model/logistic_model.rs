//! The logistic-regression family: the fitted [`Preprocessor`] (median imputation,
//! standardisation, one-hot encoding) followed by a class-weighted logistic regression.
//!
//! The regression is [`crate::logistic`]: scikit-learn's objective (weighted mean log loss, L2
//! penalty `alpha`, unpenalised intercept) with `class_weight="balanced"` weights when
//! `balance_classes` is set, minimised by argmin's L-BFGS.
//!
//! Contributions are exact, as `shap.LinearExplainer` defines them with the training rows as
//! background: a feature's coefficient times its deviation from the training mean in the
//! transformed space (a standardised numeric feature has mean 0; a category's one-hot column has
//! the category's training share), summed over a categorical feature's columns.

use ndarray::ArrayView1;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Contributions, Family, FamilyDescription, FamilyParams, FittedFamily, ModelError};
use crate::contract::Contract;
use crate::logistic::{self, LogisticSettings};
use crate::preprocess::Preprocessor;

/// The logistic regression's parameters (`train.params.families.logistic_regression`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticParams {
    /// L2 penalty (scikit-learn's 1 / C).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u64,
    /// Weight the classes as scikit-learn's `class_weight="balanced"` does.
    #[serde(default = "default_balance_classes")]
    pub balance_classes: bool,
    /// Stop when the norm of the mean loss's gradient falls below this (scikit-learn's `tol`).
    #[serde(default = "default_gradient_tolerance")]
    pub gradient_tolerance: f64,
}

fn default_alpha() -> f64 {
    1.0
}
fn default_max_iterations() -> u64 {
    200
}
fn default_balance_classes() -> bool {
    true
}
fn default_gradient_tolerance() -> f64 {
    1e-4
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            alpha: default_alpha(),
            max_iterations: default_max_iterations(),
            balance_classes: default_balance_classes(),
            gradient_tolerance: default_gradient_tolerance(),
        }
    }
}

impl LogisticParams {
    /// What is wrong with the parameters, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            problems.push(format!("alpha = {} must be greater than 0", self.alpha));
        }
        if self.max_iterations == 0 {
            problems.push("max_iterations = 0 must be at least 1".to_string());
        }
        if !(self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0) {
            problems.push(format!(
                "gradient_tolerance = {} must be greater than 0",
                self.gradient_tolerance
            ));
        }
        problems
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub preprocessor: Preprocessor,
    pub feature_names: Vec<String>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    pub params: LogisticParams,
    /// L-BFGS iterations the fit took, and whether it met the gradient tolerance.
    #[serde(default)]
    pub iterations: u64,
    #[serde(default)]
    pub converged: bool,
}

impl LogisticModel {
    /// Fits the transform and the regression on training rows (`labels[i]`: row i churned),
    /// giving the frame up column by column as it is transformed, so a large training frame and
    /// its feature matrix are not held at once. The matrix holds `f32` cells (scoring transforms
    /// in `f64`; the two differ by float rounding, about 1e-7).
    pub fn fit_owned(
        contract: &Contract,
        features: DataFrame,
        labels: &[bool],
        params: LogisticParams,
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
        })
    }

    /// The training mean of each transformed column: 0 for a standardised numeric feature, the
    /// category's share for a one-hot column (0 in models saved before shares were kept).
    fn column_means(&self) -> Vec<f64> {
        let mut means = vec![0.0; self.preprocessor.numeric.len()];
        for step in &self.preprocessor.categorical {
            means.extend(
                (0..step.categories.len()).map(|k| step.frequencies.get(k).copied().unwrap_or(0.0)),
            );
        }
        means
    }
}

impl FittedFamily for LogisticModel {
    fn family(&self) -> Family {
        Family::LogisticRegression
    }

    fn margins(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError> {
        let x = self.preprocessor.transform(features)?;
        let coefficients = ArrayView1::from(&self.coefficients[..]);
        Ok(logistic::margins(x.view(), coefficients, self.intercept).to_vec())
    }

    fn contributions(&self, features: &DataFrame) -> Result<Contributions, ModelError> {
        let x = self.preprocessor.transform(features)?;
        let means = self.column_means();
        // Which contract feature each transformed column belongs to.
        let mut owner: Vec<usize> = (0..self.preprocessor.numeric.len()).collect();
        let mut names: Vec<String> = self
            .preprocessor
            .numeric
            .iter()
            .map(|s| s.column.clone())
            .collect();
        for step in &self.preprocessor.categorical {
            owner.extend(std::iter::repeat_n(names.len(), step.categories.len()));
            names.push(step.column.clone());
        }
        let width = names.len();
        let rows = x.nrows();
        let mut values = vec![0.0; rows * width];
        for (j, column) in x.columns().into_iter().enumerate() {
            let (weight, mean, feature) = (self.coefficients[j], means[j], owner[j]);
            for (i, cell) in column.iter().enumerate() {
                values[i * width + feature] += weight * (cell - mean);
            }
        }
        let base = self.intercept
            + self
                .coefficients
                .iter()
                .zip(&means)
                .map(|(w, m)| w * m)
                .sum::<f64>();
        Ok(Contributions {
            features: names,
            base,
            values,
        })
    }

    fn feature_centres(&self) -> std::collections::BTreeMap<String, f64> {
        self.preprocessor
            .numeric
            .iter()
            .map(|step| (step.column.clone(), step.mean))
            .collect()
    }

    fn describe(&self) -> FamilyDescription {
        FamilyDescription {
            family: Family::LogisticRegression,
            summary: format!(
                "{} input columns, L2 alpha {}, {} L-BFGS iterations ({})",
                self.coefficients.len(),
                self.params.alpha,
                self.iterations,
                if self.converged {
                    "converged"
                } else {
                    "stopped at max_iterations"
                }
            ),
            params: FamilyParams::LogisticRegression(self.params),
        }
    }
}
