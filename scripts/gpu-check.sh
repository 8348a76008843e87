#!/usr/bin/env bash
# The GPU check: everything the CUDA path should prove, in one command on a lent GPU.
#
#   scripts/gpu-check.sh build            # here, where Rust is: the CUDA binaries and the data they need
#   scripts/gpu-check.sh run [SECONDS]    # there (nvcc, PyTorch and ncu, no Rust), at most SECONDS (480)
#   scripts/gpu-check.sh run --dry        # here, on the CPU: the same steps, tiny, to check the script
#
# `build` compiles `dip` and the GPU tests (tests/gpu.rs) with `--features cuda` (nvcc from PyPI's
# CUDA 13.0 wheels, as .ci/cuda-check.sh), strips and compresses them, and copies the standard
# images the steps read, all into target/gpu-check/ (about 25 MB; name it in the device tool's
# `carry`). With a checkpoint of an unfinished GPU fit (results/gpu/ckpt/: the ckpt.* files an
# earlier run gave back; git ignores them) it is taken along too, and the fit resumes.
#
# `run` writes into $OUT (the device tool's output folder; else results/gpu/out), in at most
# 8 files: gpu-check.log (every step, timed), bench.tar (results/bench/*cuda*.json: ours and
# PyTorch's on the same GPU, 256² and 512²), records.tar (the records of the fits it finished)
# and ckpt.part* (the unfinished fit's checkpoint, in parts under 16 MiB). Steps:
#   1. the GPU and the libraries;
#   2. the GPU tests: each op, the whole net with every gradient, and seeded fits on CUDA
#      against the CPU kernels (DIP_REQUIRE_GPU=1: no GPU is a failure);
#   3. dip bench --device cuda beside benches/torch_reference.py --device cuda, 256² and 512²;
#   4. where an iteration's time goes: PyTorch's profiler and Nsight Compute's summary of ours;
#   5. Table 1 at the paper preset on CUDA, resumed, until the time is up (then Ctrl-C: a checkpoint).
set -uo pipefail
cd "$(dirname "$0")/.."
here=target/gpu-check

build() {
  set -e
  # shellcheck source=/dev/null
  source .ci/cuda-env.sh
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda}
  # candle links the CUDA libraries (cudarc's `dynamic-linking`), and the driver's libcuda is
  # not here: link against empty stand-ins with the real libraries' sonames, their symbols
  # left for the loader to find there, in the real ones (the driver's and PyTorch's).
  local stubs=$CARGO_TARGET_DIR/cuda-stubs
  mkdir -p "$stubs"
  echo 'void dip_cuda_stub(void) {}' >"$stubs/stub.c"
  for lib in cuda:1 cublas:13 cublasLt:13 curand:10 nvrtc:13; do
    gcc -shared -fPIC -o "$stubs/lib${lib%:*}.so" -Wl,-soname,"lib${lib%:*}.so.${lib#*:}" "$stubs/stub.c"
  done
  export RUSTFLAGS="-L $stubs -C link-arg=-Wl,--no-as-needed -C link-arg=-Wl,--unresolved-symbols=ignore-in-object-files"
  cargo build --release --features cuda --bin dip
  local tests
  tests=$(cargo test --release --features cuda --test gpu --no-run --message-format=json \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu" and m.get("executable"):
        print(m["executable"])')
  rm -rf "$here" && mkdir -p "$here/bin" "$here/data"
  cp "$CARGO_TARGET_DIR/release/dip" "$here/bin/dip"
  cp "$tests" "$here/bin/gpu-tests"
  strip "$here/bin/dip" "$here/bin/gpu-tests"
  xz -T0 -6 "$here/bin/dip" "$here/bin/gpu-tests"
  gather_data "${DIP_DATA:-../shared/data}"
  if ls results/gpu/ckpt/ckpt.part* >/dev/null 2>&1; then cp results/gpu/ckpt/ckpt.* "$here/"; fi
  du -sh "$here"
}

# The images the steps read: Table 1's, and F16 for the seeded fit test.
gather_data() {
  local from=$1
  for f in denoising-cbm3d9/image_F16_512rgb.png inpainting-table1 reference-outputs/inpainting-table1; do
    mkdir -p "$here/data/$(dirname "$f")"
    cp -r "$from/$f" "$here/data/$(dirname "$f")/"
  done
}

log() { echo "[$((SECONDS))s] $*" | tee -a "$OUT/gpu-check.log"; }

# Run a step's command with a time limit, its output into the log.
step() {
  local limit=$1
  shift
  log "\$ $*"
  timeout -s INT "$limit" "$@" 2>&1 | tee -a "$OUT/gpu-check.log"
  local rc=${PIPESTATUS[0]}
  log "exit $rc"
  return "$rc"
}

run() {
  local budget=480 dry=0
  case "${1:-}" in
    --dry) dry=1 budget=120 ;;
    "") ;;
    *) budget=$1 ;;
  esac
  OUT=${OUT:-results/gpu/out}
  mkdir -p "$OUT"
  local bin=$here/run-bin device=cuda size_small=256 size_large=512 python=python3 iterations=10
  mkdir -p "$bin"
  if [ "$dry" = 1 ]; then
    # Here, on the CPU: the binaries of this checkout, tiny sizes.
    device=cpu size_small=64 size_large=64 iterations=2
    cp target/release/dip "$bin/dip"
    python=${DIP_TORCH_PYTHON:-python3}
    export DIP_DATA=${DIP_DATA:-../shared/data} DIP_GPU_TESTS_ON_CPU=1
  else
    for f in "$here"/bin/*.xz; do xz -dc "$f" >"$bin/$(basename "$f" .xz)"; done
    chmod +x "$bin"/*
    export DIP_DATA=$here/data DIP_REQUIRE_GPU=1
    # candle's CUDA libraries (cuBLAS, cuRAND) from PyTorch's installation.
    local nv
    nv=$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))' 2>/dev/null)
    export LD_LIBRARY_PATH=${nv:+$nv:}${LD_LIBRARY_PATH:-}
  fi
  local deadline=$((SECONDS + budget))
  log "gpu-check: budget ${budget} s, device $device, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

  # 1. The GPU and the libraries.
  if [ "$dry" = 0 ]; then
    step 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    step 10 bash -c "ldd $bin/dip | grep -E 'cuda|cublas|curand' || true"
  fi

  # 2. The GPU tests.
  if [ "$dry" = 0 ]; then
    step 240 "$bin/gpu-tests" --test-threads 1 --nocapture
  else
    step 600 cargo test --release --test gpu -- --test-threads 1 --skip a_seeded_fit
  fi

  # 3. Ours beside PyTorch on the same device, interleaved.
  mkdir -p "$OUT/bench"
  for size in $size_small $size_large; do
    step 120 "$bin/dip" bench --device "$device" --size "$size" --channels 3 --iterations "$iterations" \
      --record "$OUT/bench/dip-$device-$size-c3.json"
    step 120 "$python" benches/torch_reference.py --device "$device" --size "$size" --channels 3 \
      --iterations "$iterations" --record "$OUT/bench/pytorch-$device-$size-c3.json"
  done
  tar -cf "$OUT/bench.tar" -C "$OUT" bench && rm -r "$OUT/bench"

  # 4. Where the time goes.
  step 90 "$python" benches/torch_reference.py --device "$device" --size "$size_large" --channels 3 --profile
  if [ "$dry" = 0 ] && command -v ncu >/dev/null; then
    step 120 ncu --print-summary per-kernel --launch-skip 2000 --launch-count 600 \
      "$bin/dip" bench --device cuda --size "$size_large" --channels 3 --iterations 2 --warmup 1
  fi

  # 5. Table 1 at the paper preset, resumed, until the time is up.
  local results=$here/results
  mkdir -p "$results"
  if ls "$here"/*.part* >/dev/null 2>&1; then
    local name
    name=$(cat "$here"/ckpt.name 2>/dev/null || echo house)
    mkdir -p "$results/paper/table1"
    cat "$here"/ckpt.part* >"$results/paper/table1/$name.ckpt.safetensors"
  fi
  local left=$((deadline - SECONDS - 20))
  local preset=paper extra=()
  if [ "$dry" = 1 ]; then preset=tiny extra=(--iterations 30); left=20; fi
  if [ "$left" -gt 30 ] || [ "$dry" = 1 ]; then
    step "$left" "$bin/dip" reproduce --preset "$preset" --only table1 --device "$device" --resume \
      --results "$results" -q "${extra[@]}"
  fi
  (cd "$results" && find . -name '*.json' -o -name '*.png' | tar -cf "$OLDPWD/$OUT/records.tar" -T -)
  local ckpt
  ckpt=$(find "$results" -name '*.ckpt.safetensors' | head -1)
  if [ -n "$ckpt" ]; then
    split -b 15M -d "$ckpt" "$OUT/ckpt.part"
    basename "$ckpt" .ckpt.safetensors >"$OUT/ckpt.name"
  fi
  log "gpu-check: done; back in $OUT: $(ls "$OUT" | tr '\n' ' ')"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
