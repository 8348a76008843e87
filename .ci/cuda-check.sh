#!/usr/bin/env bash
# The CUDA build compiles, on a machine without a GPU: candle-kernels compiles its
# kernels to PTX with nvcc at build time, and cudarc asks nvcc for the toolkit's
# version. nvcc comes from PyPI (.ci/cuda-env.sh).
# Usage: .ci/cuda-check.sh   (env: CUDA_VENV, CARGO_TARGET_DIR, CUDA_COMPUTE_CAP)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=/dev/null
source .ci/cuda-env.sh
nvcc --version | tail -1

# A separate target folder: the cuda feature changes candle itself.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda}
# The library, the binary, the tests, the examples and benches: everything type-checks and
# the build scripts run (candle-kernels' PTX really is compiled). `DIP_CUDA_BUILD_LIB=1`
# also compiles the library to machine code (about as long again, so CI skips it).
# Linking a binary needs libcuda, which only a driver provides.
# cudnn (cuDNN's convolutions through cudarc's bindings) implies cuda: one check covers both.
cargo check --all-targets --features cuda,cudnn
if [ "${DIP_CUDA_BUILD_LIB:-0}" = 1 ]; then
  cargo build --lib --features cuda,cudnn
fi
echo "CUDA build: ok"
