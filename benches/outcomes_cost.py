#!/usr/bin/env python3
"""What the nights' performance estimate, the outcomes task and the report (with its charts) cost,
on demo data at 100k and 1M customers, release build, PostgreSQL on loopback.

For each customer count, in one run on one machine:

1. `churnflow demo-data --customers N --date 2026-11-24` into a fresh store and database;
2. the run of 2026-08-26 (trains v1, scores, estimates tonight's ROC AUC and tier precision from
   the calibrated scores: the score stage's `estimate_seconds`);
3. the run of 2026-11-24: the labels of 2026-08-26 have landed, so the outcomes task measures the
   realised figures of what was served that day; the report draws its six charts;
4. the run of 2026-11-24 again from the outcomes task (`--from-task outcomes`), REPEAT times:
   outcomes and report alone.

Prints the estimate's seconds, the outcomes and report tasks' seconds (median of the re-runs),
the report's size in bytes with its images, and each run's wall time and peak memory.

Usage: benches/outcomes_cost.py [CUSTOMERS ...]     (default 100000 1000000)
Environment:
  CARGO_TARGET_DIR  where cargo builds (the script runs `cargo build --release` first)
  BENCH_DIR         data (default ~/churnflow-bench/outcomes)
  REPEAT            re-runs from the outcomes task (default 3)
  PGHOST/PGPORT/PGUSER  the PostgreSQL server (default 127.0.0.1, 5432, postgres); the database
                    churnflow_bench_outcomes is dropped and recreated
Only the standard library is needed.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import bench_pg

REPO = Path(__file__).resolve().parent.parent
REPEAT = int(os.environ.get("REPEAT", "3"))
DATABASE = "churnflow_bench_outcomes"
SCORED, LANDED = "2026-08-26", "2026-11-24"


def bench(binary: Path, customers: int) -> None:
    root = Path(os.environ.get("BENCH_DIR", Path.home() / "churnflow-bench" / "outcomes"))
    work = root / str(customers)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bench_pg.fresh_database(DATABASE)
    shutil.copy(REPO / "dags.toml", work / "dags.toml")
    print(f"\n== {customers:,} customers ==", flush=True)
    started = time.monotonic()
    bench_pg.churnflow(binary, work, DATABASE, ["demo-data", "--customers", str(customers), "--date", LANDED])
    print(f"demo data: {time.monotonic() - started:.1f}s", flush=True)
    for date in (SCORED, LANDED):
        summary, wall, rss = bench_pg.churnflow(
            binary, work, DATABASE, ["run", "nightly_churn", "--date", date, "--no-email", "--json"]
        )
        score = bench_pg.task(summary, "score")
        outcomes = bench_pg.task(summary, "outcomes")
        report = bench_pg.task(summary, "report")
        print(
            f"run {date}: wall {wall:7.1f}s, peak {rss / 1024:6.0f} MB; score stage "
            f"{score['duration_seconds']:6.2f}s of which estimate "
            f"{score['output']['estimate_seconds']:5.2f}s; outcomes {outcomes['state']} "
            f"{outcomes['duration_seconds']:5.2f}s; report {report['duration_seconds']:5.2f}s",
            flush=True,
        )
    report_file = work / "state" / "store" / "reports" / "nightly_churn" / LANDED / "report.html"
    print(f"report.html of {LANDED}: {report_file.stat().st_size:,} bytes with its charts")
    outcomes_s, report_s = [], []
    for attempt in range(REPEAT):
        summary, wall, rss = bench_pg.churnflow(binary, work, DATABASE, [
            "run", "nightly_churn", "--date", LANDED, "--from-task", "outcomes",
            "--no-email", "--json",
        ])
        outcomes_s.append(bench_pg.task(summary, "outcomes")["duration_seconds"])
        report_s.append(bench_pg.task(summary, "report")["duration_seconds"])
        print(f"re-run {attempt + 1} from outcomes: outcomes {outcomes_s[-1]:5.2f}s, report "
              f"{report_s[-1]:5.2f}s, wall {wall:6.1f}s, peak {rss / 1024:6.0f} MB", flush=True)
    print(f"median of {REPEAT}: outcomes {statistics.median(outcomes_s):.2f}s, report "
          f"{statistics.median(report_s):.2f}s")


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    bench_pg.sh(["cargo", "build", "--release", "--bin", "churnflow"], cwd=REPO)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "release" / "churnflow"
    for customers in counts:
        bench(binary, customers)


if __name__ == "__main__":
    main()
