# Helpers and input functions only: config validation, paths, model records, shard lists.

import json
import math

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import valuegraph.config as vg_config
from valuegraph.errors import ConfigError

try:
    config = vg_config.validate(config, "config")
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
validate(config, "../schemas/config.schema.yaml")

R = config["results"]
SRC = f"{workflow.basedir}/src"
# The package's CLI; PYTHONPATH makes the checkout's code win in any env (conda or venv).
VG = f"PYTHONPATH={SRC} python -m valuegraph"
MODELS = vg_config.model_specs(config)
CONDITIONS = {vg_config.condition_id(c): c for c in config["conditions"]}
SPLITS = ["train", "test"]


wildcard_constraints:
    model="|".join(MODELS),
    split="train|test",
    condition="|".join(CONDITIONS),
    group=r"\d+",


def n_roles(split):
    n = config["roles"]["n_train" if split == "train" else "n_test"]
    return n + (1 if config["roles"]["baseline"] else 0)


def n_groups(split):
    return math.ceil(n_roles(split) / config["collect"]["roles_per_shard"])


def model_identity(wildcards):
    """The model record as JSON: a params value, so any change reruns only this model."""
    return json.dumps(MODELS[wildcards.model].to_dict(), sort_keys=True)


def items_source():
    """The items CSV: the configured local copy, or the pinned download."""
    return config["items"]["path"] or f"{R}/items/value_orientation.csv"


def local_copy_args():
    return " ".join(f"--local-copy {json.dumps(p)}" for p in config["items"]["local_copies"])


def items_args():
    items = config["items"]
    args = [
        f"--sha256 {items['sha256']}",
        f"--min-items {items['min_items']}",
        f"--train-fraction {items['train_fraction']}",
        f"--seed {config['seed']}",
    ]
    if items["values"]:
        args.append("--values " + " ".join(json.dumps(v) for v in items["values"]))
    return " ".join(args)


def collect_args(wildcards):
    c = config["collect"]
    args = [
        f"--mode {c['mode']}",
        f"--batch-size {c['batch_size']}",
        f"--max-new-tokens {c['max_new_tokens']}",
        f"--roles-per-shard {c['roles_per_shard']}",
        f"--train-sample-rate {config['items']['train_sample_rate']}",
        f"--seed {config['seed']}",
    ]
    if not c["prefix_cache"]:
        args.append("--no-prefix-cache")
    return " ".join(args)


def condition_spec(wildcards):
    return CONDITIONS[wildcards.condition]


def shards(wildcards):
    return [
        f"{R}/{wildcards.model}/responses/{wildcards.split}/{condition}/group{group:03d}.parquet"
        for condition in CONDITIONS
        for group in range(n_groups(wildcards.split))
    ]


def discovery_args():
    d = config["discovery"]
    return f"--alpha {d['alpha']} --indep-test {d['indep_test']} --postprocess {d['postprocess']}"


def model_outputs(model):
    return [
        *[f"{R}/{model}/matrix/{split}.parquet" for split in SPLITS],
        f"{R}/{model}/graph/pc.json",
        f"{R}/{model}/effects/role.csv",
        f"{R}/{model}/report/graph.png",
        f"{R}/{model}/report/summary.csv",
    ]


def final_outputs():
    return [path for model in MODELS for path in model_outputs(model)]
