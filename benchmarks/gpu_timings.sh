#!/usr/bin/env bash
# The GPU measurements of docs/results.md (4 December: one H200), in one go, each step under a time limit:
#   issue 19 - one image-text matching iteration (MTT and TESLA) at the `cpu` split and at the papers' scale (NFNet-L0, 224 px);
#   issue 17 - every video recipe at `--budget cpu` on the generated moving digits, 1 and 5 clips per class (JSON tag "gpu").
# Needs a CUDA device and the `video` and `text` extras; PYTHON names the interpreter (default python3).
# Usage: bash benchmarks/gpu_timings.sh [seconds in all, default 500]
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
start=$(date +%s)
budget=${1:-500}
left() { echo $(( budget - ($(date +%s) - start) )); }
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" || exit 1
for spec in "nfnet_l0 none 768 0 224 100" "efficientnet_lite0 default 384 3,0 64 100" "nfnet_l0 none 768 0 224 200" \
            "efficientnet_lite0 default 384 3,0 64 200"; do
  set -- $spec
  [ "$(left)" -lt $(( budget * 4 / 5 )) ] && break  # the iterations take at most a fifth of the time
  echo "== image-text matching: $1 at $5 px, blocks $4, $6 pairs"
  timeout 90 "$py" benchmarks/image_text_matching_speed.py --device cuda --encoder "$1" --weights "$2" --text-dim "$3" \
    --blocks "$4" --image-size "$5" --pairs "$6" --repeats 3 --name "image_text_matching_speed_cuda_$1_$5px_p$6"
done
for ipc in 1 5; do
  for m in dm sd-dm mtt sd-mtt; do
    l=$(left); [ "$l" -lt 40 ] && { echo "skipped video $m at $ipc clips per class: ${l} s left"; continue; }
    echo "== video $m, $ipc clips per class"
    timeout $(( l - 10 )) "$py" benchmarks/video_moving_digits.py --methods "$m" --ipc "$ipc" --tag gpu
  done
done
echo "done in $(( $(date +%s) - start )) s"
