#!/usr/bin/env bash
# Every benchmark on a GPU machine, sized for one GPU and ~1 hour, each one's output in its own file.
#
#   benchmarks/run_gpu.sh [OUT_DIR]      (default: benchmarks/results/gpu-<UTC time>)
#
# Environment: PYTHON (default: python), SPLIT_LISTS (AudioSetZSL split lists for dag_build.py; skipped when
# unset), AVCA_GZSL_REPO (a checkout of AVCA-GZSL for avca_throughput.py; skipped when unset), TCAF_GZSL_REPO (a
# checkout of TCAF-GZSL: tcaf_epoch.py also times their epoch; einops needed), WORKDIR (where
# audio_train_memory.py writes its 10 GB cache; default: OUT_DIR), DEVICE (default cuda).
# A benchmark that fails is reported and the others still run; the exit status counts the failures.
set -uo pipefail

cd "$(dirname "$0")/.."
out=${1:-benchmarks/results/gpu-$(date -u +%Y%m%dT%H%M%SZ)}
py=${PYTHON:-python}
device=${DEVICE:-cuda}
workdir=${WORKDIR:-$out}
mkdir -p "$out" "$workdir"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$py" -c "import sys, torch; sys.exit(0 if torch.device('$device').type != 'cuda' or torch.cuda.is_available() else 1)"; then
    echo "no CUDA device visible to torch; run with DEVICE=cpu for a CPU baseline" >&2
    exit 1
fi
{ nvidia-smi || true; "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  nproc; free -g; } >"$out/machine.txt" 2>&1

failures=0
run() {
    local name=$1
    shift
    echo "== $name: $py $*"
    local t0=$SECONDS
    if "$py" "$@" >"$out/$name.txt" 2>&1; then
        echo "   done in $((SECONDS - t0)) s -> $out/$name.txt ($(grep -m1 '^VERDICT' "$out/$name.txt" || echo 'no verdict'))"
    else
        echo "   FAILED (exit $?) after $((SECONDS - t0)) s -> $out/$name.txt"
        failures=$((failures + 1))
    fi
}

run train_throughput benchmarks/train_throughput.py --device "$device" --epochs 10 --repeats 5
run train_throughput_bf16 benchmarks/train_throughput.py --device "$device" --epochs 10 --repeats 5 --skip-load \
    --precision bfloat16
run avca_epoch benchmarks/avca_epoch.py --device "$device" --epochs 3
if [ -n "${TCAF_GZSL_REPO:-}" ]; then
    run tcaf_epoch benchmarks/tcaf_epoch.py --device "$device" --epochs 3 --tcaf-repo "$TCAF_GZSL_REPO" \
        --workdir "$workdir/tcaf_epoch"
else
    run tcaf_epoch benchmarks/tcaf_epoch.py --device "$device" --epochs 3
fi
if [ -n "${AVCA_GZSL_REPO:-}" ]; then
    run avca_throughput benchmarks/avca_throughput.py --device "$device" --avca-repo "$AVCA_GZSL_REPO" --rounds 3 \
        --eval-per-class 20 --workdir "$workdir"
else
    echo "== avca_throughput: skipped (set AVCA_GZSL_REPO to a checkout of AVCA-GZSL)"
fi
run audio_train_memory benchmarks/audio_train_memory.py --device "$device" --batches 20 --repeats 3 \
    --memory-fraction 0.1 --workdir "$workdir"
run extract_throughput benchmarks/extract_throughput.py --device "$device" --clips 16 --crop-size 224 \
    --workers "$(nproc)" --repeats 3
run extract_throughput_bf16 benchmarks/extract_throughput.py --device "$device" --clips 16 --crop-size 224 \
    --workers "$(nproc)" --repeats 3 --autocast bf16 --processes
run predict_per_clip benchmarks/predict_per_clip.py --device "$device" --clips 16 --threads "$(nproc)" \
    --repeats 3
for autocast in bf16 fp16; do
    run "autocast_$autocast" benchmarks/autocast_effect.py --device "$device" --autocast "$autocast" --clips 8
done
run pipeline_cost benchmarks/pipeline_cost.py --device "$device" --cores "$(nproc)" --gpus 1 --check 16
if [ -n "${SPLIT_LISTS:-}" ]; then
    run dag_build benchmarks/dag_build.py --device "$device" --split-lists "$SPLIT_LISTS" --repeats 3
else
    echo "== dag_build: skipped (set SPLIT_LISTS to the AudioSetZSL split lists)"
fi
echo "outputs in $out; $failures failure(s)"
exit "$failures"
