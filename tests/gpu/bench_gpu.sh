#!/usr/bin/env bash
# One-shot GPU run of the collect benchmark (issue 4), for an H100/H200 lease.
#
#   From the repo root on the GPU machine:  bash tests/gpu/bench_gpu.sh
#   device tool: carry results/items/test.parquet, results/roles/test.json and the tokenizer files
#   results/models/smollm2/checkpoint/{tokenizer.json,tokenizer_config.json,chat_template.jinja};
#   the image there lacks polars and jsonschema: carry them as wheels in .whl (device README) and
#   the script installs them into /tmp/site. About 5 minutes.
#
# Runs `valuegraph bench collect` on a randomly initialised model of gemma-2b's architecture in
# bf16 (speed only: tokens/s and MFU against the card's dense bf16 peak), and on the real default
# model too when its materialised checkpoint is present. Installs nothing: the package runs
# from src/ on PYTHONPATH (the image's Python is 3.12, torch 2.11, transformers 5.17).
# Results land in $OUT (or results/bench/gpu) as JSON; the tables are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
DEST=${OUT:-results/bench/gpu}
mkdir -p "$DEST"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
CKPT=${CKPT:-results/models/smollm2/checkpoint}   # tokenizer.json, tokenizer_config.json, chat_template.jinja at least
ITEMS=${ITEMS:-results/items/test.parquet}
[ -f "$ITEMS" ] || ITEMS=${VALUEGRAPH_ITEMS:-../shared/data/valuebench/value_orientation.csv}
[ -f "$ITEMS" ] || { echo "no items: carry results/items/test.parquet (or set ITEMS=)"; exit 2; }

if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # the GPU image runs another Python: no install
$PY - <<'PY'
import importlib, sys
missing = [m for m in ("torch", "transformers", "polars", "jsonschema", "yaml", "tqdm") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages {missing}: carry them as wheels (see the device README)")
import torch, transformers
print("torch", torch.__version__, "transformers", transformers.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
[ -f "$CKPT/tokenizer.json" ] || { echo "no tokenizer at $CKPT: carry $CKPT/{tokenizer.json,tokenizer_config.json,chat_template.jinja}"; exit 2; }

# roles: the workflow's test roles if present, else two fixed personas
ROLES=results/roles/test.json
if [ ! -f "$ROLES" ]; then
  ROLES="$DEST/roles.json"
  echo '[{"role_id":"none","mini_trait":""},{"role_id":"test-000","mini_trait":"Gender: female; Job: Merchant navy officer, MBTI: INFJ"}]' > "$ROLES"
fi

# 1. speed: random gemma-2b architecture, bf16; 4 roles x 64 items (generate: 16 per role, batch 8)
$PY -m valuegraph bench collect --model-path "$CKPT" --random-arch gemma-2b --dtype bfloat16 \
  --items "$ITEMS" --roles "$ROLES" --n-roles 4 --n-items 64 --gen-items 16 \
  --batch-size 64 --gen-batch-size 8 --max-new-tokens 100 --out "$DEST/collect_gemma2b_random.json"

# 2. the real default model, fp32 and bf16, when its weights were carried
if [ -f "$CKPT/model.safetensors" ]; then
  for dt in float32 bfloat16; do
    $PY -m valuegraph bench collect --model-path "$CKPT" --dtype $dt --items "$ITEMS" --roles "$ROLES" \
      --n-roles 4 --n-items 64 --gen-items 16 --batch-size 64 --out "$DEST/collect_smollm2_$dt.json"
  done
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || true
