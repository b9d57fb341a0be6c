//! The gradient-boosted-tree family: histogram-based boosting with early stopping on rows held
//! out of the fit, native missing values (a split sends them left, right or down a branch of
//! their own), categorical features and optional class weights.
//!
//! Fitting is forust-ml's (`GradientBooster`, log loss, leaf-wise growth like LightGBM; chosen by
//! the bake-off in `benches/gbm_bakeoff`, see ARCHITECTURE.md). The fitted trees are copied into
//! churnflow's own [`BoostedTree`]s, which the artifact stores and scoring walks with forust's
//! rule (NaN: the missing branch; `value < threshold`: left; otherwise right), so an artifact does
//! not depend on forust's serialisation and reasons can read every node ([`super::tree_shap`]).
//!
//! Categorical features are coded by their training churn rate (lowest rate 0): with a binary
//! target, the best split of a categorical feature into two groups is a split of its categories
//! ordered by that rate (Fisher 1958; LightGBM's categorical splits use the same ordering). A null
//! is a category of its own; a category never seen in training is missing.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use forust_ml::GradientBooster;
use forust_ml::gradientbooster::GrowPolicy;
use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use polars::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::tree_shap::TreePlan;
use super::{Contributions, Family, FamilyDescription, FamilyParams, FittedFamily, ModelError};
use crate::contract::Contract;
use crate::drift::NULL_CATEGORY;
use crate::preprocess::PreprocessError;

/// The boosted trees' parameters (`train.params.families.gradient_boosting`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoostingParams {
    /// The most trees; early stopping usually ends sooner.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Leaves per tree (grown best-first, as LightGBM's `num_leaves`).
    #[serde(default = "default_max_leaves")]
    pub max_leaves: usize,
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// Stop when the held-out log loss has not improved for this many trees.
    #[serde(default = "default_early_stopping_rounds")]
    pub early_stopping_rounds: usize,
    /// The share of the fit rows held out for early stopping.
    #[serde(default = "default_holdout_fraction")]
    pub holdout_fraction: f64,
    /// Weight the classes as `class_weight="balanced"` does (calibration corrects the scores).
    #[serde(default)]
    pub balance_classes: bool,
    /// Histogram bins per feature.
    #[serde(default = "default_bins")]
    pub bins: u16,
    /// Seeds the early-stopping split.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_iterations() -> usize {
    500
}
fn default_learning_rate() -> f64 {
    0.1
}
fn default_max_leaves() -> usize {
    31
}
fn default_max_depth() -> usize {
    8
}
fn default_early_stopping_rounds() -> usize {
    20
}
fn default_holdout_fraction() -> f64 {
    0.1
}
fn default_bins() -> u16 {
    256
}
fn default_seed() -> u64 {
    42
}

/// The deepest tree allowed: reasons tabulate 2^depth values per leaf.
pub const MAX_DEPTH: usize = 12;

impl Default for BoostingParams {
    fn default() -> Self {
        Self {
            iterations: default_iterations(),
            learning_rate: default_learning_rate(),
            max_leaves: default_max_leaves(),
            max_depth: default_max_depth(),
            early_stopping_rounds: default_early_stopping_rounds(),
            holdout_fraction: default_holdout_fraction(),
            balance_classes: false,
            bins: default_bins(),
            seed: default_seed(),
        }
    }
}

impl BoostingParams {
    /// What is wrong with the parameters, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.iterations == 0 {
            problems.push("iterations = 0 must be at least 1".to_string());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            problems.push(format!(
                "learning_rate = {} is not in (0, 1]",
                self.learning_rate
            ));
        }
        if self.max_leaves < 2 {
            problems.push(format!(
                "max_leaves = {} must be at least 2",
                self.max_leaves
            ));
        }
        if !(1..=MAX_DEPTH).contains(&self.max_depth) {
            problems.push(format!(
                "max_depth = {} is not in 1..={MAX_DEPTH}",
                self.max_depth
            ));
        }
        if self.early_stopping_rounds == 0 {
            problems.push("early_stopping_rounds = 0 must be at least 1".to_string());
        }
        if !(self.holdout_fraction > 0.0 && self.holdout_fraction < 1.0) {
            problems.push(format!(
                "holdout_fraction = {} is not in (0, 1)",
                self.holdout_fraction
            ));
        }
        if self.bins < 2 {
            problems.push(format!("bins = {} must be at least 2", self.bins));
        }
        problems
    }
}

/// Which way a row goes at a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Left,
    Right,
    Missing,
}

/// One node of a tree: a split or a leaf (`feature`, `threshold` and the children unused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    pub leaf: bool,
    pub feature: usize,
    pub threshold: f64,
    pub left: usize,
    pub right: usize,
    /// Where a missing value goes: `left`, `right` or a branch of its own.
    pub missing: usize,
    /// The leaf's output (margin); for a split, the node's own weight (unused in scoring).
    pub value: f64,
    /// Training cover (hessian sum): TreeSHAP's weights.
    pub cover: f64,
}

impl TreeNode {
    pub fn is_leaf(&self) -> bool {
        self.leaf
    }

    /// The way `row` goes at this split (forust's rule).
    pub fn direction_of(&self, row: &[f64]) -> Direction {
        if self.leaf {
            return Direction::Left;
        }
        let value = row[self.feature];
        if value.is_nan() {
            if self.missing == self.left {
                Direction::Left
            } else if self.missing == self.right {
                Direction::Right
            } else {
                Direction::Missing
            }
        } else if value < self.threshold {
            Direction::Left
        } else {
            Direction::Right
        }
    }

    /// The ways out of this split: left, right, and missing when it has a branch of its own.
    pub fn directions(&self) -> Vec<Direction> {
        let mut out = vec![Direction::Left, Direction::Right];
        if self.missing != self.left && self.missing != self.right {
            out.push(Direction::Missing);
        }
        out
    }

    pub fn child(&self, direction: Direction) -> usize {
        match direction {
            Direction::Left => self.left,
            Direction::Right => self.right,
            Direction::Missing => self.missing,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostedTree {
    /// Node 0 is the root; children are indices into this list.
    pub nodes: Vec<TreeNode>,
}

impl BoostedTree {
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        let mut index = 0;
        loop {
            let node = &self.nodes[index];
            if node.leaf {
                return node.value;
            }
            index = node.child(node.direction_of(row));
        }
    }
}

/// A categorical feature's codes: `categories[code]`, ordered by training churn rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryCodes {
    pub column: String,
    pub categories: Vec<String>,
}

/// The fitted boosted trees and how rows become their input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoostedModel {
    pub numeric: Vec<String>,
    /// Training means of the numeric features (what a reason calls high or low).
    pub numeric_means: Vec<f64>,
    pub categorical: Vec<CategoryCodes>,
    pub base_score: f64,
    pub trees: Vec<BoostedTree>,
    pub params: BoostingParams,
    /// Trees fitted before early stopping picked the best count, and the held-out log loss there.
    pub fitted_trees: usize,
    #[serde(skip)]
    plans: OnceLock<Vec<TreePlan>>,
}

impl PartialEq for BoostedModel {
    fn eq(&self, other: &Self) -> bool {
        self.numeric == other.numeric
            && self.numeric_means == other.numeric_means
            && self.categorical == other.categorical
            && self.base_score == other.base_score
            && self.trees == other.trees
            && self.params == other.params
            && self.fitted_trees == other.fitted_trees
    }
}

fn column_error(column: &str, err: impl std::fmt::Display) -> ModelError {
    ModelError::Preprocess(PreprocessError::Column {
        column: column.to_string(),
        reason: err.to_string(),
    })
}

/// A feature matrix, column-major (forust's layout).
struct Matrix {
    values: Vec<f64>,
    rows: usize,
    columns: usize,
}

impl Matrix {
    fn row(&self, i: usize, out: &mut [f64]) {
        for (j, cell) in out.iter_mut().enumerate() {
            *cell = self.values[j * self.rows + i];
        }
    }

    /// The columns at `picked`, in that order.
    fn columns_at(&self, picked: &[usize]) -> Matrix {
        let mut values = Vec::with_capacity(picked.len() * self.rows);
        for &j in picked {
            values.extend_from_slice(&self.values[j * self.rows..(j + 1) * self.rows]);
        }
        Matrix {
            values,
            rows: self.rows,
            columns: picked.len(),
        }
    }

    /// The rows at `picked`, in that order.
    fn take(&self, picked: &[usize]) -> Matrix {
        let mut values = Vec::with_capacity(picked.len() * self.columns);
        for j in 0..self.columns {
            let column = &self.values[j * self.rows..(j + 1) * self.rows];
            values.extend(picked.iter().map(|&i| column[i]));
        }
        Matrix {
            values,
            rows: picked.len(),
            columns: self.columns,
        }
    }
}

impl BoostedModel {
    pub fn fit_owned(
        contract: &Contract,
        features: DataFrame,
        labels: &[bool],
        params: &BoostingParams,
    ) -> Result<Self, ModelError> {
        let numeric = contract.numeric_features();
        let categorical = contract
            .categorical_features()
            .into_iter()
            .map(|column| category_codes(&features, column, labels))
            .collect::<Result<Vec<_>, _>>()?;
        let mut model = Self {
            numeric_means: Vec::new(),
            numeric,
            categorical,
            base_score: 0.0,
            trees: Vec::new(),
            params: params.clone(),
            fitted_trees: 0,
            plans: OnceLock::new(),
        };
        let x = model.encode(&features)?;
        drop(features);
        model.numeric_means = (0..model.numeric.len())
            .map(|j| {
                let column = &x.values[j * x.rows..(j + 1) * x.rows];
                let present: Vec<f64> = column.iter().copied().filter(|v| v.is_finite()).collect();
                present.iter().sum::<f64>() / present.len().max(1) as f64
            })
            .collect();
        let (fit_rows, stop_rows) =
            early_stopping_split(labels, params.holdout_fraction, params.seed);
        let weights = class_weights(labels, params.balance_classes);
        let pick = |rows: &[usize]| -> (Matrix, Vec<f64>, Vec<f64>) {
            (
                x.take(rows),
                rows.iter()
                    .map(|&i| f64::from(u8::from(labels[i])))
                    .collect(),
                rows.iter().map(|&i| weights[i]).collect(),
            )
        };
        // A column without two distinct values among the fit rows cannot split (forust refuses
        // it): the trees are fitted on the others and their splits mapped back.
        let (fit_x, fit_y, fit_w) = pick(&fit_rows);
        let (stop_x, stop_y, stop_w) = pick(&stop_rows);
        drop(x);
        let varying: Vec<usize> = (0..fit_x.columns)
            .filter(|&j| varies(&fit_x.values[j * fit_x.rows..(j + 1) * fit_x.rows]))
            .collect();
        if varying.is_empty() {
            return Err(ModelError::Boosting(
                "no feature takes two different values in the training rows".to_string(),
            ));
        }
        let (fit_x, stop_x) = if varying.len() == fit_x.columns {
            (fit_x, stop_x)
        } else {
            (fit_x.columns_at(&varying), stop_x.columns_at(&varying))
        };
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(params.iterations)
            .set_learning_rate(params.learning_rate as f32)
            .set_max_leaves(params.max_leaves)
            .set_max_depth(params.max_depth)
            .set_nbins(params.bins)
            .set_parallel(true)
            .set_evaluation_metric(Some(Metric::LogLoss))
            .set_early_stopping_rounds(Some(params.early_stopping_rounds));
        booster.grow_policy = GrowPolicy::LossGuide;
        let fit_matrix = forust_ml::Matrix::new(&fit_x.values, fit_x.rows, fit_x.columns);
        let stop_matrix = forust_ml::Matrix::new(&stop_x.values, stop_x.rows, stop_x.columns);
        booster
            .fit(
                &fit_matrix,
                &fit_y,
                &fit_w,
                Some(vec![(stop_matrix, &stop_y[..], &stop_w[..])]),
            )
            .map_err(|e| ModelError::Boosting(e.to_string()))?;
        model.fitted_trees = booster.trees.len();
        let used = booster.prediction_iteration.unwrap_or(booster.trees.len());
        model.base_score = booster.base_score;
        model.trees = booster.trees[..used]
            .iter()
            .map(|tree| copy_tree(tree, &varying))
            .collect();
        Ok(model)
    }

    /// Rows as the trees read them: numeric features as numbers (missing and non-finite as
    /// NaN), categorical ones as their codes (unseen as NaN).
    fn encode(&self, frame: &DataFrame) -> Result<Matrix, ModelError> {
        let rows = frame.height();
        let columns = self.numeric.len() + self.categorical.len();
        let mut values = Vec::with_capacity(rows * columns);
        for column in &self.numeric {
            let series = frame
                .column(column)
                .and_then(|c| c.cast(&DataType::Float64))
                .map_err(|e| column_error(column, e))?;
            let series = series.f64().map_err(|e| column_error(column, e))?;
            values.extend(
                series
                    .iter()
                    .map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NAN)),
            );
        }
        for codes in &self.categorical {
            let lookup: HashMap<&str, f64> = codes
                .categories
                .iter()
                .enumerate()
                .map(|(code, category)| (category.as_str(), code as f64))
                .collect();
            let series = frame
                .column(&codes.column)
                .and_then(|c| c.cast(&DataType::String))
                .map_err(|e| column_error(&codes.column, e))?;
            let series = series.str().map_err(|e| column_error(&codes.column, e))?;
            values.extend(series.iter().map(|v| {
                lookup
                    .get(v.unwrap_or(NULL_CATEGORY))
                    .copied()
                    .unwrap_or(f64::NAN)
            }));
        }
        Ok(Matrix {
            values,
            rows,
            columns,
        })
    }

    fn plans(&self) -> &[TreePlan] {
        self.plans
            .get_or_init(|| self.trees.iter().map(TreePlan::new).collect())
    }

    fn feature_names(&self) -> Vec<String> {
        self.numeric
            .iter()
            .cloned()
            .chain(self.categorical.iter().map(|c| c.column.clone()))
            .collect()
    }
}

/// Rows per parallel chunk when scoring.
const CHUNK_ROWS: usize = 1024;
/// Rows explained together, tree by tree: with their contributions (21 features: 86 KB) small
/// enough to stay in cache beside one tree's path tables.
const EXPLAIN_BLOCK_ROWS: usize = 512;

impl FittedFamily for BoostedModel {
    fn family(&self) -> Family {
        Family::GradientBoosting
    }

    fn margins(&self, features: &DataFrame) -> Result<Vec<f64>, ModelError> {
        let x = self.encode(features)?;
        let mut margins = vec![0.0; x.rows];
        margins
            .par_chunks_mut(CHUNK_ROWS)
            .enumerate()
            .for_each(|(chunk, out)| {
                let mut row = vec![0.0; x.columns];
                for (k, margin) in out.iter_mut().enumerate() {
                    x.row(chunk * CHUNK_ROWS + k, &mut row);
                    // Summed in forust's order (base, then tree by tree): the same margins.
                    let mut total = self.base_score;
                    for tree in &self.trees {
                        total += tree.predict_row(&row);
                    }
                    *margin = total;
                }
            });
        Ok(margins)
    }

    fn contributions(&self, features: &DataFrame) -> Result<Contributions, ModelError> {
        let x = self.encode(features)?;
        let plans = self.plans();
        let width = x.columns;
        let mut values = vec![0.0; x.rows * width];
        // Tree by tree over a block of rows: a tree's path tables stay in cache while the block
        // goes through it (row by row over all trees, every lookup missed the cache).
        values
            .par_chunks_mut(EXPLAIN_BLOCK_ROWS * width)
            .enumerate()
            .for_each(|(block, out)| {
                let start = block * EXPLAIN_BLOCK_ROWS;
                let rows = out.len() / width.max(1);
                let mut block_rows = vec![0.0; rows * width];
                for j in 0..width {
                    let column = &x.values[j * x.rows + start..j * x.rows + start + rows];
                    for (i, value) in column.iter().enumerate() {
                        block_rows[i * width + j] = *value;
                    }
                }
                let mut taken = Vec::new();
                for (tree, plan) in self.trees.iter().zip(plans) {
                    for (row, phi) in block_rows.chunks(width).zip(out.chunks_mut(width)) {
                        plan.add_row(tree, row, phi, &mut taken);
                    }
                }
            });
        let base = self.base_score + plans.iter().map(|p| p.expected).sum::<f64>();
        Ok(Contributions {
            features: self.feature_names(),
            base,
            values,
        })
    }

    fn describe(&self) -> FamilyDescription {
        let leaves: usize = self
            .trees
            .iter()
            .map(|t| t.nodes.iter().filter(|n| n.leaf).count())
            .sum();
        FamilyDescription {
            family: Family::GradientBoosting,
            summary: format!(
                "{} trees ({} leaves; early stopping kept {} of {} fitted), learning rate {}",
                self.trees.len(),
                leaves,
                self.trees.len(),
                self.fitted_trees,
                self.params.learning_rate
            ),
            params: FamilyParams::GradientBoosting(self.params.clone()),
        }
    }

    fn feature_centres(&self) -> BTreeMap<String, f64> {
        self.numeric
            .iter()
            .cloned()
            .zip(self.numeric_means.iter().copied())
            .collect()
    }
}

/// Whether a column holds at least two distinct non-missing values.
fn varies(column: &[f64]) -> bool {
    let mut present = column.iter().filter(|v| !v.is_nan());
    match present.next() {
        Some(first) => present.any(|v| v != first),
        None => false,
    }
}

/// A forust tree as ours; `columns[k]` is the feature of the fitted matrix's column k.
fn copy_tree(tree: &forust_ml::tree::Tree, columns: &[usize]) -> BoostedTree {
    BoostedTree {
        nodes: tree
            .nodes
            .iter()
            .map(|n| TreeNode {
                leaf: n.is_leaf,
                feature: if n.is_leaf {
                    0
                } else {
                    columns[n.split_feature]
                },
                threshold: n.split_value,
                left: n.left_child,
                right: n.right_child,
                missing: n.missing_node,
                value: f64::from(n.weight_value),
                cover: f64::from(n.hessian_sum),
            })
            .collect(),
    }
}

/// A categorical column's categories ordered by their training churn rate (nulls as
/// [`NULL_CATEGORY`]; ties by name).
fn category_codes(
    frame: &DataFrame,
    column: String,
    labels: &[bool],
) -> Result<CategoryCodes, ModelError> {
    let series = frame
        .column(&column)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(|e| column_error(&column, e))?;
    let series = series.str().map_err(|e| column_error(&column, e))?;
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (value, churned) in series.iter().zip(labels) {
        let entry = counts.entry(value.unwrap_or(NULL_CATEGORY)).or_default();
        entry.0 += 1;
        entry.1 += usize::from(*churned);
    }
    let mut ordered: Vec<(&str, f64)> = counts
        .into_iter()
        .map(|(category, (rows, churned))| (category, churned as f64 / rows as f64))
        .collect();
    ordered.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
    Ok(CategoryCodes {
        categories: ordered.into_iter().map(|(c, _)| c.to_string()).collect(),
        column,
    })
}

/// (fit rows, early-stopping rows): a seeded stratified split.
fn early_stopping_split(labels: &[bool], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut fit, mut stop) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rows.shuffle(&mut rng);
        let held = ((rows.len() as f64) * fraction).round() as usize;
        stop.extend_from_slice(&rows[..held.min(rows.len())]);
        fit.extend_from_slice(&rows[held.min(rows.len())..]);
    }
    fit.sort_unstable();
    stop.sort_unstable();
    (fit, stop)
}

/// Per-row weights: 1, or scikit-learn's balanced class weights.
fn class_weights(labels: &[bool], balanced: bool) -> Vec<f64> {
    if !balanced {
        return vec![1.0; labels.len()];
    }
    let positives = labels.iter().filter(|y| **y).count().max(1) as f64;
    let negatives = (labels.len() as f64 - positives).max(1.0);
    let rows = labels.len() as f64;
    labels
        .iter()
        .map(|y| {
            if *y {
                rows / (2.0 * positives)
            } else {
                rows / (2.0 * negatives)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::demo;
    use super::*;
    use crate::metrics::evaluate;

    fn fitted(params: &BoostingParams) -> (BoostedModel, DataFrame, Vec<bool>) {
        let (train, labels) = demo(20_000, 3);
        let model = BoostedModel::fit_owned(&Contract::demo(), train, &labels, params).unwrap();
        let (test, test_labels) = demo(5_000, 4);
        (model, test, test_labels)
    }

    /// E[f(x) | x_S] of one tree, path dependent (Algorithm 1 of Lundberg et al.): a known
    /// feature follows the row, an unknown one splits by training cover.
    fn expected_given(tree: &BoostedTree, row: &[f64], known: &[usize]) -> f64 {
        fn walk(tree: &BoostedTree, index: usize, row: &[f64], known: &[usize]) -> f64 {
            let node = &tree.nodes[index];
            if node.leaf {
                return node.value;
            }
            if known.contains(&node.feature) {
                return walk(tree, node.child(node.direction_of(row)), row, known);
            }
            node.directions()
                .into_iter()
                .map(|d| {
                    let child = node.child(d);
                    tree.nodes[child].cover / node.cover * walk(tree, child, row, known)
                })
                .sum()
        }
        walk(tree, 0, row, known)
    }

    #[test]
    fn tree_shap_equals_the_shapley_definition_on_fitted_trees() {
        let params = BoostingParams {
            iterations: 3,
            max_depth: 6,
            ..BoostingParams::default()
        };
        let (model, test, _) = fitted(&params);
        let x = model.encode(&test.slice(0, 20)).unwrap();
        let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        for tree in &model.trees {
            let plan = TreePlan::new(tree);
            let mut used: Vec<usize> = tree
                .nodes
                .iter()
                .filter(|n| !n.leaf)
                .map(|n| n.feature)
                .collect();
            used.sort_unstable();
            used.dedup();
            let m = used.len();
            let mut row = vec![0.0; x.columns];
            for i in 0..x.rows {
                x.row(i, &mut row);
                let mut phi = vec![0.0; x.columns];
                plan.add_row(tree, &row, &mut phi, &mut Vec::new());
                for (k, &feature) in used.iter().enumerate() {
                    let mut exact = 0.0;
                    for subset in 0..1usize << m {
                        if subset >> k & 1 == 1 {
                            continue;
                        }
                        let known: Vec<usize> = (0..m)
                            .filter(|b| subset >> b & 1 == 1)
                            .map(|b| used[b])
                            .collect();
                        let mut with = known.clone();
                        with.push(feature);
                        let size = known.len();
                        let weight = factorial(size) * factorial(m - size - 1) / factorial(m);
                        exact += weight
                            * (expected_given(tree, &row, &with)
                                - expected_given(tree, &row, &known));
                    }
                    assert!(
                        (phi[feature] - exact).abs() < 1e-9,
                        "row {i} feature {feature}: {} vs {exact}",
                        phi[feature]
                    );
                }
            }
        }
    }

    #[test]
    fn contributions_and_the_base_add_up_to_every_margin() {
        let (model, test, test_labels) = fitted(&BoostingParams::default());
        assert!(
            model.trees.len() < model.fitted_trees,
            "early stopping kept every tree"
        );
        let margins = model.margins(&test).unwrap();
        let contributions = model.contributions(&test).unwrap();
        let mut worst: f64 = 0.0;
        for (i, margin) in margins.iter().enumerate() {
            let total = contributions.base + contributions.row(i).iter().sum::<f64>();
            worst = worst.max((total - margin).abs());
        }
        assert!(worst < 1e-9, "local accuracy off by {worst}");
        let scores: Vec<f64> = margins
            .iter()
            .map(|z| crate::logistic::sigmoid(*z))
            .collect();
        let metrics = evaluate(&scores, &test_labels, 0.5).unwrap();
        assert!(metrics.roc_auc > 0.8, "ROC AUC {}", metrics.roc_auc);
    }

    #[test]
    fn unseen_categories_and_nulls_are_scored_as_missing() {
        let (model, test, _) = fitted(&BoostingParams {
            iterations: 20,
            ..BoostingParams::default()
        });
        let mut odd = test.slice(0, 3);
        odd.with_column(Column::new(
            "payment_method".into(),
            ["buy_now_pay_later", "paypal", "paypal"],
        ))
        .unwrap();
        let margins = model.margins(&odd).unwrap();
        assert!(margins.iter().all(|m| m.is_finite()), "{margins:?}");
    }

    #[test]
    fn a_constant_feature_is_left_out_of_the_trees() {
        let (mut train, labels) = demo(5_000, 3);
        train
            .with_column(Column::new("returns_count".into(), vec![0i64; 5_000]))
            .unwrap();
        let params = BoostingParams {
            iterations: 20,
            ..BoostingParams::default()
        };
        let model = BoostedModel::fit_owned(&Contract::demo(), train, &labels, &params).unwrap();
        let returns = model
            .numeric
            .iter()
            .position(|c| c == "returns_count")
            .unwrap();
        let features: Vec<usize> = model
            .trees
            .iter()
            .flat_map(|t| t.nodes.iter().filter(|n| !n.leaf).map(|n| n.feature))
            .collect();
        assert!(!features.contains(&returns));
        // The other features keep their own indices: the trees still rank churners.
        let (test, test_labels) = demo(2_000, 4);
        let scores: Vec<f64> = model.margins(&test).unwrap();
        let metrics = evaluate(
            &scores
                .iter()
                .map(|z| crate::logistic::sigmoid(*z))
                .collect::<Vec<_>>(),
            &test_labels,
            0.5,
        )
        .unwrap();
        assert!(metrics.roc_auc > 0.8, "ROC AUC {}", metrics.roc_auc);
    }

    #[test]
    fn bad_parameters_are_named() {
        let params = BoostingParams {
            learning_rate: 0.0,
            max_depth: 40,
            holdout_fraction: 1.0,
            ..BoostingParams::default()
        };
        assert_eq!(
            params.problems(),
            [
                "learning_rate = 0 is not in (0, 1]",
                "max_depth = 40 is not in 1..=12",
                "holdout_fraction = 1 is not in (0, 1)",
            ]
        );
    }
}
