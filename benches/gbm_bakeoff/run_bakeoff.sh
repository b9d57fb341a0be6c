#!/usr/bin/env bash
# Rerun the whole bake-off: data, CSV, build, every candidate in its own process, LightGBM reference.
# Usage: run_bakeoff.sh [ROWS...]   (default: 100000 1000000). Results go to stdout, one line a run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-$HOME/.venvs/py_baseline/bin/python}
DATA=${DATA:-$HOME/bakeoff_data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/bakeoff-target}
# perpetual <= 2.3.0 declares a (never used) nightly feature; let that one crate build on stable.
(cd "$here" && RUSTC_BOOTSTRAP=perpetual nice -n 19 cargo build --release -j 1 -q)
bin=$CARGO_TARGET_DIR/release/gbm_bakeoff
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
for n in "${sizes[@]}"; do
    dir=$DATA/n$n
    [ -f "$dir/labels.parquet" ] || "$PY" /work/shared/bench/py_baseline/gen_data.py --rows "$n" \
        --out "$dir" --snapshot-date 2024-01-01 >&2
    [ -f "$dir.csv" ] || "$PY" "$here/prep_csv.py" --data "$dir" --out "$dir.csv" >&2
    for c in forust forust-es perpetual perpetual-cat; do
        echo "load=$(cut -d' ' -f1 /proc/loadavg) $("$bin" --candidate "$c" --csv "$dir.csv" \
            --threads 2 --contrib-budget-s 60 2>/dev/null)"
    done
    echo "load=$(cut -d' ' -f1 /proc/loadavg) $("$PY" "$here/lightgbm_ref.py" --csv "$dir.csv" --threads 2)"
done
