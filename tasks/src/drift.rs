//! Drift of one feature (or of the score) between the training reference and today's data.
//!
//! Numerics: the two-sample Kolmogorov-Smirnov test (statrs), PSI over the reference's deciles, and
//! the Wasserstein distance divided by the reference's standard deviation as the effect size.
//! Categoricals: a chi-square test of the 2 x k table of counts (categories the reference never saw
//! are counted, not dropped; p-value from statrs's chi-square distribution), PSI over categories,
//! and the Jensen-Shannon distance as the effect size.
//!
//! With a million rows every p-value is tiny, so severity comes from PSI and the effect size against
//! thresholds from dags.toml; p-values are reported beside them, Bonferroni-adjusted for the number
//! of features tested. Checked against SciPy in `tests/drift.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::stats_tests::NaNPolicy;
use statrs::stats_tests::ks_test::{KSTwoSampleAlternativeMethod, ks_twosample};

/// A proportion below this is raised to it in PSI and JS, so an empty bin does not make them
/// infinite (the usual convention).
pub const PROPORTION_FLOOR: f64 = 1e-4;
/// Samples this small (m * n) get the exact KS p-value; larger ones the asymptotic one, as SciPy's
/// `ks_2samp(method="auto")` does.
const KS_EXACT_LIMIT: usize = 10_000;
/// The category name nulls are counted under.
pub const NULL_CATEGORY: &str = "(null)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(Severity::None),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// Lower bounds of low, medium and high for one measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
}

impl Levels {
    fn severity(&self, value: f64) -> Severity {
        if value >= self.high {
            Severity::High
        } else if value >= self.medium {
            Severity::Medium
        } else if value >= self.low {
            Severity::Low
        } else {
            Severity::None
        }
    }
}

/// The thresholds severity follows; set in dags.toml.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub psi: Levels,
    /// Wasserstein distance over the reference standard deviation.
    pub wasserstein: Levels,
    pub jensen_shannon: Levels,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            psi: Levels {
                low: 0.1,
                medium: 0.2,
                high: 0.25,
            },
            wasserstein: Levels {
                low: 0.1,
                medium: 0.2,
                high: 0.3,
            },
            jensen_shannon: Levels {
                low: 0.05,
                medium: 0.1,
                high: 0.2,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    pub feature: String,
    /// `ks` or `chi2`.
    pub test: String,
    pub statistic: f64,
    pub p_value: f64,
    /// Bonferroni-adjusted for the number of features tested (set by [`adjust_p_values`]).
    pub p_value_adjusted: f64,
    pub psi: f64,
    /// `wasserstein_std` or `jensen_shannon`.
    pub effect_measure: String,
    pub effect_size: f64,
    pub severity: Severity,
    /// Share of today's rows whose category the reference never saw (categoricals).
    pub unseen_share: f64,
    pub reference_rows: usize,
    pub current_rows: usize,
    /// For the score: both samples' shares in equal-width bands, as the report draws them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
}

/// Shares of a reference and a current sample in equal-width bins over `[lower, upper]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lower: f64,
    pub upper: f64,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

impl Histogram {
    /// The shares of `reference` and `current` in `bins` equal-width bins over `[lower, upper]`
    /// (a value on an inner edge counts in the bin above it, `upper` in the last; values outside
    /// the range and NaN are left out of the counts but not of the totals).
    pub fn of(reference: &[f64], current: &[f64], lower: f64, upper: f64, bins: usize) -> Self {
        let bins = bins.max(1);
        let shares = |values: &[f64]| {
            let mut counts = vec![0usize; bins];
            for v in values.iter().filter(|v| (lower..=upper).contains(*v)) {
                // Multiplying before dividing keeps an inner edge such as 0.15 in the bin above
                // it (0.15 / 0.05 is 2.9999999999999996).
                let bin = (((v - lower) * bins as f64 / (upper - lower)) as usize).min(bins - 1);
                counts[bin] += 1;
            }
            let total = values.len().max(1) as f64;
            counts.into_iter().map(|c| c as f64 / total).collect()
        };
        Self {
            lower,
            upper,
            reference: shares(reference),
            current: shares(current),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DriftError {
    #[error("feature `{0}`: a sample has no non-null values")]
    Empty(String),
    #[error("feature `{feature}`: {reason}")]
    Test { feature: String, reason: String },
}

/// Linear-interpolation quantile of sorted values (NumPy's default method).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Shares of `sorted` in the bins `(-inf, e1], (e1, e2], ..., (ek, inf)`.
fn bin_shares(sorted: &[f64], edges: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 1];
    let mut start = 0;
    for (bin, edge) in edges.iter().enumerate() {
        let end = start + sorted[start..].partition_point(|v| v <= edge);
        counts[bin] = end - start;
        start = end;
    }
    counts[edges.len()] = sorted.len() - start;
    counts
        .iter()
        .map(|c| *c as f64 / sorted.len() as f64)
        .collect()
}

/// Population stability index of two distributions over the same bins.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| {
            let (r, c) = (r.max(PROPORTION_FLOOR), c.max(PROPORTION_FLOOR));
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Jensen-Shannon distance (natural log; the square root of the divergence), as SciPy's
/// `jensenshannon`.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(a, _)| **a > 0.0)
            .map(|(a, m)| a * (a / m).ln())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a + b) / 2.0).collect();
    ((kl(p, &m) + kl(q, &m)) / 2.0).max(0.0).sqrt()
}

/// The first Wasserstein distance between two samples (area between their empirical CDFs), as
/// SciPy's `wasserstein_distance`.
pub fn wasserstein(sorted_a: &[f64], sorted_b: &[f64]) -> f64 {
    let (na, nb) = (sorted_a.len() as f64, sorted_b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut previous = sorted_a[0].min(sorted_b[0]);
    let mut distance = 0.0;
    while i < sorted_a.len() || j < sorted_b.len() {
        let next = match (sorted_a.get(i), sorted_b.get(j)) {
            (Some(a), Some(b)) => a.min(*b),
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => break,
        };
        distance += (i as f64 / na - j as f64 / nb).abs() * (next - previous);
        while sorted_a.get(i) == Some(&next) {
            i += 1;
        }
        while sorted_b.get(j) == Some(&next) {
            j += 1;
        }
        previous = next;
    }
    distance
}

fn standard_deviation(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
}

/// Whether two sorted samples have the same empirical distribution (the KS statistic is 0): every
/// distinct value holds the same share of both.
fn same_distribution(sorted_a: &[f64], sorted_b: &[f64]) -> bool {
    let shares = |sorted: &[f64]| {
        let mut runs: Vec<(f64, f64)> = Vec::new();
        for chunk in sorted.chunk_by(|x, y| x == y) {
            runs.push((chunk[0], chunk.len() as f64 / sorted.len() as f64));
        }
        runs
    };
    let (a, b) = (shares(sorted_a), shares(sorted_b));
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|((va, sa), (vb, sb))| va == vb && (sa - sb).abs() < 1e-12)
}

/// Drift of a numeric feature; nulls, NaN and infinities are left out of both samples (a
/// contract may let non-finite values through as a warning; they are missing values here).
pub fn numeric_drift(
    feature: &str,
    reference: &[f64],
    current: &[f64],
    thresholds: &Thresholds,
) -> Result<FeatureDrift, DriftError> {
    let clean = |values: &[f64]| {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (reference, current) = (clean(reference), clean(current));
    if reference.is_empty() || current.is_empty() {
        return Err(DriftError::Empty(feature.to_string()));
    }
    let method = if reference.len() * current.len() <= KS_EXACT_LIMIT {
        KSTwoSampleAlternativeMethod::TwoSidedExact
    } else {
        KSTwoSampleAlternativeMethod::TwoSidedAsymptotic
    };
    // statrs 0.19's asymptotic p-value sums the Kolmogorov series until its terms vanish, which
    // never happens at D = 0: two samples with the same empirical distribution (a feature that did
    // not change at all) would hang it. D = 0 means p = 1, as SciPy returns.
    let (statistic, p_value) = if same_distribution(&reference, &current) {
        (0.0, 1.0)
    } else {
        ks_twosample(reference.clone(), current.clone(), method, NaNPolicy::Error).map_err(
            |err| DriftError::Test {
                feature: feature.to_string(),
                reason: format!("{err:?}"),
            },
        )?
    };
    let mut edges: Vec<f64> = (1..10)
        .map(|d| quantile(&reference, d as f64 / 10.0))
        .collect();
    edges.dedup();
    let psi = psi(
        &bin_shares(&reference, &edges),
        &bin_shares(&current, &edges),
    );
    let spread = standard_deviation(&reference);
    let distance = wasserstein(&reference, &current);
    let effect_size = if spread > 0.0 {
        distance / spread
    } else {
        distance
    };
    let severity = thresholds
        .psi
        .severity(psi)
        .max(thresholds.wasserstein.severity(effect_size));
    Ok(FeatureDrift {
        feature: feature.to_string(),
        test: "ks".to_string(),
        statistic,
        p_value,
        p_value_adjusted: p_value,
        psi,
        effect_measure: "wasserstein_std".to_string(),
        effect_size,
        severity,
        unseen_share: 0.0,
        histogram: None,
        reference_rows: reference.len(),
        current_rows: current.len(),
    })
}

/// Counts per category, nulls under [`NULL_CATEGORY`].
pub fn category_counts<'a>(
    values: impl IntoIterator<Item = Option<&'a str>>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for value in values {
        *counts
            .entry(value.unwrap_or(NULL_CATEGORY).to_string())
            .or_default() += 1;
    }
    counts
}

/// Drift of a categorical feature from its category counts.
pub fn categorical_drift(
    feature: &str,
    reference: &BTreeMap<String, usize>,
    current: &BTreeMap<String, usize>,
    thresholds: &Thresholds,
) -> Result<FeatureDrift, DriftError> {
    let (n_ref, n_cur) = (
        reference.values().sum::<usize>() as f64,
        current.values().sum::<usize>() as f64,
    );
    if n_ref == 0.0 || n_cur == 0.0 {
        return Err(DriftError::Empty(feature.to_string()));
    }
    let categories: Vec<&String> = reference
        .keys()
        .chain(current.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let count = |m: &BTreeMap<String, usize>, c: &String| *m.get(c).unwrap_or(&0) as f64;
    // Pearson's chi-square on the 2 x k table [reference; current].
    let total = n_ref + n_cur;
    let mut statistic = 0.0;
    for category in &categories {
        let column = count(reference, category) + count(current, category);
        for (observed, row_total) in [
            (count(reference, category), n_ref),
            (count(current, category), n_cur),
        ] {
            let expected = row_total * column / total;
            statistic += (observed - expected).powi(2) / expected;
        }
    }
    let freedom = (categories.len() - 1) as f64;
    let p_value = if freedom > 0.0 {
        ChiSquared::new(freedom)
            .map(|d| d.sf(statistic))
            .map_err(|err| DriftError::Test {
                feature: feature.to_string(),
                reason: err.to_string(),
            })?
    } else {
        1.0
    };
    let p: Vec<f64> = categories
        .iter()
        .map(|c| count(reference, c) / n_ref)
        .collect();
    let q: Vec<f64> = categories
        .iter()
        .map(|c| count(current, c) / n_cur)
        .collect();
    let psi = psi(&p, &q);
    let effect_size = jensen_shannon(&p, &q);
    let unseen = categories
        .iter()
        .filter(|c| !reference.contains_key(**c))
        .map(|c| count(current, c))
        .sum::<f64>()
        / n_cur;
    let severity = thresholds
        .psi
        .severity(psi)
        .max(thresholds.jensen_shannon.severity(effect_size));
    Ok(FeatureDrift {
        feature: feature.to_string(),
        test: "chi2".to_string(),
        statistic,
        p_value,
        p_value_adjusted: p_value,
        psi,
        effect_measure: "jensen_shannon".to_string(),
        effect_size,
        severity,
        unseen_share: unseen,
        histogram: None,
        reference_rows: n_ref as usize,
        current_rows: n_cur as usize,
    })
}

/// Bonferroni: each p-value times the number of features tested, capped at 1.
pub fn adjust_p_values(drifts: &mut [FeatureDrift]) {
    let tests = drifts.len() as f64;
    for drift in drifts {
        drift.p_value_adjusted = (drift.p_value * tests).min(1.0);
    }
}
