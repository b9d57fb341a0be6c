#!/usr/bin/env python3
"""How far the nightly performance estimate (CBPE, from calibrated probabilities, before any
label exists) is from the ROC AUC realised once the labels land, over several simulated nights of
demo data, without drift and with drift injected into the history.

For each scenario and seed, in a fresh directory (SQLite warehouse, local object store):

1. `churnflow demo-data --customers N --date 2026-12-04 --seed S` (snapshots every 30 days over
   300 days; labels known for snapshots 90 days old), with `--drift-from 2026-06-07` in the
   drift scenario: every snapshot from that date on has shifted engagement, failed payments,
   discounts and an unseen payment method, labelled ones included;
2. `churnflow run nightly_churn --date D --no-email` for every snapshot date from 2026-05-08 to
   2026-12-04 in order, so that the scores of 05-08, 06-07, 07-07, 08-06 and 09-05 get their
   outcomes three nights later (the outcomes task stores the realised figure beside the night's
   estimate in `model_performance`);
3. reads the champion arm's ROC AUC, estimated and realised, per score date.

Prints one line per score date and the mean and largest absolute error per scenario.

Usage: benches/cbpe_error.py [CUSTOMERS]     (default 20000)
Environment:
  CARGO_TARGET_DIR  where cargo builds (the script runs `cargo build` first; PROFILE=release for a
                    release build)
  BENCH_DIR         data (default ~/churnflow-bench/cbpe)
  SEEDS             comma-separated generator seeds (default 42,7)
Only the standard library is needed.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEWEST = "2026-12-04"
NIGHTS = [
    "2026-05-08",
    "2026-06-07",
    "2026-07-07",
    "2026-08-06",
    "2026-09-05",
    "2026-10-05",
    "2026-11-04",
    "2026-12-04",
]
DRIFT_FROM = "2026-06-07"
SEEDS = [int(s) for s in os.environ.get("SEEDS", "42,7").split(",")]


def build() -> Path:
    profile = os.environ.get("PROFILE", "dev")
    subprocess.run(
        ["cargo", "build", "--profile", profile, "--bin", "churnflow"], cwd=REPO, check=True
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / ("debug" if profile == "dev" else profile) / "churnflow"


def churnflow(binary: Path, work: Path, args: list[str]) -> None:
    done = subprocess.run(
        [str(binary), *args], cwd=work, text=True, capture_output=True, env=dict(os.environ)
    )
    if done.returncode != 0:
        sys.exit(f"churnflow {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")


def scenario(binary: Path, root: Path, customers: int, seed: int, drift: bool) -> list[tuple]:
    work = root / f"{'drift' if drift else 'clean'}-{seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(REPO / "dags.toml", work / "dags.toml")
    demo = ["demo-data", "--customers", str(customers), "--date", NEWEST, "--seed", str(seed)]
    if drift:
        demo += ["--drift-from", DRIFT_FROM]
    churnflow(binary, work, demo)
    for night in NIGHTS:
        churnflow(binary, work, ["run", "nightly_churn", "--date", night, "--no-email"])
        print(f"  {work.name}: night {night} done", file=sys.stderr)
    with sqlite3.connect(work / ".churnflow" / "churnflow.db") as db:
        return db.execute(
            "SELECT score_date, model_version, estimated, realised FROM model_performance "
            "WHERE metric = 'roc_auc' AND role = 'champion' AND realised IS NOT NULL "
            "AND estimated IS NOT NULL ORDER BY score_date"
        ).fetchall()


def main() -> None:
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    root = Path(os.environ.get("BENCH_DIR", Path.home() / "churnflow-bench" / "cbpe"))
    binary = build()
    print(
        f"CBPE's ROC AUC estimate against the realised ROC AUC, {customers} customers, "
        f"seeds {SEEDS}, nights {NIGHTS[0]} to {NIGHTS[-1]}"
    )
    print(f"{'scenario':<8} {'seed':>4} {'score date':<11} {'drifted':<7} {'version':>7} "
          f"{'estimated':>9} {'realised':>8} {'abs error':>9}")
    for drift in (False, True):
        errors = []
        for seed in SEEDS:
            for date, version, estimated, realised in scenario(
                binary, root, customers, seed, drift
            ):
                drifted = drift and date >= DRIFT_FROM
                error = abs(estimated - realised)
                if drift == drifted or not drift:
                    errors.append(error)
                print(f"{'drift' if drift else 'clean':<8} {seed:>4} {date:<11} "
                      f"{'yes' if drifted else 'no':<7} {version:>7} {estimated:>9.4f} "
                      f"{realised:>8.4f} {error:>9.4f}")
        name = "drifted score dates" if drift else "clean history"
        print(f"  {name}: {len(errors)} nights, mean absolute error "
              f"{statistics.mean(errors):.4f}, largest {max(errors):.4f}")


if __name__ == "__main__":
    main()
