#!/usr/bin/env bash
# Rust (`dip bench`) against PyTorch (`benches/torch_reference.py`) on this machine,
# interleaved A B A B so that both see the same machine, at the four sizes the project
# runs: 64², 128² and 256² with 3 channels (the crops of the presets), 512² with 1 (Table 1's net).
#
# Usage: benches/compare.sh [PYTHON] [ROUNDS] [RECORD_DIR]
#   needs `cargo build --release` first and a PYTHON with torch installed.
#   With RECORD_DIR, the last round's runs are written there as JSON records
#   (results/bench/ is what the book's benchmark table reads).
# Prints one line per run: label, median seconds per iteration, peak RSS; then, per size,
# the median over the rounds of each side and their ratio (ours / PyTorch).
set -euo pipefail
PY=${1:-python3}
ROUNDS=${2:-2}
RECORD=${3:-}
B="target/release/dip bench"
T="$PY benches/torch_reference.py"
run() { # label record-name command...
    local label=$1 name=$2; shift 2
    local extra=()
    if [ -n "$RECORD" ] && [ "$round" = "$ROUNDS" ]; then
        mkdir -p "$RECORD"
        extra=(--record "$RECORD/$name.json")
    fi
    local out; out=$("$@" "${extra[@]}" 2>&1) || { echo "$label failed:"; echo "$out"; exit 1; }
    local secs; secs=$(tail -1 <<<"$out" | awk '{print $NF}')
    printf '%-28s %s s/it  %s\n' "$label" "$secs" "$(grep 'peak RSS' <<<"$out" | awk '{print $3, $4}')"
    results+=("$label $secs")
}
results=()
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
    run "rust 64 c3"    dip-cpu-64-c3      $B --size 64 --channels 3 --iterations 10 --warmup 2
    run "torch 64 c3"   pytorch-cpu-64-c3  $T --size 64 --channels 3 --iterations 10 --warmup 2
    run "rust 128 c3"   dip-cpu-128-c3     $B --size 128 --channels 3 --iterations 5
    run "torch 128 c3"  pytorch-cpu-128-c3 $T --size 128 --channels 3 --iterations 5
    run "rust 256 c3"   dip-cpu-256-c3     $B --size 256 --channels 3 --iterations 5
    run "torch 256 c3"  pytorch-cpu-256-c3 $T --size 256 --channels 3 --iterations 5
    run "rust 512 c1"   dip-cpu-512-c1     $B --size 512 --channels 1 --iterations 3
    run "torch 512 c1"  pytorch-cpu-512-c1 $T --size 512 --channels 1 --iterations 3
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Per size: the median over the rounds of each side, and the ratio.
printf '%s\n' "${results[@]}" | awk '
    { key = $2 " " $3; t[$1, key, ++n[$1, key]] = $4; keys[key] = 1 }
    function median(side, key,   m, i, j, v, tmp) {
        m = n[side, key]
        for (i = 1; i <= m; i++) v[i] = t[side, key, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { tmp = v[i]; v[i] = v[j]; v[j] = tmp }
        return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    END {
        for (key in keys) {
            r = median("rust", key); p = median("torch", key)
            printf "median of the rounds, %-8s ours %.4f s, PyTorch %.4f s, ratio %.2f\n", key, r, p, r / p
        }
    }' | sort -t' ' -k5,5n
