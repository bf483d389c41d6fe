#!/usr/bin/env bash
# config/paper.yaml's collection, timed end to end with RANDOM weights of gemma-2b and
# Llama-3-8B (tests/gpu/paper_random.yaml: a test fixture, never the default), on a GPU machine.
#
#   bash tests/gpu/paper_collection.sh            # SCOPE=shard: one train shard per model
#   SCOPE=none bash tests/gpu/paper_collection.sh # every shard of the unsteered condition
#   SCOPE=all  bash tests/gpu/paper_collection.sh # the whole collection (hours at 2 items/s)
#
# Needs: snakemake and the package's dependencies, shared/data (valuebench, paper-personas) in
# the checkout or beside it, and a tokenizer folder ($CKPT: SmolLM2's, the random models' vocab
# is larger, which changes nothing for timing). Writes the random checkpoints under
# results/random/ (gemma-2b 5 GB, Llama-3-8B 16 GB in bf16), runs the collect shards with
# --resources gpu=$NGPU (each job claims its own card: valuegraph.model.devices), and prints
# each shard's wall time (Snakemake's benchmark files) and the whole collection extrapolated
# from the shards that ran (shard seconds x collect jobs of that model).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
SCOPE=${SCOPE:-shard}
NGPU=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
CKPT=${CKPT:-results/models/smollm2/checkpoint}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
[ -d ../shared ] || { [ -d shared ] && ln -s "$PWD/shared" ../shared; } || true
CONFIGS=(--configfile config/paper.yaml tests/gpu/paper_random.yaml)

for arch in gemma-2b llama-3-8b; do
  [ -f "results/random/$arch/config.json" ] ||
    $PY -m valuegraph bench random-checkpoint --arch "$arch" --tokenizer "$CKPT" \
      --dtype bfloat16 --out "results/random/$arch"
done

case "$SCOPE" in
  shard) TARGETS=(results/gemma-2b-it/responses/train/none/group0.parquet
                  results/llama-3-8b-instruct/responses/train/none/group0.parquet) ;;
  none)  TARGETS=(--until collect --config 'conditions=["none"]') ;;
  all)   TARGETS=(--until collect) ;;
  *) echo "SCOPE must be shard, none or all"; exit 2 ;;
esac
start=$(date +%s)
snakemake "${CONFIGS[@]}" --cores "$((2 * ${NGPU:-1}))" --resources gpu="${NGPU:-1}" \
  --rerun-incomplete "${TARGETS[@]}"
echo "collection ($SCOPE) wall time: $(( $(date +%s) - start )) s"

$PY - "$SCOPE" "${CONFIGS[@]:1}" <<'PY'
import csv, glob, subprocess, sys
scope = sys.argv[1]
for model in ("gemma-2b-it", "llama-3-8b-instruct"):
    shards = {}
    for path in glob.glob(f"results/benchmarks/{model}/collect/*.tsv"):
        with open(path) as fh:
            shards[path] = float(next(csv.DictReader(fh, delimiter="\t"))["s"])
    if not shards:
        continue
    plan = subprocess.run(
        ["snakemake", "--configfile", *sys.argv[2:], "-n", "--quiet", "rules", "--forceall",
         "--until", "collect", f"results/{model}/responses/train.parquet",
         f"results/{model}/responses/test.parquet"],
        capture_output=True, text=True,
    ).stdout
    jobs = next((int(l.split()[1]) for l in plan.splitlines() if l.startswith("collect ")), None)
    mean = sum(shards.values()) / len(shards)
    print(f"{model}: {len(shards)} shard(s) ran, mean {mean:.0f} s per shard"
          + (f"; {jobs} collect jobs -> ~{mean * jobs / 3600:.1f} GPU-hours for the whole "
             "collection (one GPU)" if jobs else ""))
PY
