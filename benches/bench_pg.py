"""What the release-build benches on PostgreSQL share (benches/canary_cost.py,
benches/outcomes_cost.py): the server's address, a fresh database, churnflow run under
/usr/bin/time against it, and a task's entry in a run's JSON summary. Standard library only.

Environment: PGHOST/PGPORT/PGUSER (default 127.0.0.1, 5432, postgres).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PG = (
    os.environ.get("PGHOST", "127.0.0.1"),
    os.environ.get("PGPORT", "5432"),
    os.environ.get("PGUSER", "postgres"),
)


def sh(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw)


def psql(sql: str) -> None:
    host, port, user = PG
    sh(["psql", "-h", host, "-p", port, "-U", user, "-d", "postgres", "-qc", sql])


def fresh_database(name: str) -> None:
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(f"CREATE DATABASE {name}")


def churnflow(binary: Path, work: Path, database: str, args: list[str]) -> tuple[dict, float, int]:
    """Runs churnflow in `work` against `database` under /usr/bin/time; its JSON output (when
    `--json` is among `args`), wall seconds and max RSS (KB). Exits with churnflow's stderr when
    it fails."""
    host, port, user = PG
    env = dict(os.environ)
    env.update(
        CHURNFLOW_STATE_DIR=str(work / "state"),
        DATABASE_URL=f"postgres://{user}@{host}:{port}/{database}",
        CHURNFLOW_LOG="warn",
    )
    started = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss_kb=%M", str(binary), *args],
        cwd=work, env=env, text=True, capture_output=True,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"churnflow {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rss = int(re.findall(r"maxrss_kb=(\d+)", done.stderr)[-1])
    output = json.loads(done.stdout) if "--json" in args else {}
    return output, wall, rss


def task(summary: dict, name: str) -> dict:
    """The task `name` of a run's JSON summary."""
    for t in summary["tasks"]:
        if t["task"] == name:
            return t
    raise SystemExit(f"no task {name} in the run's summary")
