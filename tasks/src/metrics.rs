//! Evaluation metrics of a binary churn model, tied to the business action (who gets contacted):
//! ranking quality (ROC AUC, PR AUC as average precision), calibration (log loss, Brier score,
//! expected calibration error and a 10-bin reliability table, the mean score beside the observed
//! churn rate), and the action at a decision threshold (precision, recall, F1, positive rate, lift
//! in the top decile).
//!
//! Computed in f64 here because linfa's metrics work in f32 and have neither average precision nor
//! the Brier score; every value is checked against scikit-learn in `tests/metrics.rs`.

use serde::{Deserialize, Serialize};

/// Probabilities are clipped to [EPS, 1 - EPS] in the log loss, as scikit-learn does for float64.
const LOG_LOSS_EPS: f64 = f64::EPSILON;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: usize,
    pub positives: usize,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Share of customers the model flags at the threshold.
    pub positive_rate: f64,
    /// Churn rate among the 10 % highest scores over the overall churn rate.
    pub top_decile_lift: f64,
    /// The mean score and the observed churn rate: for probabilities, the two agree.
    #[serde(default)]
    pub mean_score: f64,
    #[serde(default)]
    pub observed_rate: f64,
    /// Expected calibration error over [`RELIABILITY_BINS`] equal-width bins: the mean over
    /// customers of |mean score - observed rate| of their bin.
    #[serde(default)]
    pub expected_calibration_error: f64,
    /// The reliability table behind it (bins without customers left out).
    #[serde(default)]
    pub reliability: Vec<ReliabilityBin>,
    /// The cumulative gains curve at every tenth of customers, riskiest first.
    #[serde(default)]
    pub gains: Vec<GainsPoint>,
}

/// One point of the cumulative gains curve: contacting the riskiest `share` of customers reaches
/// `captured` of all churners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainsPoint {
    pub share: f64,
    pub captured: f64,
}

/// Points of the cumulative gains curve.
pub const GAINS_POINTS: usize = 10;

/// Equal-width score bins of the reliability table, as scikit-learn's `calibration_curve(n_bins=10,
/// strategy="uniform")`.
pub const RELIABILITY_BINS: usize = 10;

/// One bin of the reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// The bin's edges: scores in (lower, upper], the first bin including 0.
    pub lower: f64,
    pub upper: f64,
    pub mean_score: f64,
    pub observed_rate: f64,
    pub rows: usize,
}

/// The reliability table of `scores` in [0, 1]: per equal-width bin, the mean score, the observed
/// churn rate and the rows. Bins as scikit-learn's `calibration_curve` makes them: a score on an
/// inner edge belongs to the bin below it (`searchsorted` on the inner edges), 1.0 to the last.
pub fn reliability(scores: &[f64], labels: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    // numpy's linspace: i * (1 / bins), so an edge such as 0.30000000000000004 sorts as it does.
    let step = 1.0 / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step).collect();
    let inner = &edges[1..bins];
    let mut sums = vec![(0.0f64, 0usize, 0usize); bins];
    for (&p, &y) in scores.iter().zip(labels) {
        let bin = inner.partition_point(|edge| *edge < p);
        let cell = &mut sums[bin];
        cell.0 += p;
        cell.1 += usize::from(y);
        cell.2 += 1;
    }
    sums.into_iter()
        .enumerate()
        .filter(|(_, (_, _, rows))| *rows > 0)
        .map(|(i, (sum, positives, rows))| ReliabilityBin {
            lower: edges[i],
            upper: edges[i + 1],
            mean_score: sum / rows as f64,
            observed_rate: positives as f64 / rows as f64,
            rows,
        })
        .collect()
}

/// Expected calibration error of a reliability table: the row-weighted mean of |mean score -
/// observed rate| over its bins.
pub fn expected_calibration_error(table: &[ReliabilityBin]) -> f64 {
    let rows: usize = table.iter().map(|bin| bin.rows).sum();
    if rows == 0 {
        return 0.0;
    }
    table
        .iter()
        .map(|bin| (bin.mean_score - bin.observed_rate).abs() * bin.rows as f64)
        .sum::<f64>()
        / rows as f64
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    #[error("{0} scores but {1} labels")]
    Length(usize, usize),
    #[error("the labels hold only one class ({0} rows); ranking metrics need both")]
    OneClass(usize),
    #[error("score {0} is not a probability in [0, 1]")]
    NotAProbability(f64),
}

/// Indices ordering `scores` from highest to lowest (ties keep input order).
fn descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// ROC AUC: the probability that a random churner scores above a random non-churner, ties
/// counting one half (the Mann-Whitney statistic; equal to the trapezoidal area under the ROC).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let order = descending(scores);
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    // Walk groups of tied scores from the top: each positive in a group outranks every negative
    // below the group and ties (one half each) with the negatives inside it.
    let mut negatives_above = 0.0;
    let mut sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let (mut pos, mut neg) = (0.0, 0.0);
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if labels[order[j]] {
                pos += 1.0;
            } else {
                neg += 1.0;
            }
            j += 1;
        }
        sum += pos * (negatives - negatives_above - neg) + pos * neg * 0.5;
        negatives_above += neg;
        i = j;
    }
    sum / (positives * negatives)
}

/// Average precision, as scikit-learn's `average_precision_score`: the sum over score thresholds
/// of precision times the gain in recall.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    let order = descending(scores);
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut previous_recall = 0.0;
    let mut area = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if labels[order[j]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        let recall = tp / positives;
        area += (recall - previous_recall) * tp / (tp + fp);
        previous_recall = recall;
        i = j;
    }
    area
}

pub fn log_loss(scores: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = scores
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    total / scores.len() as f64
}

pub fn brier(scores: &[f64], labels: &[bool]) -> f64 {
    let total: f64 = scores
        .iter()
        .zip(labels)
        .map(|(&p, &y)| (p - if y { 1.0 } else { 0.0 }).powi(2))
        .sum();
    total / scores.len() as f64
}

/// Churn rate among the top 10 % of scores (rounded up to whole customers) over the base rate.
pub fn top_decile_lift(scores: &[f64], labels: &[bool]) -> f64 {
    let order = descending(scores);
    let top = order.len().div_ceil(10);
    let top_rate = order[..top].iter().filter(|&&i| labels[i]).count() as f64 / top as f64;
    let base_rate = labels.iter().filter(|l| **l).count() as f64 / labels.len() as f64;
    top_rate / base_rate
}

/// The cumulative gains curve at `points` equal shares of customers: contacting the riskiest
/// `k / points` (rounded up to whole customers, riskiest first as in [`top_decile_lift`]) reaches
/// this share of the churners; each point's `share` is the share actually contacted. Empty when
/// nobody churned.
pub fn cumulative_gains(scores: &[f64], labels: &[bool], points: usize) -> Vec<GainsPoint> {
    let positives = labels.iter().filter(|l| **l).count();
    if positives == 0 || points == 0 {
        return Vec::new();
    }
    let order = descending(scores);
    let mut reached = 0usize;
    let mut taken = 0usize;
    (1..=points)
        .map(|k| {
            let upto = (order.len() * k).div_ceil(points);
            reached += order[taken..upto].iter().filter(|&&i| labels[i]).count();
            taken = upto;
            GainsPoint {
                // The share actually contacted (a small set cannot split into exact tenths).
                share: upto as f64 / order.len() as f64,
                captured: reached as f64 / positives as f64,
            }
        })
        .collect()
}

/// Every metric of `scores` (probabilities of churn) against `labels`; a customer is flagged when
/// its score is at or above `threshold`.
pub fn evaluate(scores: &[f64], labels: &[bool], threshold: f64) -> Result<Metrics, MetricsError> {
    if scores.len() != labels.len() {
        return Err(MetricsError::Length(scores.len(), labels.len()));
    }
    if let Some(bad) = scores.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(MetricsError::NotAProbability(*bad));
    }
    let positives = labels.iter().filter(|l| **l).count();
    if positives == 0 || positives == labels.len() {
        return Err(MetricsError::OneClass(labels.len()));
    }
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (&p, &y) in scores.iter().zip(labels) {
        match (p >= threshold, y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let table = reliability(scores, labels, RELIABILITY_BINS);
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Ok(Metrics {
        rows: labels.len(),
        positives,
        roc_auc: roc_auc(scores, labels),
        pr_auc: average_precision(scores, labels),
        log_loss: log_loss(scores, labels),
        brier: brier(scores, labels),
        threshold,
        precision,
        recall,
        f1,
        positive_rate: ratio(tp + fp, labels.len()),
        top_decile_lift: top_decile_lift(scores, labels),
        mean_score: scores.iter().sum::<f64>() / scores.len() as f64,
        observed_rate: positives as f64 / labels.len() as f64,
        expected_calibration_error: expected_calibration_error(&table),
        reliability: table,
        gains: cumulative_gains(scores, labels, GAINS_POINTS),
    })
}
