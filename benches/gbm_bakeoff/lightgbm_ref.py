#!/usr/bin/env python3
"""LightGBM reference line for the bake-off, on the CSV and split that prep_csv.py wrote.

LGBMClassifier(n_estimators=200, learning_rate=0.1, num_leaves=31, n_jobs=2), fitted on train + valid
(the 80%) like the 200-round Rust candidates; the integer-coded categoricals are plain numbers, as
for forust. Prints one key=value line in the Rust harness's format. Run it in its own process, so that
ru_maxrss is this line's peak.

Usage: lightgbm_ref.py --csv FILE [--threads 2] [--contrib-rows 20000]
"""
from __future__ import annotations

import argparse
import resource
import time

import lightgbm
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--contrib-rows", type=int, default=20_000)
    args = ap.parse_args()

    t = time.perf_counter()
    df = pd.read_csv(args.csv)
    load_s = time.perf_counter() - t
    features = [c for c in df.columns if c not in ("churned", "split")]
    fit = df[df["split"] != "test"]
    test = df[df["split"] == "test"]
    # Dense float64 arrays, as the Rust candidates get; NaN = missing.
    x_fit, y_fit = fit[features].to_numpy(np.float64), fit["churned"].to_numpy()
    x_test, y_test = test[features].to_numpy(np.float64), test["churned"].to_numpy()
    del df, fit, test

    model = lightgbm.LGBMClassifier(n_estimators=200, learning_rate=0.1, num_leaves=31, n_jobs=args.threads,
                                    random_state=42, verbose=-1)
    t = time.perf_counter()
    model.fit(x_fit, y_fit)
    fit_s = time.perf_counter() - t

    t = time.perf_counter()
    margins = model.predict(x_test, raw_score=True)
    predict_s = time.perf_counter() - t

    n_c = min(args.contrib_rows, len(x_test))
    t = time.perf_counter()
    contribs = model.predict(x_test[:n_c], pred_contrib=True)
    contrib_s = time.perf_counter() - t
    additivity = float(np.max(np.abs(contribs.sum(axis=1) - margins[:n_c])))

    booster = model.booster_
    dump = booster.dump_model()
    depth = max(_depth(t["tree_structure"]) for t in dump["tree_info"])
    nodes = sum(2 * t["num_leaves"] - 1 for t in dump["tree_info"])
    model_kb = len(booster.model_to_string()) / 1024
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"candidate=lightgbm-{lightgbm.__version__} rows={len(x_fit) + len(x_test)} test_rows={len(x_test)} "
          f"auc={roc_auc_score(y_test, margins):.4f} fit_s={fit_s:.2f} predict_s={predict_s:.3f} "
          f"contrib_rows={n_c} contrib_rows_per_s={n_c / contrib_s:.0f} shap_additivity_err={additivity:.1e} "
          f"trees={booster.num_trees()} nodes={nodes} max_depth={depth} model_txt_kb={model_kb:.0f} "
          f"load_s={load_s:.1f} peak_rss_mib={peak_mib:.0f}")


def _depth(node: dict) -> int:
    if "leaf_index" in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


if __name__ == "__main__":
    main()
