#!/usr/bin/env bash
# The CUDA toolkit's compiler for building here, without a GPU: nvcc from PyPI's CUDA 13.0
# wheels (pinned: cudarc 0.19 rejects newer toolkits, and the GPUs we run on have a CUDA
# 13.0 driver), in a venv (CUDA_VENV, default target/cuda-venv). Sourced by
# .ci/cuda-check.sh and scripts/gpu-check.sh; sets PATH, CUDA_ROOT, CUDA_PATH, CUDA_COMPUTE_CAP.
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
