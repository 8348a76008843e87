#!/usr/bin/env bash
# The CUDA build compiles, on a machine without a GPU: candle-kernels compiles its
# kernels to PTX with nvcc at build time, and cudarc asks nvcc for the toolkit's
# version. nvcc comes from PyPI's CUDA 13.0 wheels (pinned: cudarc 0.19 rejects
# newer toolkits, and the GPUs we run on have a CUDA 13.0 driver).
# Usage: .ci/cuda-check.sh   (env: CUDA_VENV, CARGO_TARGET_DIR, CUDA_COMPUTE_CAP)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${CUDA_VENV:-target/cuda-venv}
if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    (apt-get update && apt-get install -y python3-venv) >/dev/null 2>&1
    python3 -m venv "$venv"
  }
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
  'nvidia-cuda-runtime==13.0.*' 'nvidia-cuda-cccl==13.0.*'
cuda=$("$venv/bin/python" -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
export PATH="$cuda/bin:$PATH" CUDA_ROOT="$cuda" CUDA_PATH="$cuda"
# No GPU to ask for its compute capability: the H100/H200 we run on are 9.0.
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
nvcc --version | tail -1

# A separate target folder: the cuda feature changes candle itself.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda}
# The library, the binary, the tests, the examples and benches: everything type-checks and
# the build scripts run (candle-kernels' PTX really is compiled). `DIP_CUDA_BUILD_LIB=1`
# also compiles the library to machine code (about as long again, so CI skips it).
# Linking a binary needs libcuda, which only a driver provides.
cargo check --all-targets --features cuda
if [ "${DIP_CUDA_BUILD_LIB:-0}" = 1 ]; then
  cargo build --lib --features cuda
fi
echo "CUDA build: ok"
