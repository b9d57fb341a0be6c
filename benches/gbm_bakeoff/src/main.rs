//! Bake-off of pure-Rust gradient-boosted-tree crates on the demo churn data.
//!
//! One candidate per process, so that `ru_maxrss` is that candidate's peak:
//!
//! ```text
//! gbm_bakeoff --candidate forust|forust-es|perpetual|perpetual-cat --csv FILE [--threads 2]
//! ```
//!
//! The CSV comes from `prep_csv.py` (21 features as f64, empty = missing, categoricals integer-coded,
//! `churned`, `split`). Prints one `key=value` line: test ROC AUC, fit / predict / SHAP timings, tree
//! counts, the serialised model's size and the peak RSS. Never used by churnflow itself.

use std::error::Error;
use std::time::Instant;

use forust_ml::gradientbooster::{ContributionsMethod as FContrib, GrowPolicy};
use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use forust_ml::GradientBooster;
use perpetual::booster::config::BoosterIO;
use perpetual::objective::Objective;
use perpetual::{ContributionsMethod as PContrib, PerpetualBooster};

/// Columns of the three integer-coded categoricals, in the CSV's feature order.
const CATEGORICAL_COLS: [usize; 3] = [15, 18, 19];
const N_FEATURES: usize = 21;

type BoxResult<T> = Result<T, Box<dyn Error>>;

struct Args {
    candidate: String,
    csv: String,
    threads: usize,
    rounds: usize,
    contrib_rows: usize,
    contrib_budget_s: f64,
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args {
        candidate: String::new(),
        csv: String::new(),
        threads: 2,
        rounds: 200,
        contrib_rows: 20_000,
        contrib_budget_s: 120.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--candidate" => args.candidate = value,
            "--csv" => args.csv = value,
            "--threads" => args.threads = value.parse()?,
            "--rounds" => args.rounds = value.parse()?,
            "--contrib-rows" => args.contrib_rows = value.parse()?,
            "--contrib-budget-s" => args.contrib_budget_s = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if args.candidate.is_empty() || args.csv.is_empty() {
        return Err("usage: gbm_bakeoff --candidate NAME --csv FILE [--threads N]".into());
    }
    Ok(args)
}

/// A split of the data as a column-major matrix (what both crates' `Matrix::new` expects).
#[derive(Default)]
struct Part {
    cols: Vec<Vec<f64>>,
    y: Vec<f64>,
}

impl Part {
    fn column_major(&self, rows: usize) -> Vec<f64> {
        self.column_major_range(0, rows)
    }
    fn column_major_range(&self, start: usize, end: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity((end - start) * N_FEATURES);
        for c in &self.cols {
            out.extend_from_slice(&c[start..end]);
        }
        out
    }
    fn rows(&self) -> usize {
        self.y.len()
    }
    fn append(&mut self, other: &Part) {
        for (a, b) in self.cols.iter_mut().zip(&other.cols) {
            a.extend_from_slice(b);
        }
        self.y.extend_from_slice(&other.y);
    }
}

struct Data {
    train: Part,
    valid: Part,
    test: Part,
}

fn read_csv(path: &str) -> BoxResult<Data> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| format!("reading {path}: {e}"))?;
    let headers = rdr.headers()?.clone();
    if headers.len() != N_FEATURES + 2 || &headers[N_FEATURES] != "churned" {
        return Err(
            format!("{path}: expected 21 features, churned, split; got {headers:?}").into(),
        );
    }
    let new_part = || Part {
        cols: vec![Vec::new(); N_FEATURES],
        y: Vec::new(),
    };
    let (mut train, mut valid, mut test) = (new_part(), new_part(), new_part());
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec)? {
        let part = match &rec[N_FEATURES + 1] {
            "train" => &mut train,
            "valid" => &mut valid,
            "test" => &mut test,
            other => return Err(format!("unknown split {other}").into()),
        };
        for j in 0..N_FEATURES {
            let s = &rec[j];
            part.cols[j].push(if s.is_empty() { f64::NAN } else { s.parse()? });
        }
        part.y.push(rec[N_FEATURES].parse()?);
    }
    Ok(Data { train, valid, test })
}

/// ROC AUC by the rank-sum (Mann-Whitney) formula, ties given their average rank.
fn roc_auc(y: &[f64], score: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum_pos, mut n_pos) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if y[k] > 0.5 {
                rank_sum_pos += avg_rank;
                n_pos += 1.0;
            }
        }
        i = j + 1;
    }
    let n_neg = y.len() as f64 - n_pos;
    (rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0 // Linux reports KiB
}

/// What a fitted model hands back to the harness, whatever the crate.
struct Outcome {
    fit_s: f64,
    margins: Vec<f64>,
    predict_s: f64,
    contrib_rows: usize,
    contrib_s: f64,
    /// Largest |sum of SHAP values + bias - margin| over the explained rows.
    shap_additivity_err: f64,
    trees: usize,
    nodes: usize,
    max_depth: usize,
    model_json_bytes: usize,
    /// Largest |parent cover - sum of its children's covers| / parent cover over all split nodes:
    /// TreeSHAP needs covers that add up, whoever computes it.
    cover_mismatch: f64,
}

/// One split node's cover (hessian sum) and its children's, whatever the crate's node type.
fn cover_mismatch(splits: impl Iterator<Item = (f32, Vec<f32>)>) -> f64 {
    splits
        .map(|(parent, children)| {
            let sum: f32 = children.iter().sum();
            ((parent - sum).abs() / parent.abs().max(f32::MIN_POSITIVE)) as f64
        })
        .fold(0.0, f64::max)
}

/// SHAP values of the first `args.contrib_rows` test rows, in chunks of 250, stopping early once
/// `args.contrib_budget_s` has passed (deep trees make path-dependent TreeSHAP very slow). Returns
/// the contributions of the rows done and the seconds taken.
fn contributions_within_budget(
    args: &Args,
    test: &Part,
    mut explain: impl FnMut(&[f64], usize) -> Vec<f64>,
) -> (Vec<f64>, f64) {
    const CHUNK: usize = 250;
    let n = args.contrib_rows.min(test.rows());
    let mut out = Vec::with_capacity(n * (N_FEATURES + 1));
    let t = Instant::now();
    let mut start = 0;
    while start < n && t.elapsed().as_secs_f64() < args.contrib_budget_s {
        let end = (start + CHUNK).min(n);
        out.extend(explain(&test.column_major_range(start, end), end - start));
        start = end;
    }
    (out, t.elapsed().as_secs_f64())
}

fn shap_additivity(contribs: &[f64], margins: &[f64]) -> f64 {
    contribs
        .chunks(N_FEATURES + 1)
        .zip(margins)
        .map(|(c, m)| (c.iter().sum::<f64>() - m).abs())
        .fold(0.0, f64::max)
}

fn run_forust(args: &Args, d: &Data, early_stop: bool) -> BoxResult<Outcome> {
    let mut fit = Part::default();
    fit.cols = d.train.cols.clone();
    fit.y = d.train.y.clone();
    if !early_stop {
        fit.append(&d.valid);
    }
    let fit_x = fit.column_major(fit.rows());
    let fit_m = forust_ml::Matrix::new(&fit_x, fit.rows(), N_FEATURES);
    let valid_x = d.valid.column_major(d.valid.rows());
    let valid_w = vec![1.0; d.valid.rows()];

    // Leaf-wise with 31 leaves, like LightGBM's defaults; depth is left effectively unbounded as there.
    let mut model = GradientBooster::default()
        .set_objective_type(ObjectiveType::LogLoss)
        .set_iterations(if early_stop { 1000 } else { args.rounds })
        .set_learning_rate(0.1)
        .set_max_leaves(31)
        .set_max_depth(64)
        .set_nbins(256)
        .set_num_threads(Some(args.threads))
        .set_parallel(true);
    model.grow_policy = GrowPolicy::LossGuide;
    let eval = if early_stop {
        model = model
            .set_evaluation_metric(Some(Metric::LogLoss))
            .set_early_stopping_rounds(Some(20));
        Some(vec![(
            forust_ml::Matrix::new(&valid_x, d.valid.rows(), N_FEATURES),
            d.valid.y.as_slice(),
            valid_w.as_slice(),
        )])
    } else {
        None
    };
    let t = Instant::now();
    model.fit_unweighted(&fit_m, &fit.y, eval)?;
    let fit_s = t.elapsed().as_secs_f64();
    drop(fit_x);

    let test_x = d.test.column_major(d.test.rows());
    let test_m = forust_ml::Matrix::new(&test_x, d.test.rows(), N_FEATURES);
    let t = Instant::now();
    let margins = model.predict(&test_m, true); // raw log-odds
    let predict_s = t.elapsed().as_secs_f64();

    eprintln!(
        "{}: fitted {} trees in {fit_s:.1} s",
        args.candidate,
        model.trees.len()
    );
    let (contribs, contrib_s) = contributions_within_budget(args, &d.test, |x, rows| {
        model.predict_contributions(
            &forust_ml::Matrix::new(x, rows, N_FEATURES),
            FContrib::Shapley,
            true,
        )
    });
    let n_c = contribs.len() / (N_FEATURES + 1);

    // The trees used for prediction: all of them, or up to the best iteration after early stopping.
    let used = model.prediction_iteration.unwrap_or(model.trees.len());
    let trees = &model.trees[..used];
    // Public node fields, as our own TreeSHAP would read them.
    let nodes = trees.iter().map(|t| t.nodes.len()).sum();
    let max_depth = trees
        .iter()
        .flat_map(|t| t.nodes.iter().map(|n| n.depth))
        .max()
        .unwrap_or(0);
    let cover = cover_mismatch(trees.iter().flat_map(|t| {
        t.nodes.iter().filter(|n| !n.is_leaf).map(move |n| {
            let mut kids = vec![n.left_child, n.right_child];
            if n.has_missing_branch() {
                kids.push(n.missing_node);
            }
            (
                n.hessian_sum,
                kids.iter().map(|&k| t.nodes[k].hessian_sum).collect(),
            )
        })
    }));
    let json = model.json_dump()?;
    let back = GradientBooster::from_json(&json)?;
    assert_eq!(
        back.predict(&test_m, true),
        margins,
        "forust json round trip changed predictions"
    );
    Ok(Outcome {
        fit_s,
        shap_additivity_err: shap_additivity(&contribs, &margins[..n_c]),
        margins,
        predict_s,
        contrib_rows: n_c,
        contrib_s,
        trees: used,
        nodes,
        max_depth,
        model_json_bytes: json.len(),
        cover_mismatch: cover,
    })
}

fn run_perpetual(args: &Args, d: &Data, native_categoricals: bool) -> BoxResult<Outcome> {
    // Perpetual takes no validation set: it stops by itself from in-sample generalisation checks,
    // so it fits on train + valid like the 200-round candidates.
    let mut fit = Part::default();
    fit.cols = d.train.cols.clone();
    fit.y = d.train.y.clone();
    fit.append(&d.valid);
    let fit_x = fit.column_major(fit.rows());
    let fit_m = perpetual::Matrix::new(&fit_x, fit.rows(), N_FEATURES);

    // budget 1.0 gives eta = 10^-budget = 0.1, the others' learning rate; no leaf or depth limit exists.
    let mut model = PerpetualBooster::default()
        .set_objective(Objective::LogLoss)
        .set_budget(1.0)
        .set_num_threads(Some(args.threads))
        .set_seed(42);
    if native_categoricals {
        model = model.set_categorical_features(Some(CATEGORICAL_COLS.into_iter().collect()));
    }
    let t = Instant::now();
    model.fit(&fit_m, &fit.y, None, None)?;
    let fit_s = t.elapsed().as_secs_f64();
    drop(fit_x);

    let test_x = d.test.column_major(d.test.rows());
    let test_m = perpetual::Matrix::new(&test_x, d.test.rows(), N_FEATURES);
    let t = Instant::now();
    let margins = model.predict(&test_m, true); // raw log-odds; predict_proba applies the sigmoid
    let predict_s = t.elapsed().as_secs_f64();

    eprintln!(
        "{}: fitted {} trees in {fit_s:.1} s",
        args.candidate,
        model.trees.len()
    );
    let (contribs, contrib_s) = contributions_within_budget(args, &d.test, |x, rows| {
        model.predict_contributions(
            &perpetual::Matrix::new(x, rows, N_FEATURES),
            PContrib::Shapley,
            true,
        )
    });
    let n_c = contribs.len() / (N_FEATURES + 1);

    let nodes = model.trees.iter().map(|t| t.nodes.len()).sum();
    let max_depth = model.trees.iter().map(|t| t.depth).max().unwrap_or(0);
    let cover = cover_mismatch(model.trees.iter().flat_map(|t| {
        t.nodes.values().filter(|n| !n.is_leaf).map(move |n| {
            let mut kids = vec![n.left_child, n.right_child];
            if n.has_missing_branch() {
                kids.push(n.missing_node);
            }
            (
                n.hessian_sum,
                kids.iter().map(|k| t.nodes[k].hessian_sum).collect(),
            )
        })
    }));
    let json = model.json_dump()?;
    let back = PerpetualBooster::from_json(&json)?;
    assert_eq!(
        back.predict(&test_m, true),
        margins,
        "perpetual json round trip changed predictions"
    );
    Ok(Outcome {
        fit_s,
        shap_additivity_err: shap_additivity(&contribs, &margins[..n_c]),
        margins,
        predict_s,
        contrib_rows: n_c,
        contrib_s,
        trees: model.trees.len(),
        nodes,
        max_depth,
        model_json_bytes: json.len(),
        cover_mismatch: cover,
    })
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let t = Instant::now();
    let data = read_csv(&args.csv)?;
    let load_s = t.elapsed().as_secs_f64();
    let out = match args.candidate.as_str() {
        "forust" => run_forust(&args, &data, false)?,
        "forust-es" => run_forust(&args, &data, true)?,
        "perpetual" => run_perpetual(&args, &data, false)?,
        "perpetual-cat" => run_perpetual(&args, &data, true)?,
        other => return Err(format!("unknown candidate {other}").into()),
    };
    let auc = roc_auc(&data.test.y, &out.margins);
    println!(
        "candidate={} rows={} test_rows={} auc={:.4} fit_s={:.2} predict_s={:.3} contrib_rows={} \
         contrib_rows_per_s={:.0} shap_additivity_err={:.1e} trees={} nodes={} max_depth={} \
         cover_mismatch={:.1e} model_json_kb={:.0} load_s={:.1} peak_rss_mib={:.0}",
        args.candidate,
        data.train.rows() + data.valid.rows() + data.test.rows(),
        data.test.rows(),
        auc,
        out.fit_s,
        out.predict_s,
        out.contrib_rows,
        out.contrib_rows as f64 / out.contrib_s,
        out.shap_additivity_err,
        out.trees,
        out.nodes,
        out.max_depth,
        out.cover_mismatch,
        out.model_json_bytes as f64 / 1024.0,
        load_s,
        peak_rss_mib(),
    );
    Ok(())
}
