#!/bin/sh
# churnflow's nightly run without reasons at 1M on the benchmark's data: a fresh database, state and
# outputs each run (the snapshots stay).
set -e
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS churnflow_fb_cf" -c "CREATE DATABASE churnflow_fb_cf" >/dev/null 2>&1
rm -rf /tmp/fb/cf-state /tmp/fb/cf-store/models /tmp/fb/cf-store/exports /tmp/fb/cf-store/reports
exec env DATABASE_URL=postgres://postgres@127.0.0.1:5432/churnflow_fb_cf CHURNFLOW_STATE_DIR=/tmp/fb/cf-state CHURNFLOW_STORE_ROOT=/tmp/fb/cf-store CHURNFLOW_DAGS=${DAGS:?the no-reasons dags.toml: see README} $HOME/.cache/churnflow-release/release/churnflow run nightly_churn --date 2024-04-01 --no-email
