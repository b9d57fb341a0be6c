//! Calibration: turns a model's raw score (its margin, the log-odds it would report) into a
//! probability that means what it says, fitted on rows held out from the model's own fit.
//!
//! A class-weighted logistic regression ranks well but over-states risk: on the demo data its mean
//! score was 0.386 against a churn rate near 0.19. Two methods, as scikit-learn's
//! `CalibratedClassifierCV` has them, both over the decision value (the margin):
//! - `sigmoid` (Platt scaling): P = 1 / (1 + exp(a f + b)), fitted by scikit-learn's
//!   `_sigmoid_calibration` objective (log loss against Platt's smoothed targets) with argmin's
//!   L-BFGS, the optimiser the logistic regression uses;
//! - `isotonic`: the best non-decreasing fit (pool adjacent violators over the margins, equal
//!   margins merged first), interpolated linearly between its points and clipped to them outside,
//!   as scikit-learn's `IsotonicRegression(out_of_bounds="clip")`. Written here: linfa-linear's
//!   `IsotonicRegression` 0.8.1 does not give scikit-learn's answers (see `fit_isotonic`).
//!
//! Both are checked against scikit-learn in `tests/calibration.rs`.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::BacktrackingLineSearch;
use argmin::solver::linesearch::condition::ArmijoCondition;
use argmin::solver::quasinewton::LBFGS;
use ndarray::Array1;
use serde::{Deserialize, Serialize};

use crate::logistic::sigmoid;

/// Which calibration to fit; `auto` fits both on half the calibration rows and keeps the one with
/// the lower log loss on the other half.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Sigmoid,
    Isotonic,
    #[default]
    Auto,
}

/// A fitted calibration, saved with the model and applied by every prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Calibrator {
    /// P = 1 / (1 + exp(a f + b)) of the margin f.
    Sigmoid { a: f64, b: f64 },
    /// Linear interpolation through (margins[i], probabilities[i]), margins ascending, clipped
    /// to the first and last point outside them.
    Isotonic {
        margins: Vec<f64>,
        probabilities: Vec<f64>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("calibration needs both churners and non-churners among its {0} rows")]
    OneClass(usize),
    #[error("fitting the sigmoid calibration: {0}")]
    Sigmoid(String),
    #[error("fitting the isotonic calibration: {0}")]
    Isotonic(String),
}

/// Platt's targets: the labels pulled towards the prior so that a separable calibration set does
/// not fit an infinite slope (scikit-learn's `_sigmoid_calibration`).
fn platt_targets(labels: &[bool]) -> Vec<f64> {
    let positives = labels.iter().filter(|y| **y).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let high = (positives + 1.0) / (positives + 2.0);
    let low = 1.0 / (negatives + 2.0);
    labels.iter().map(|&y| if y { high } else { low }).collect()
}

/// The log loss of P = sigmoid(-(a f + b)) against soft targets, summed, and its gradient.
struct PlattProblem {
    margins: Vec<f64>,
    targets: Vec<f64>,
}

impl PlattProblem {
    fn loss_and_gradient(&self, ab: &Array1<f64>) -> (f64, Array1<f64>) {
        let (a, b) = (ab[0], ab[1]);
        let mut loss = 0.0;
        let (mut grad_a, mut grad_b) = (0.0, 0.0);
        for (&f, &t) in self.margins.iter().zip(&self.targets) {
            // raw = -(a f + b); loss = log(1 + exp(raw)) - t raw, written to stay finite.
            let raw = -(a * f + b);
            loss += raw.max(0.0) + (-raw.abs()).exp().ln_1p() - t * raw;
            let residual = sigmoid(raw) - t;
            grad_a -= residual * f;
            grad_b -= residual;
        }
        (loss, Array1::from(vec![grad_a, grad_b]))
    }
}

impl CostFunction for PlattProblem {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, ab: &Array1<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.loss_and_gradient(ab).0)
    }
}

impl Gradient for PlattProblem {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, ab: &Array1<f64>) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(self.loss_and_gradient(ab).1)
    }
}

/// Margins this large are scaled down before the fit, and the slope scaled back after, as
/// scikit-learn does, so the optimiser works with values of order one.
const LARGE_MARGIN: f64 = 30.0;

/// The longest step the logistic regression's line search may take (argmin's More-Thuente search
/// is unbounded by default, and has no iteration limit of its own).
pub const MAX_LINE_SEARCH_STEP: f64 = 1e6;

/// The Platt fit's line search over (a, b).
type PlattLineSearch = BacktrackingLineSearch<Array1<f64>, Array1<f64>, ArmijoCondition<f64>, f64>;

/// The Platt fit's line search: backtracking to the Armijo condition, halving the step each try,
/// which always ends (a small enough step satisfies it, and the step runs out otherwise).
/// argmin's More-Thuente search never returned on some calibration sets (a demo night's trees
/// left the train stage spinning for over 10 minutes, bounded step or not).
fn platt_line_search() -> Result<PlattLineSearch, CalibrationError> {
    let fail = |err: argmin::core::Error| CalibrationError::Sigmoid(err.to_string());
    BacktrackingLineSearch::new(ArmijoCondition::new(1e-4).map_err(fail)?)
        .rho(0.5)
        .map_err(fail)
}

fn fit_sigmoid(margins: &[f64], labels: &[bool]) -> Result<Calibrator, CalibrationError> {
    let largest = margins.iter().fold(0.0f64, |m, f| m.max(f.abs()));
    let scale = if largest >= LARGE_MARGIN {
        largest
    } else {
        1.0
    };
    let positives = labels.iter().filter(|y| **y).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let problem = PlattProblem {
        margins: margins.iter().map(|f| f / scale).collect(),
        targets: platt_targets(labels),
    };
    let start = Array1::from(vec![0.0, ((negatives + 1.0) / (positives + 1.0)).ln()]);
    let solver = LBFGS::new(platt_line_search()?, 10)
        .with_tolerance_grad(1e-8)
        .and_then(|solver| solver.with_tolerance_cost(1e-14))
        .map_err(|err| CalibrationError::Sigmoid(err.to_string()))?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start).max_iters(200))
        .run()
        .map_err(|err| CalibrationError::Sigmoid(err.to_string()))?;
    let ab = result
        .state()
        .get_best_param()
        .ok_or_else(|| CalibrationError::Sigmoid("no parameters came back".to_string()))?;
    Ok(Calibrator::Sigmoid {
        a: ab[0] / scale,
        b: ab[1],
    })
}

/// scikit-learn merges margins closer than this to the first of their run (numpy's float64
/// resolution) into one point.
const SAME_MARGIN: f64 = 1e-15;

/// Weighted pool adjacent violators: the non-decreasing sequence closest (in weighted squares) to
/// `values`. Returns (value, weight, points pooled) per block, in order.
fn pool_adjacent_violators(values: &[f64], weights: &[f64]) -> Vec<(f64, f64, usize)> {
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(values.len());
    for (&value, &weight) in values.iter().zip(weights) {
        blocks.push((value, weight, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (v2, w2, n2) = blocks.pop().unwrap_or_default();
            let last = blocks.len() - 1;
            let (v1, w1, n1) = blocks[last];
            blocks[last] = ((v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2);
        }
    }
    blocks
}

fn fit_isotonic(margins: &[f64], labels: &[bool]) -> Result<Calibrator, CalibrationError> {
    // As scikit-learn's IsotonicRegression: order by margin (then label), merge equal margins into
    // one point of their mean label weighted by their count, pool adjacent violators, keep the
    // ends of each flat step. linfa-linear's IsotonicRegression was the candidate library, but
    // 0.8.1 reads its knots from the unsorted input and interpolates inside pooled blocks, so its
    // calibrated probabilities differ from scikit-learn's even without ties.
    let mut order: Vec<usize> = (0..margins.len()).collect();
    order.sort_by(|&i, &j| {
        margins[i]
            .total_cmp(&margins[j])
            .then(labels[i].cmp(&labels[j]))
    });
    let (mut xs, mut ys, mut ws): (Vec<f64>, Vec<f64>, Vec<f64>) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut run_start = f64::NAN;
    for &i in &order {
        let (x, y) = (margins[i], f64::from(u8::from(labels[i])));
        if !xs.is_empty() && x - run_start < SAME_MARGIN {
            let last = ys.len() - 1;
            ys[last] = (ys[last] * ws[last] + y) / (ws[last] + 1.0);
            ws[last] += 1.0;
        } else {
            run_start = x;
            xs.push(x);
            ys.push(y);
            ws.push(1.0);
        }
    }
    if xs.iter().any(|x| !x.is_finite()) {
        return Err(CalibrationError::Isotonic(
            "a margin is not a finite number".to_string(),
        ));
    }
    let mut fitted = Vec::with_capacity(xs.len());
    for (value, _, count) in pool_adjacent_violators(&ys, &ws) {
        fitted.extend(std::iter::repeat_n(value, count));
    }
    let mut kept_margins = Vec::new();
    let mut kept_probabilities = Vec::new();
    for i in 0..xs.len() {
        let flat_inside =
            i > 0 && i + 1 < xs.len() && fitted[i - 1] == fitted[i] && fitted[i + 1] == fitted[i];
        if !flat_inside {
            kept_margins.push(xs[i]);
            kept_probabilities.push(fitted[i]);
        }
    }
    Ok(Calibrator::Isotonic {
        margins: kept_margins,
        probabilities: kept_probabilities,
    })
}

impl Calibrator {
    /// Fits `method` on held-out `margins` and their labels. [`Method::Auto`] fits both methods on
    /// every other row, keeps the one with the lower log loss on the remaining rows (so the
    /// choice is made on rows neither fit saw, and not on the rows evaluation reports on), and
    /// fits it again on all rows.
    pub fn fit(method: Method, margins: &[f64], labels: &[bool]) -> Result<Self, CalibrationError> {
        let positives = labels.iter().filter(|y| **y).count();
        if positives == 0 || positives == labels.len() {
            return Err(CalibrationError::OneClass(labels.len()));
        }
        let non_finite = margins.iter().filter(|m| !m.is_finite()).count();
        if non_finite > 0 {
            return Err(CalibrationError::Sigmoid(format!(
                "{non_finite} of {} margins are not finite numbers; nothing to calibrate",
                margins.len()
            )));
        }
        match method {
            Method::Sigmoid => fit_sigmoid(margins, labels),
            Method::Isotonic => fit_isotonic(margins, labels),
            Method::Auto => {
                let half = |parity: usize| -> (Vec<f64>, Vec<bool>) {
                    (0..margins.len())
                        .filter(|i| i % 2 == parity)
                        .map(|i| (margins[i], labels[i]))
                        .unzip()
                };
                let (fit_margins, fit_labels) = half(0);
                let (choose_margins, choose_labels) = half(1);
                let fit_positives = fit_labels.iter().filter(|y| **y).count();
                if fit_positives == 0 || fit_positives == fit_labels.len() {
                    // Too few rows to choose on: Platt's two parameters are the safer fit.
                    return fit_sigmoid(margins, labels);
                }
                let loss = |c: &Calibrator| {
                    let scores: Vec<f64> = choose_margins.iter().map(|f| c.apply(*f)).collect();
                    crate::metrics::log_loss(&scores, &choose_labels)
                };
                let sigmoid = fit_sigmoid(&fit_margins, &fit_labels)?;
                let isotonic = fit_isotonic(&fit_margins, &fit_labels)?;
                if loss(&isotonic) < loss(&sigmoid) {
                    fit_isotonic(margins, labels)
                } else {
                    fit_sigmoid(margins, labels)
                }
            }
        }
    }

    /// The calibrated probability of a margin.
    pub fn apply(&self, margin: f64) -> f64 {
        match self {
            Calibrator::Sigmoid { a, b } => sigmoid(-(a * margin + b)),
            Calibrator::Isotonic {
                margins,
                probabilities,
            } => interpolate(margins, probabilities, margin),
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            Calibrator::Sigmoid { .. } => "sigmoid",
            Calibrator::Isotonic { .. } => "isotonic",
        }
    }
}

/// Linear interpolation through ascending `xs`, clipped to the end points (numpy's `interp`).
fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
        return 0.5;
    };
    if x <= first {
        return ys[0];
    }
    if x >= last {
        return ys[ys.len() - 1];
    }
    let upper = xs.partition_point(|v| *v <= x);
    let (x0, x1, y0, y1) = (xs[upper - 1], xs[upper], ys[upper - 1], ys[upper]);
    if x1 == x0 {
        return y1;
    }
    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
}
