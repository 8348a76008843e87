#!/usr/bin/env bash
# Rust (`dip bench` kernels) against PyTorch on this machine, interleaved A B A B.
# Usage: benches/compare.sh [PYTHON] [ROUNDS]; needs `cargo build --release` first.
# Prints one line per run: label, median seconds per iteration, peak RSS.
set -euo pipefail
PY=${1:-python3}
ROUNDS=${2:-2}
B="target/release/dip bench"
run() { # label command...
    local label=$1; shift
    local out; out=$("$@" 2>&1)
    printf '%-28s %s s/it  %s\n' "$label" "$(tail -1 <<<"$out" | awk '{print $NF}')" \
        "$(grep 'peak RSS' <<<"$out" | awk '{print $3, $4}')"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    run "rust fast 256 c3"   $B --size 256 --channels 3 --iterations 4
    run "torch 256 c3"       "$PY" benches/torch_reference.py --size 256 --channels 3 --iterations 4
    run "rust fast 256 c1"   $B --size 256 --channels 1 --iterations 4
    run "torch 256 c1"       "$PY" benches/torch_reference.py --size 256 --channels 1 --iterations 4
    run "rust fast 512 c3"   $B --size 512 --channels 3 --iterations 2
    run "torch 512 c3"       "$PY" benches/torch_reference.py --size 512 --channels 3 --iterations 2
    run "rust candle 256 c3" $B --size 256 --channels 3 --iterations 2 --kernels candle
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
