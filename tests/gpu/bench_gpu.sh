#!/usr/bin/env bash
# The GPU measurements of the collect benchmark, in one go (at most ~9 minutes on an H200), for a
# session with a GPU lease:  bash tests/gpu/bench_gpu.sh
#
# Random weights of the real architectures (gemma-2b, Llama-3-8B; `--random-arch`, no
# download), at a collect shard's shape (25 roles x ~55 train-like items; `bench collect`'s
# defaults):
#   1. gemma-2b bf16: log-prob batched vs batched + prefix cache (target >= 1,500 items/s and
#      cached > uncached), generation with early stopping (target >= 100 items/s), unbatched
#   2. gemma-2b fp32: exactness, cached vs uncached max |d log p| <= 1e-4, answers equal
#   3. Llama-3-8B bf16: log-prob cached vs uncached (target >= 400 items/s), generation
#   4. Llama-3-8B fp32: exactness
#   5. fp32 generation: batched + early-stopped answers == unbatched full-length answers
# Each run writes a record under benchmarks/collect/ (commit them; then `valuegraph bench table
# --records benchmarks --readme README.md`); the records and a log are also copied to $OUT.
# config/paper.yaml's whole collection with random weights: tests/gpu/paper_collection.sh.
#
# Device tool: carry the tokenizer files results/models/smollm2/checkpoint/{tokenizer.json,
# tokenizer_config.json,chat_template.jinja} (or set CKPT); shared/data/valuebench travels with
# the checkout. The GPU image lacks polars and jsonschema: carry them as wheels in .whl/ and
# the script installs them into /tmp/site. Nothing else is installed: the package runs from src/.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
DEST=${OUT:-results/bench/gpu}
RECORDS=${RECORDS:-benchmarks}
STEP_S=${STEP_S:-150}
mkdir -p "$DEST" results/items results/roles
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
CKPT=${CKPT:-results/models/smollm2/checkpoint}
VB=${VB:-}
for c in shared/data/valuebench ../shared/data/valuebench; do
  [ -z "$VB" ] && [ -f "$c/value_orientation.csv" ] && VB=$c
done
[ -n "$VB" ] || { echo "no shared/data/valuebench/value_orientation.csv"; exit 2; }

if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
$PY - <<'PY'
import importlib, sys
missing = [m for m in ("torch", "transformers", "polars", "jsonschema", "yaml", "tqdm", "faker") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages {missing}: carry them as wheels (see the device README)")
import torch, transformers
print("torch", torch.__version__, "transformers", transformers.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
[ -f "$CKPT/tokenizer.json" ] || { echo "no tokenizer at $CKPT"; exit 2; }

# the default config's train split and roles (25 train roles incl. the baseline: one shard)
$PY -m valuegraph items --path "$VB/value_orientation.csv" --out-train results/items/train.parquet \
  --out-test results/items/test.parquet --out-values results/items/values.json
$PY -m valuegraph roles --n-train 24 --n-test 6 --out-train results/roles/train.json \
  --out-test results/roles/test.json

before=$(ls "$RECORDS"/collect/*.json 2>/dev/null | wc -l)
bench() {  # a failed or timed-out step is reported and the next one runs
  echo "== bench collect $*"
  timeout "$STEP_S" $PY -m valuegraph bench collect --model-path "$CKPT" --record-dir "$RECORDS" \
    --out "$DEST/last.json" "$@" || echo "!! step failed or timed out (rc $?): $*"
}
bench --random-arch gemma-2b --dtype bfloat16 --batch-size 64 --unbatched-items 4 \
  --modes logprob_batched logprob_cached logprob_unbatched
bench --random-arch gemma-2b --dtype bfloat16 --n-roles 8 --gen-items 64 --gen-batch-size 64 \
  --modes generate
bench --random-arch gemma-2b --dtype float32 --n-roles 8 --batch-size 64 \
  --modes logprob_batched logprob_cached
bench --random-arch llama-3-8b --dtype bfloat16 --batch-size 64 --modes logprob_batched logprob_cached
bench --random-arch llama-3-8b --dtype bfloat16 --n-roles 4 --gen-items 64 --gen-batch-size 64 \
  --modes generate
bench --random-arch llama-3-8b --dtype float32 --n-roles 4 --batch-size 32 \
  --modes logprob_batched logprob_cached
echo "== fp32 generation: batched + early stop vs unbatched full length"
timeout "$STEP_S" $PY tests/gpu/generate_equal.py "$CKPT" 16 | tee "$DEST/generate_equal.json" ||
  echo "!! generate_equal failed or timed out"

ls -t "$RECORDS"/collect/*.json | head -n $(( $(ls "$RECORDS"/collect/*.json | wc -l) - before )) |
  while read -r f; do cp "$f" "$DEST/"; done
$PY -m valuegraph bench table --records "$RECORDS" | tail -n 20
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || true
