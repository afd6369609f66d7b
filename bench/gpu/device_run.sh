#!/usr/bin/env bash
# One prepared run for a lent GPU machine (see the device tool's README):
# Odeon's wgpu backend (Vulkan) against the CPU backend, and PyTorch CUDA
# fp32 (no TF32), in the same run. Build the binary here first:
#   cargo build --release -p odeon-bench && mkdir -p .benchbin && cp target/release/odeon-bench .benchbin/
# and carry `.gl` (Vulkan loader packages, as the device README describes)
# and `.benchbin`. Results land in $OUT/gpu-bench.jsonl.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
MATMUL_NUM_THREADS=4 ./.benchbin/odeon-bench --bench gpu --budget-ms 3000 2>&1 | tee "$OUT/gpu-bench.jsonl"
PYTHONUNBUFFERED=1 python3 bench/gpu/torch_bench.py 2>&1 | tee -a "$OUT/gpu-bench.jsonl"
