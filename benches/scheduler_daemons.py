#!/usr/bin/env python3
"""Fires claimed by 1, 2 and 3 `churnflow schedule` daemons sharing one PostgreSQL run store.

For each daemon count this script starts the daemons 0.7 s apart in one working directory (its
own database), with two DAGs in Europe/Berlin: `minutely` (`0 * * * * *`) and `tensecond`
(`*/10 * * * * *`), both noop, plus `persecond` (`* * * * * *`). With 3 daemons, the second one is
killed with SIGKILL half-way (a daemon dying mid-way must leave no fire unclaimed). After the
window every daemon gets SIGTERM, and the script counts, for each DAG, the fire times that fell
inside the window (from one second after the last daemon started to one second before the stop)
and the runs the run store holds for them: every fire must be exactly one run.

Usage: benches/scheduler_daemons.py [SECONDS]   (default 200, as in issue 10's campaign)
Environment:
  CHURNFLOW  the binary (default: $CARGO_TARGET_DIR/release/churnflow, built first)
  PGHOST/PGPORT/PGUSER  the PostgreSQL server (default 127.0.0.1, 5432, postgres); the databases
            churnflow_daemons_1..3 are dropped and recreated
Only the standard library is needed.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
PG = {k: os.environ.get(k, d) for k, d in [("PGHOST", "127.0.0.1"), ("PGPORT", "5432"), ("PGUSER", "postgres")]}

DAGS = """
[dags.minutely]
schedule = "0 * * * * *"
timezone = "Europe/Berlin"
catchup = "all"
max_active_runs = 8
[dags.minutely.tasks.t]
kind = "noop"

[dags.tensecond]
schedule = "*/10 * * * * *"
timezone = "Europe/Berlin"
catchup = "all"
max_active_runs = 8
[dags.tensecond.tasks.t]
kind = "noop"

[dags.persecond]
schedule = "* * * * * *"
timezone = "Europe/Berlin"
catchup = "all"
max_active_runs = 8
[dags.persecond.tasks.t]
kind = "noop"
"""

PERIOD = {"minutely": 60, "tensecond": 10, "persecond": 1}


def binary() -> str:
    if "CHURNFLOW" in os.environ:
        return os.environ["CHURNFLOW"]
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "release" / "churnflow")


def psql(database: str, sql: str) -> str:
    url = f"postgres://{PG['PGUSER']}@{PG['PGHOST']}:{PG['PGPORT']}/{database}"
    return subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout


def fires_in(dag: str, start: float, end: float) -> list[str]:
    """Logical dates (UTC instants) of the fires of `dag` in [start, end]."""
    period = PERIOD[dag]
    first = int(start) + (-int(start)) % period
    return [
        dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for t in range(first, int(end) + 1, period)
    ]


def trial(churnflow: str, daemons: int, seconds: float) -> dict:
    database = f"churnflow_daemons_{daemons}"
    psql("postgres", f"DROP DATABASE IF EXISTS {database}")
    psql("postgres", f"CREATE DATABASE {database}")
    work = Path(tempfile.mkdtemp(prefix=f"daemons{daemons}-"))
    (work / "dags.toml").write_text(DAGS)
    env = dict(os.environ, DATABASE_URL=f"postgres://{PG['PGUSER']}@{PG['PGHOST']}:{PG['PGPORT']}/{database}",
               CHURNFLOW_STATE_DIR=str(work / "state"), CHURNFLOW_LOG="warn", CHURNFLOW_LEASE="5s")
    procs = []
    for i in range(daemons):
        log = open(work / f"daemon{i}.log", "w")
        procs.append(subprocess.Popen([churnflow, "schedule"], cwd=work, env=env, stdout=log, stderr=log))
        time.sleep(0.7)
    started = time.time()
    killed = None
    deadline = started + seconds
    while time.time() < deadline:
        if daemons == 3 and killed is None and time.time() > started + seconds / 2:
            procs[1].send_signal(signal.SIGKILL)
            killed = round(time.time() - started, 1)
        time.sleep(0.2)
    stopped = time.time()
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)
    # Give a killed daemon's claimed runs their sweep: the survivors ran them before stopping, or
    # they are queued for the next start; count runs either way, and those not finished.
    rows = psql(database, "SELECT dag, logical_date, state FROM dag_runs")
    runs: dict[tuple[str, str], list[str]] = {}
    for line in rows.splitlines():
        dag, date, state = line.split("|")
        runs.setdefault((dag, date), []).append(state)
    result = {"daemons": daemons, "window_s": round(stopped - started, 1), "killed_at_s": killed}
    for dag in PERIOD:
        expected = fires_in(dag, started + 1, stopped - 1)
        became = [d for d in expected if (dag, d) in runs]
        doubled = [d for (g, d), states in runs.items() if g == dag and len(states) > 1]
        unfinished = [d for d in expected if any(s not in ("success",) for s in runs.get((dag, d), []))]
        result[dag] = {"fires": len(expected), "runs": len(became), "doubled": len(doubled),
                       "not_success": len(unfinished)}
    psql("postgres", f"DROP DATABASE IF EXISTS {database}")
    return result


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 200.0
    churnflow = binary()
    print(f"{'daemons':>7} {'window':>7}  " + "  ".join(f"{d + ' runs/fires':>22}" for d in PERIOD) + "  note")
    for daemons in (1, 2, 3):
        r = trial(churnflow, daemons, seconds)
        cells = "  ".join(f"{r[d]['runs']:>10}/{r[d]['fires']:<11}" for d in PERIOD)
        extra = [f"{d}: {r[d]['doubled']} doubled, {r[d]['not_success']} not success"
                 for d in PERIOD if r[d]["doubled"] or r[d]["not_success"]]
        if r["killed_at_s"] is not None:
            extra.insert(0, f"daemon 2 SIGKILLed at {r['killed_at_s']} s")
        print(f"{daemons:>7} {r['window_s']:>6}s  {cells}  {'; '.join(extra)}", flush=True)
        print(json.dumps(r), file=sys.stderr)


if __name__ == "__main__":
    main()
