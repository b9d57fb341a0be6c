#!/usr/bin/env bash
# Cold release build cost that each candidate adds: a throw-away crate whose only dependency is the
# candidate, built with `cargo build --release -j 1` into a fresh target directory (so every
# transitive dependency is compiled); compare with the no-dependency baseline line. Niced, one job,
# so a build in the main workspace keeps a core. Because the niced wall time depends on whatever else
# runs, the figure to read is cpu_s (user + sys of cargo and rustc): with -j 1 on an idle machine the
# wall time is about the same.
# Also prints how many crates the candidate pulls in (normal dependencies, itself included).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
variant() { # name, dependency line (empty for the baseline)
    mkdir -p "$work/$1/src"
    printf '[package]\nname = "v_%s"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n[dependencies]\n%s\n' \
        "${1//-/_}" "$2" >"$work/$1/Cargo.toml"
    echo 'fn main() {}' >"$work/$1/src/main.rs"
    (cd "$work/$1" && cargo generate-lockfile -q && cargo fetch -q)
    local t0 t1 crates cpu
    t0=$(date +%s.%N)
    cpu=$( { TIMEFORMAT='%U %S'; time (cd "$work/$1" && RUSTC_BOOTSTRAP=perpetual \
        CARGO_TARGET_DIR="$work/$1/target" nice -n 19 cargo build --release -j 1 -q); } 2>&1 | tail -1)
    t1=$(date +%s.%N)
    crates=$(cd "$work/$1" && cargo tree -e normal --prefix none | sed 's/ (\*)//' | sort -u | wc -l)
    printf '%s\tcpu_s=%.1f\twall_s=%.1f\tcrates=%d\tload=%s\n' "$1" "$(echo "$cpu" | awk '{print $1 + $2}')" \
        "$(echo "$t1 - $t0" | bc)" "$((crates - 1))" "$(cut -d' ' -f1 /proc/loadavg)"
}
variant baseline ''
variant forust-ml 'forust-ml = "=0.8.0"'
variant perpetual 'perpetual = "=2.3.0"'
