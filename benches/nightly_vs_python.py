#!/usr/bin/env python3
"""The nightly DAG against the Python reference pipeline, on the same generated Parquet.

For each row count (default 100000 and 1000000) this script, in one run on one machine:

1. generates a labelled training snapshot (2024-01-01) and a drifted scoring snapshot (2024-04-01)
   with the reference's own generator (`../shared/bench/py_baseline/gen_data.py`), once;
2. runs the reference (`pipeline.py --models logreg,lightgbm`, PostgreSQL) under `/usr/bin/time`,
   once as it is and once with `--contrib` (LightGBM's exact SHAP contributions, `pred_contrib`,
   for every scored customer);
3. puts the very same Parquet files into a fresh churnflow object store (the contract's layout) and
   runs `churnflow run nightly_churn --date 2024-04-01` of the repository's dags.toml (both model
   families), release build, on a fresh PostgreSQL database, under `/usr/bin/time`, once with
   reasons for every customer (the default) and once without (`score.params.reasons = false`);
4. loads churnflow's exported risk CSV with `psql \\copy` into a copy of the risk table;
5. fits the reference's logistic regression once more with churnflow's encoding of a missing
   category (a one-hot column of its own), to separate that choice from the fit in the ROC AUC;
6. prints per-stage and total wall time, peak memory (max RSS), each family's ROC AUC and the
   champion's against the reference's models, calibration error before and after, the ratios,
   reasons' rows per second against `pred_contrib`'s, the score stage's rows per second and the
   PostgreSQL load against `psql \\copy`.

Usage: benches/nightly_vs_python.py [ROWS ...]
Environment:
  PY        python with the reference's requirements (default ~/.venvs/py_baseline/bin/python)
  BASELINE  the reference's directory (default ../shared/bench/py_baseline beside the repository)
  BENCH_DIR data and run outputs (default ~/churnflow-bench)
  PGHOST/PGPORT/PGUSER  the PostgreSQL server (default 127.0.0.1, 5432, postgres); the databases
            churnflow_bench_py and churnflow_bench_cf are dropped and recreated
  CARGO_TARGET_DIR  where cargo builds (the script runs `cargo build --release` first)
Only the standard library is needed to run this script itself.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE = Path(os.environ.get("BASELINE", REPO.parent / "shared" / "bench" / "py_baseline"))
PY = os.environ.get("PY", str(Path.home() / ".venvs" / "py_baseline" / "bin" / "python"))
BENCH_DIR = Path(os.environ.get("BENCH_DIR", Path.home() / "churnflow-bench"))
PGHOST = os.environ.get("PGHOST", "127.0.0.1")
PGPORT = os.environ.get("PGPORT", "5432")
PGUSER = os.environ.get("PGUSER", "postgres")
TRAIN_DATE, SCORE_DATE = "2024-01-01", "2024-04-01"
DAG = "nightly_churn"

# The reference's stages, grouped under the churnflow task that does the same work. churnflow's
# stages read their own Parquet, so the reference's `load` counts with validate; its `write_pg`
# (the PostgreSQL load) is part of churnflow's score stage.
STAGE_MAP = [
    ("validate", ["load", "validate"]),
    ("train", ["train"]),
    ("evaluate", ["evaluate"]),
    ("gate", ["gate"]),
    ("register", ["register"]),
    ("score", ["score", "write_pg"]),
    ("drift", ["drift"]),
    ("report", ["report"]),
]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        sys.exit(
            f"command failed ({result.returncode}): {' '.join(map(str, args))}\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def timed(args: list[str], time_file: Path, **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Runs `args` under GNU time; the result, wall seconds and peak RSS in MB."""
    result = run(["/usr/bin/time", "-f", "%e %M", "-o", str(time_file), *args], **kwargs)
    wall, max_rss_kb = time_file.read_text().split()[-2:]
    return result, float(wall), float(max_rss_kb) / 1024.0


def psql(database: str, *args: str) -> subprocess.CompletedProcess:
    return run(["psql", "-h", PGHOST, "-p", PGPORT, "-U", PGUSER, "-d", database, "-v",
                "ON_ERROR_STOP=1", "-qAt", *args])


def fresh_database(name: str) -> None:
    psql("postgres", "-c", f"DROP DATABASE IF EXISTS {name}")
    psql("postgres", "-c", f"CREATE DATABASE {name}")


def generate(rows: int) -> Path:
    data = BENCH_DIR / "data" / f"n{rows}"
    for sub, date, extra in (("train", TRAIN_DATE, []), ("score", SCORE_DATE, ["--drift"])):
        if not (data / sub / "features.parquet").exists():
            log(f"generating {rows} customers, snapshot {date} {' '.join(extra)}")
            run([PY, str(BASELINE / "gen_data.py"), "--rows", str(rows), "--out", str(data / sub),
                 "--snapshot-date", date, *extra])
    return data


def run_reference(rows: int, data: Path, out: Path, contrib: bool) -> dict:
    fresh_database("churnflow_bench_py")
    out.mkdir(parents=True, exist_ok=True)
    log(f"reference pipeline, {rows} customers{' with --contrib' if contrib else ''}")
    command = [PY, str(BASELINE / "pipeline.py"), "--train-dir", str(data / "train"), "--score-dir",
               str(data / "score"), "--out", str(out), "--models", "logreg,lightgbm", "--dsn",
               f"host={PGHOST} port={PGPORT} user={PGUSER} dbname=churnflow_bench_py"]
    if contrib:
        command.append("--contrib")
    result, wall, rss = timed(command, out / "time.txt")
    del result  # its last stdout line is a short form of timings.json
    summary = json.loads((out / "timings.json").read_text())
    metrics = summary["metrics"]
    return {
        "stages": summary["stages_s"],
        "internal_total": summary["total_s"],
        "wall": wall,
        "peak_rss_mb": rss,
        "roc_auc": {name: m["roc_auc"] for name, m in metrics.items()},
        "best_model": summary.get("best_model"),
        "explain": summary.get("explain"),
        "tiers": summary["tier_counts"],
    }


def dags_without_reasons() -> str:
    """The repository's dags.toml with the score stage's reasons turned off."""
    dags = (REPO / "dags.toml").read_text()
    table = "[dags.nightly_churn.tasks.score.params]\n"
    if table in dags:
        return dags.replace(table, table + "reasons = false\n", 1)
    anchor = "[[dags.nightly_churn.tasks.score.params.tiers]]"
    if anchor not in dags:
        sys.exit(f"dags.toml has no `{anchor}`: update benches/nightly_vs_python.py")
    return dags.replace(anchor, table + "reasons = false\n\n" + anchor, 1)


def run_churnflow(rows: int, data: Path, out: Path, binary: Path, reasons: bool) -> dict:
    if out.exists():
        shutil.rmtree(out)
    store = out / "store"
    for table, sub, date in (("features", "train", TRAIN_DATE), ("labels", "train", TRAIN_DATE),
                             ("features", "score", SCORE_DATE)):
        partition = store / table / f"snapshot_date={date}"
        partition.mkdir(parents=True)
        shutil.copyfile(data / sub / f"{table}.parquet", partition / "part-0.parquet")
    fresh_database("churnflow_bench_cf")
    env = dict(os.environ,
               DATABASE_URL=f"postgres://{PGUSER}@{PGHOST}:{PGPORT}/churnflow_bench_cf",
               CHURNFLOW_STATE_DIR=str(out / "state"), CHURNFLOW_STORE_ROOT=str(store),
               CHURNFLOW_DAGS=str(REPO / "dags.toml"), CHURNFLOW_LOG="info")
    if not reasons:
        (out / "dags.toml").write_text(dags_without_reasons())
        env["CHURNFLOW_DAGS"] = str(out / "dags.toml")
    env.pop("CHURNFLOW_SMTP_URL", None)
    env.pop("CHURNFLOW_CONFIG", None)
    log(f"churnflow {DAG}, {rows} customers, {'with' if reasons else 'without'} reasons")
    result, wall, rss = timed([str(binary), "run", DAG, "--date", SCORE_DATE, "--json"],
                              out / "time.txt", env=env)
    (out / "stderr.log").write_text(result.stderr)
    summary = json.loads(result.stdout)
    tasks = {t["task"]: t for t in summary["tasks"]}
    failed = [name for name, t in tasks.items() if t["state"] != "success"]
    if failed:
        sys.exit(f"churnflow run failed at {failed}: {json.dumps(summary, indent=2)}")
    score = tasks["score"]["output"]
    candidates = store / "models" / "churn_logreg" / "candidates" / SCORE_DATE
    calibration = {}
    for family in ("logistic_regression", "gradient_boosting"):
        training = candidates / family / "training.json"
        if training.exists():
            calibration[family] = json.loads(training.read_text())["calibration"]
    reasons_rate = None
    for line in result.stderr.splitlines():
        if "reasons for" in line and "rows/s" in line:
            reasons_rate = float(line.rsplit("(", 1)[1].split()[0])
    return {
        "stages": {name: t["duration_seconds"] for name, t in tasks.items()},
        "run_total": summary["run"]["duration_seconds"],
        "wall": wall,
        "peak_rss_mb": rss,
        "roc_auc": {c["family"]: c["metrics"]["roc_auc"]
                    for c in tasks["evaluate"]["output"]["candidates"]},
        "ece": {c["family"]: c["metrics"]["expected_calibration_error"]
                for c in tasks["evaluate"]["output"]["candidates"]},
        "champion": tasks["register"]["output"]["family"],
        "calibration": calibration,
        "reasons_rows_per_s": reasons_rate,
        "score_rows": score["rows"],
        "score_seconds": score["score_seconds"],
        "load_seconds": score["load_seconds"],
        "tiers": {t["tier"]: t["customers"] for t in score["tiers"]},
        "export_csv": store / "exports" / "risk_scores" / f"score_date={SCORE_DATE}" / "risk_scores.csv",
    }


# The reference's logistic regression on its own split, with one change: a missing category is a
# category of its own (as churnflow encodes it) instead of the most frequent value. This tells
# how much of an ROC AUC difference is that encoding rather than the fit.
SAME_ENCODING = """
import sys
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
import pipeline as P
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
features = pd.read_parquet(sys.argv[2] + "/features.parquet")
labels = pd.read_parquet(sys.argv[2] + "/labels.parquet")
train = features.merge(labels[[P.ID_COL, P.LABEL_COL]], on=P.ID_COL)
X, y = train[P.FEATURES], train[P.LABEL_COL].astype(np.int8).to_numpy()
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
pre = ColumnTransformer([
    ("num", Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler())]), P.NUMERIC),
    ("cat", Pipeline([("i", SimpleImputer(strategy="constant", fill_value="(null)")),
                      ("o", OneHotEncoder(handle_unknown="ignore"))]), P.CATEGORICAL)])
model = Pipeline([("p", pre), ("m", LogisticRegression(max_iter=2000, class_weight="balanced"))])
model.fit(X_tr, y_tr)
print(roc_auc_score(y_te, model.predict_proba(X_te)[:, 1]))
"""


def reference_auc_same_encoding(data: Path) -> float:
    log("the reference's logistic regression with churnflow's encoding of missing categories")
    result = run([PY, "-c", SAME_ENCODING, str(BASELINE), str(data / "train")])
    return float(result.stdout.strip().splitlines()[-1])


def psql_copy_seconds(csv: Path) -> float:
    """`psql \\copy` of churnflow's export CSV into an empty copy of the risk table (its columns,
    defaults, keys and indexes, which a load has to maintain)."""
    header = csv.open().readline().strip()
    psql("churnflow_bench_cf", "-c", "DROP TABLE IF EXISTS risk_scores_copy",
         "-c", "CREATE TABLE risk_scores_copy (LIKE risk_scores INCLUDING ALL)")
    started = time.perf_counter()
    psql("churnflow_bench_cf", "-c",
         f"\\copy risk_scores_copy ({header}) FROM '{csv}' WITH (FORMAT csv, HEADER true)")
    return time.perf_counter() - started


def ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.2f}x" if fast > 0 else "-"


def report(rows: int, py: dict, py_contrib: dict, cf: dict, cf_plain: dict, copy_s: float,
           same_encoding_auc: float) -> None:
    print(f"\n== {rows} customers (train snapshot {TRAIN_DATE}, drifted score snapshot {SCORE_DATE})")
    print("python: pipeline.py --models logreg,lightgbm (+ --contrib); churnflow: both families "
          "(with reasons; without in brackets)")
    print(f"{'stage':<10} {'python s':>10} {'+contrib':>9} {'churnflow s':>12} {'(no reasons)':>13}"
          f" {'ratio':>8}   python stages")
    for stage, py_stages in STAGE_MAP:
        p = sum(py["stages"].get(s, 0.0) for s in py_stages)
        pc = sum(py_contrib["stages"].get(s, 0.0) for s in py_stages + (["explain"] if stage == "score" else []))
        c = cf["stages"].get(stage, 0.0)
        cp = cf_plain["stages"].get(stage, 0.0)
        print(f"{stage:<10} {p:>10.2f} {pc:>9.2f} {c:>12.2f} {cp:>13.2f} {ratio(pc, c):>8}   "
              f"{'+'.join(py_stages)}{' (+explain)' if stage == 'score' else ''}")
    print(f"{'process':<10} {py['wall']:>10.2f} {py_contrib['wall']:>9.2f} {cf['wall']:>12.2f} "
          f"{cf_plain['wall']:>13.2f}   whole process wall: with reasons {ratio(py_contrib['wall'], cf['wall'])} "
          f"faster than python --contrib; without {ratio(py['wall'], cf_plain['wall'])} faster than python")
    print(f"{'peak MB':<10} {py['peak_rss_mb']:>10.0f} {py_contrib['peak_rss_mb']:>9.0f} "
          f"{cf['peak_rss_mb']:>12.0f} {cf_plain['peak_rss_mb']:>13.0f}   max RSS "
          f"(churnflow / python: {cf['peak_rss_mb'] / py_contrib['peak_rss_mb']:.2f}x with reasons, "
          f"{cf_plain['peak_rss_mb'] / py['peak_rss_mb']:.2f}x without)")
    best_py = max(py["roc_auc"].values())
    for name, auc in py["roc_auc"].items():
        print(f"ROC AUC    python {name:<20} {auc:.4f}")
    for family, auc in cf["roc_auc"].items():
        cal = cf["calibration"].get(family, {})
        print(f"ROC AUC    churnflow {family:<17} {auc:.4f}   calibration error "
              f"{cal.get('ece_before', float('nan')):.4f} -> {cal.get('ece_after', float('nan')):.4f}, "
              f"mean score {cal.get('mean_score_before', float('nan')):.4f} -> "
              f"{cal.get('mean_score_after', float('nan')):.4f} (churn rate {cal.get('observed_rate', float('nan')):.4f})")
    champion_auc = cf["roc_auc"][cf["champion"]]
    print(f"champion   churnflow {cf['champion']} ({champion_auc:.4f}); python's best model "
          f"{py.get('best_model')} ({best_py:.4f}): {champion_auc - best_py:+.4f}")
    print(f"ROC AUC*   reference logistic regression with churnflow's missing-category encoding "
          f"{same_encoding_auc:.4f}")
    explain = py_contrib.get("explain") or {}
    ours = cf.get("reasons_rows_per_s") or 0.0
    theirs = explain.get("rows_per_s") or 0.0
    print(f"reasons    churnflow {ours:,.0f} rows/s (exact SHAP, top 3 kept) vs LightGBM pred_contrib "
          f"{theirs:,.0f} rows/s: {ratio(ours, theirs) if theirs else '-'}")
    print(f"tiers      python {py['tiers']}  churnflow {cf['tiers']}")
    print(f"score      churnflow {cf['score_rows']} rows in {cf['score_seconds']:.2f} s with reasons, "
          f"{cf_plain['score_seconds']:.2f} s without")
    print(f"pg load    churnflow {cf['load_seconds']:.2f} s (DELETE + COPY in one "
          f"transaction) vs psql \\copy {copy_s:.2f} s of the same CSV into a table with the "
          "same key")
    targets = [
        ("with reasons >= 2x faster than python --contrib", py_contrib["wall"] / cf["wall"] >= 2.0),
        ("without reasons >= 2x faster than python", py["wall"] / cf_plain["wall"] >= 2.0),
        ("peak memory <= 1/2", cf["peak_rss_mb"] <= py_contrib["peak_rss_mb"] / 2
         and cf_plain["peak_rss_mb"] <= py["peak_rss_mb"] / 2),
        ("champion ROC AUC at most 0.003 below python's best", champion_auc >= best_py - 0.003),
        ("reasons >= 10x pred_contrib rows/s", theirs > 0 and ours >= 10 * theirs),
    ]
    print("targets    " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in targets))


def main() -> None:
    rows_list = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    if not Path(PY).exists():
        sys.exit(f"PY={PY} does not exist: create it with `python3 -m venv ~/.venvs/py_baseline && "
                 f"~/.venvs/py_baseline/bin/pip install -r {BASELINE}/requirements.txt`")
    log("cargo build --release")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "churnflow"], cwd=REPO,
                   check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "release" / "churnflow"
    for rows in rows_list:
        data = generate(rows)
        runs = BENCH_DIR / "runs" / f"n{rows}"
        py = run_reference(rows, data, runs / "python", contrib=False)
        py_contrib = run_reference(rows, data, runs / "python-contrib", contrib=True)
        cf_plain = run_churnflow(rows, data, runs / "churnflow-no-reasons", binary, reasons=False)
        cf = run_churnflow(rows, data, runs / "churnflow", binary, reasons=True)
        copy_s = psql_copy_seconds(cf["export_csv"])
        report(rows, py, py_contrib, cf, cf_plain, copy_s, reference_auc_same_encoding(data))
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
