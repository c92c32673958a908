#!/usr/bin/env bash
# The whole GPU check in one call on a lent machine (no network, no TensorFlow), writing under $OUT.
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine, from the repository root
#   QUICK=1 OUT=/tmp/gpu bash benchmarks/gpu_check.sh   # a rehearsal at toy sizes on any machine
#   STEPS="tests pipeline" bash benchmarks/gpu_check.sh  # only some steps (default: all of
#       consistency tests yeast training pipeline torch)
#
# Needs two ignored folders carried along:
#   .whl/  wheels the machine lacks (keras, namex, optree) and scikit-learn as here, see docs/benchmarks.md
#   .gpu/  yeast_toy.npz (the yeast toy crops, packed) and consistency/ (from
#          `python benchmarks/backend_consistency.py make .gpu/consistency`)
#
# Phase 1 (correctness, JAX and PyTorch side by side): features of the same weights
# against the CPU's, bfloat16 training, and the estimator's tests; beside them, the
# paper's yeast run (64 px, 30 epochs, three seeds) keeps each seed's source encoder
# under $OUT for scoring on the CPU (benchmarks/gpu_yeast_seeds.py). Phase 2 (speed, one
# thing at a time): training samples/s on one constant batch, then whole epochs on real
# pairs from memory and from a store.
set -u
out=${OUT:-/tmp/skpci-gpu-check}
mkdir -p "$out"
if [ -d .whl ] && [ "${QUICK:-0}" != 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=3 SKPCI_DATA_DIR=/tmp/skpci-data
python3 - <<'EOF' || exit 1
import numpy as np, tifffile, pathlib
packed = np.load(".gpu/yeast_toy.npz")
root = pathlib.Path("/tmp/skpci-data/yeast_toy")
for name, plane in zip(packed["names"], packed["planes"]):
    path = root / str(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, plane)
print(f"unpacked {len(packed['names'])} yeast planes")
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
KERAS_BACKEND=jax python3 -c "import jax, torch, keras, sklearn, numpy; print('jax', jax.__version__, jax.devices(), '| torch', torch.__version__,
torch.cuda.is_available(), '| keras', keras.__version__, '| sklearn', sklearn.__version__, '| numpy', numpy.__version__)"

if [ "${QUICK:-0}" = 1 ]; then
    size=16; tests="tests/test_network.py"; batches="16,32"; pipeline="--limit 256 --input-size 16 --batch-sizes 32"
    yeast="--seeds 1 --epochs 1 --input-size 16"; matmul=512; features_only="--no-training"
else
    size=64; tests="tests/featurizer/test_estimator.py tests/pretrained/test_directory.py tests/test_network.py"
    batches="64,256,512"; pipeline="--batch-sizes 64,256"; yeast="--seeds 3"; matmul=8192; features_only=""
fi
xdist=$(python3 -c "import xdist" 2>/dev/null && echo "-n 3")
all_steps="consistency tests yeast training pipeline torch"
steps=" ${STEPS:-$all_steps} "
for name in $steps; do
    [[ " $all_steps " == *" $name "* ]] || { echo "unknown step '$name' in STEPS; steps: $all_steps"; exit 1; }
done
wants() { [[ $steps == *" $1 "* ]]; }

# step NAME SECONDS BACKEND COMMAND...: run with a time limit, log to $out/NAME.log, print its end.
step() {
    local name=$1 limit=$2 backend=$3
    shift 3
    local started=$SECONDS
    KERAS_BACKEND=$backend timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    echo "=== $name: rc=$rc in $((SECONDS - started)) s (limit $limit s)"
    grep -v -E "^(I|W|E)0000|^WARNING: All log|^To enable|it/s\]|batch/s\]" "$out/$name.log" | tail -n "${TAIL:-18}"
}

# Phase 1, in parallel: correctness does not need the GPU to itself.
for backend in jax torch; do
    wants consistency && (step "consistency_$backend" 100 $backend python3 benchmarks/backend_consistency.py check .gpu/consistency \
        --json "$out/results_$backend.json" $features_only
     SKPCI_FULL_FLOAT32=1 step "consistency_${backend}_tf32_off" 50 $backend \
        python3 benchmarks/backend_consistency.py check .gpu/consistency --no-training) > "$out/phase1_$backend.txt" &
    wants tests && (TAIL=12 step "tests_$backend" 170 $backend python3 -m pytest -v -p no:cacheprovider $xdist $tests \
        --durations=5) > "$out/phase1_tests_$backend.txt" &
done
wants yeast && (step yeast_seeds_jax 180 jax python3 benchmarks/gpu_yeast_seeds.py train --data "$SKPCI_DATA_DIR" $yeast \
    --output "$out") > "$out/phase1_yeast.txt" &
wait
cat "$out"/phase1_*.txt 2>/dev/null

# Phase 2, one at a time: speed.
wants training && TAIL=14 step training_jax 150 jax python3 benchmarks/gpu_training.py --input-size $size --batch-sizes $batches \
    --batches 30 --matmul-size $matmul --json "$out/results_jax.json"
wants pipeline && step pipeline_jax 150 jax python3 benchmarks/gpu_pipeline.py $pipeline --json "$out/results_jax.json"
wants torch && TAIL=12 step training_torch 90 torch python3 benchmarks/gpu_training.py --input-size $size --batch-sizes 64,256 \
    --batches 20 --steps-per-execution 1 --cudnn-benchmark --matmul-size $matmul --json "$out/results_torch.json"
cd "$out" && tar czf logs.tgz ./*.log && rm -f ./*.log ./phase1_*.txt 2>/dev/null
