#!/bin/sh
# The Python reference without --contrib at 1M, the same setup: a fresh database each run.
set -e
DATA=$HOME/churnflow-bench/data/n1000000
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS churnflow_fb_py" -c "CREATE DATABASE churnflow_fb_py" >/dev/null 2>&1
rm -rf /tmp/fb/py-out && mkdir -p /tmp/fb/py-out
exec $HOME/.venvs/py_baseline/bin/python /work/shared/bench/py_baseline/pipeline.py --train-dir $DATA/train --score-dir $DATA/score --out /tmp/fb/py-out --models logreg,lightgbm --dsn "host=127.0.0.1 port=5432 user=postgres dbname=churnflow_fb_py"
