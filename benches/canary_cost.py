#!/usr/bin/env python3
"""What a canary adds to the nightly run: the score stage with a shadow only against the score stage
with the same shadow also served as a canary to a share of customers, on demo data.

For each customer count (default 100000 and 1000000), in one run on one machine, release build,
PostgreSQL on loopback:

1. `churnflow demo-data --customers N --date 2026-11-24` into a fresh store and database;
2. the run of 2026-07-27 (v1 becomes champion), then the run of 2026-08-26 with a gate no candidate
   meets (v2 is registered and rejected: it is the shadow, pinned as `shadow = 2`);
3. the score stage and everything after it again (`run --from-task score`), alternating
   a dags.toml with the shadow only and one with `canary = { share = SHARE }` added, REPEAT times
   each; prints each attempt's score-stage seconds, the whole re-run's wall time and peak memory
   (max RSS), and the medians and their difference.

Usage: benches/canary_cost.py [CUSTOMERS ...]
Environment:
  CARGO_TARGET_DIR  where cargo builds (the script runs `cargo build --release` first)
  BENCH_DIR         data (default ~/churnflow-bench/canary)
  SHARE             the canary's share (default 0.05); REPEAT (default 3)
  PGHOST/PGPORT/PGUSER  the PostgreSQL server (default 127.0.0.1, 5432, postgres); the database
                    churnflow_bench_canary is dropped and recreated
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
SHARE = float(os.environ.get("SHARE", "0.05"))
REPEAT = int(os.environ.get("REPEAT", "3"))
DATABASE = "churnflow_bench_canary"


def bench(binary: Path, customers: int) -> None:
    work = Path(os.environ.get("BENCH_DIR", Path.home() / "churnflow-bench" / "canary")) / str(customers)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bench_pg.fresh_database(DATABASE)
    base = (REPO / "dags.toml").read_text()
    shadow = base.replace('shadow = "newest_candidate"', "shadow = 2")
    assert shadow != base
    canary = shadow.replace("shadow = 2", f'shadow = 2\ncanary = {{ share = {SHARE}, salt = "bench" }}')
    strict = shadow.replace("min_roc_auc = 0.70", "min_roc_auc = 0.70, max_equalized_odds_difference = 0.0")
    for name, text in [("dags.toml", base), ("shadow.toml", shadow), ("canary.toml", canary), ("strict.toml", strict)]:
        (work / name).write_text(text)
    print(f"\n== {customers:,} customers (canary share {SHARE}) ==", flush=True)
    started = time.monotonic()
    bench_pg.churnflow(binary, work, DATABASE, ["demo-data", "--customers", str(customers), "--date", "2026-11-24"])
    print(f"demo data: {time.monotonic() - started:.1f}s", flush=True)
    bench_pg.churnflow(binary, work, DATABASE, ["run", "nightly_churn", "--date", "2026-07-27", "--no-email", "--json"])
    bench_pg.churnflow(binary, work, DATABASE, ["--dags", "strict.toml", "run", "nightly_churn", "--date", "2026-08-26", "--no-email", "--json"])
    figures: dict[str, list[tuple[float, float, int]]] = {"shadow only": [], "shadow + canary": []}
    for attempt in range(REPEAT):
        for label, dags in [("shadow only", "shadow.toml"), ("shadow + canary", "canary.toml")]:
            summary, wall, rss = bench_pg.churnflow(binary, work, DATABASE, [
                "--dags", dags, "run", "nightly_churn", "--date", "2026-08-26",
                "--from-task", "score", "--no-email", "--json",
            ])
            score = float(bench_pg.task(summary, "score")["duration_seconds"])
            figures[label].append((score, wall, rss))
            # The report reads the served view (the canary's rows for its customers).
            report = float(bench_pg.task(summary, "report")["duration_seconds"])
            print(f"{label:16} attempt {attempt + 1}: score stage {score:7.2f}s, report "
                  f"{report:6.2f}s, re-run wall {wall:7.2f}s, peak {rss / 1024:7.0f} MB", flush=True)
    medians = {
        label: tuple(statistics.median(x[i] for x in rows) for i in range(3))
        for label, rows in figures.items()
    }
    for label, (score, wall, rss) in medians.items():
        print(f"median {label:16}: score stage {score:7.2f}s, re-run wall {wall:7.2f}s, peak {rss / 1024:7.0f} MB")
    (s0, w0, r0), (s1, w1, r1) = medians["shadow only"], medians["shadow + canary"]
    print(f"the canary adds {s1 - s0:+.2f}s to the score stage ({(s1 / s0 - 1) * 100:+.1f}%), "
          f"{w1 - w0:+.2f}s to the re-run's wall time, {(r1 - r0) / 1024:+.0f} MB to its peak memory")


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    bench_pg.sh(["cargo", "build", "--release", "--quiet"], cwd=REPO)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "release" / "churnflow"
    for customers in counts:
        bench(binary, customers)


if __name__ == "__main__":
    main()
