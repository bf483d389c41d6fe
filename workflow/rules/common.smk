# Helpers and input functions only: config validation, paths, model records, shard lists.

import json
import math
import shlex
import sys
from pathlib import Path

# The workflow's own package, importable without installing it (how catalog workflows ship code).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod

import valuegraph.config as vg_config
from valuegraph.errors import ConfigError
from valuegraph.prompts import TEMPLATE_VERSION
from valuegraph.values import SCHWARTZ_ORDER
from valuegraph.workflow_locks import clear_stale_locks

# A run killed outright (SIGKILL, pre-emption) leaves Snakemake's directory locks behind; the
# main process clears them when no other run of this workflow is alive in this directory, so
# the same command carries on (see valuegraph.workflow_locks). Job processes never do.
if workflow.is_main_process:
    clear_stale_locks(Path(".snakemake"))

# Validated once, against workflow/schemas/config.schema.yaml (a link to the package's copy),
# with the schema's defaults filled in and one-line errors that name the key.
try:
    config = vg_config.validate(config, "config")
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

R = config["results"]


def valuegraph_function():
    """`valuegraph` in every rule's shell command, without a PATH lookup: a shell function that
    runs the package with the interpreter running this workflow (a venv's python wherever it
    lives, the same one inside SLURM jobs) or, under --sdm conda, the rule env's own python,
    with the workflow's src/ first on PYTHONPATH (the envs hold dependencies only)."""
    in_conda_env = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    python = "python" if in_conda_env else shlex.quote(sys.executable)
    src = shlex.quote(str(Path(workflow.basedir) / "src"))
    # braces doubled twice: once for this f-string, once for Snakemake's formatting of commands
    return f'valuegraph() {{{{ PYTHONPATH={src} {python} -m valuegraph "$@"; }}}}; '


shell.prefix(f"set -euo pipefail; {valuegraph_function()}")

# The model rules' conda env (--sdm conda only): the CUDA or the CPU build of torch.
MODEL_ENV = {"gpu": "../../envs/model.yaml", "cpu": "../../envs/model-cpu.yaml"}[
    config["model_env"]
]
MODELS = vg_config.model_specs(config)
# Model jobs: collect.threads threads each; a GPU each (resources gpu=1, SLURM --gpus=1) unless
# model_env is cpu, where they run side by side as --cores allows.
MODEL_THREADS = config["collect"]["threads"]
MODEL_GPUS = 0 if config["model_env"] == "cpu" else 1
# The SAE chain (sae_activations -> sae_train -> sae_record -> sae_candidates -> steering_select)
# gates every steered collect job and the analysis after it: among ready jobs, it goes first.
SAE_CHAIN_PRIORITY = 1
# sae:candidates expands to sae:c01..sae:cK here (the DAG is static; ids resolve at run time);
# a model with pinned features (models[].sae.features) has sae:<id> for each instead.
MODEL_CONDITIONS = {
    m: {vg_config.condition_id(c): c for c in specs}
    for m, specs in ((m, vg_config.model_conditions(config, m)) for m in MODELS)
}
CONDITIONS = {cid: c for conds in MODEL_CONDITIONS.values() for cid, c in conds.items()}
SPLITS = ["train", "test"]


wildcard_constraints:
    model="|".join(MODELS),
    split="train|test",
    condition="|".join(CONDITIONS),
    group=r"\d+",


def n_roles(split):
    n = config["roles"]["n_train" if split == "train" else "n_test"]
    return n + (1 if config["roles"]["baseline"] else 0)


def first_roles(split, n):
    """The baseline plus the first ``n`` personas of a split, counted (all when ``n`` is null)."""
    if n is None:
        return n_roles(split)
    return min(n_roles(split), n + (1 if config["roles"]["baseline"] else 0))


def collected_roles(split, condition="none"):
    """Roles (baseline included) that answer on a split under a condition: on train, the
    steering conditions reach only the first roles.n_train_steered roles (all when null)."""
    if split == "train" and condition != "none":
        return first_roles(split, config["roles"]["n_train_steered"])
    return n_roles(split)


def n_groups(split, condition="none"):
    return math.ceil(collected_roles(split, condition) / config["collect"]["roles_per_shard"])


def model_identity(wildcards):
    """The model's identity as JSON: its config entry (id, revision, dtype, template, ...), the
    prompt template version and, for a packaged GGUF, the package's fingerprint. A params
    value, so any change reruns only this model. Unset (null) keys are left out, so a new
    optional key does not rerun existing models. The SAE block is left out too: the SAE rules
    carry it in their own params, so changing the SAE reruns the SAE and the steered
    conditions, not the unsteered answers. So is models[].conditions (each condition has its
    own jobs)."""
    from valuegraph.errors import ModelUnavailableError
    from valuegraph.model_source import GGUF_SOURCES, cached_fingerprint

    entry = next(m for m in config["models"] if m["name"] == wildcards.model)
    spec = MODELS[wildcards.model]
    record = {**entry, **spec.to_dict(), "template_version": TEMPLATE_VERSION}
    record.pop("sae", None)
    record.pop("conditions", None)
    record.pop("params_b", None)  # scheduling only (resources), not the model's identity
    # A packaged GGUF's fingerprint (distribution, version, the file's sha256 from its RECORD):
    # upgrading the package or changing the file reruns the model. Read in this process's
    # environment, which the jobs share (same interpreter); under --sdm conda the jobs run in
    # MODEL_ENV instead, whose post-deploy script pins the package (part of the env's hash, so
    # the software-env trigger sees a change). prepare-model checks the job sees the
    # fingerprint planned here.
    in_conda_env = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    if spec.source in GGUF_SOURCES and not in_conda_env:
        try:
            record["fingerprint"] = cached_fingerprint(
                spec.source, spec.id, spec.gguf_file, spec.name
            )
        except ModelUnavailableError as exc:
            raise WorkflowError(str(exc)) from None
    return json.dumps({k: v for k, v in record.items() if v is not None}, sort_keys=True)


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
    if items["values"] and not SCHWARTZ:
        args.append("--values " + " ".join(json.dumps(v) for v in items["values"]))
    if SCHWARTZ:  # the 10 Schwartz values, PVQ40 items only
        args.append(
            "--questionnaire PVQ40 --values " + " ".join(json.dumps(v) for v in SCHWARTZ_ORDER)
        )
    return " ".join(args)


def schwartz_items_args():
    """The PVQ40 items of the 10 Schwartz values (items.schwartz_track), split as configured."""
    return (
        f"--sha256 {config['items']['sha256']} --min-items 2 --questionnaire PVQ40"
        f" --train-fraction {config['items']['train_fraction']} --seed {config['seed']} --values "
        + " ".join(json.dumps(v) for v in SCHWARTZ_ORDER)
    )


def schwartz_roles():
    """The Schwartz track's respondents (baseline included): items.schwartz_roles train roles."""
    return first_roles("train", config["items"]["schwartz_roles"])


def schwartz_collect_args(wildcards):
    """Collect settings for the Schwartz track: its train roles, every item, one shard."""
    c = config["collect"]
    n = schwartz_roles()
    limit = "" if n == n_roles("train") else f" --n-roles {n}"
    return (
        f"--mode {c['mode']} --batch-size {c['batch_size']} --max-new-tokens {c['max_new_tokens']}"
        f" --roles-per-shard {n}{limit} --train-sample-rate 1.0 --seed {config['seed']}"
        + ("" if c["prefix_cache"] else " --no-prefix-cache")
        + ("" if c["early_stop"] else " --no-early-stop")
        + ("" if c["parser"] == "strict" else f" --parser {c['parser']}")
    )


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
    if not c["early_stop"]:
        args.append("--no-early-stop")
    if c["parser"] != "strict":  # only when set, so strict runs keep their params
        args.append(f"--parser {c['parser']}")
    # only when they restrict something, so runs that do not use them keep their params
    if config["items"]["sampling"] != "per_role":
        args.append(f"--item-sampling {config['items']['sampling']}")
    if wildcards.split == "test" and config["items"]["test_sample_rate"] < 1:
        args.append(f"--test-sample-rate {config['items']['test_sample_rate']}")
    n = collected_roles(wildcards.split, wildcards.condition)
    if n < n_roles(wildcards.split):
        args.append(f"--n-roles {n}")
    return " ".join(args)


def condition_spec(wildcards):
    return CONDITIONS[wildcards.condition]


def split_conditions(model, split):
    """The condition ids collected for a model on a split: every condition of the model on
    test; on train, value-prompt conditions only when a stage reads them there (discovery.rows
    all pools them; selection, Table 1 and targeted steering read only SAE rows on train)."""
    return [
        c
        for c in MODEL_CONDITIONS[model]
        if split == "test" or CONDITION_KINDS[c] != "value_prompt" or TRAIN_VALUE_PROMPTS
    ]


def shards(wildcards):
    return [
        f"{R}/{wildcards.model}/responses/{wildcards.split}/{condition}/group{group:03d}.parquet"
        for condition in split_conditions(wildcards.model, wildcards.split)
        for group in range(n_groups(wildcards.split, condition))
    ]


# ---- discovery methods, comparisons, Schwartz track, planted benchmark (issue 5)
SCHWARTZ = config["items"].get("value_set") == "schwartz10"
# pc always runs: effects and the report read graph/pc.json.
METHODS = list(dict.fromkeys(["pc", *config["discovery"]["methods"]]))
BOOTSTRAP = config["discovery"]["bootstrap"]


def repo_path(path):
    """A config path: as given when it exists from the working directory, else in the repo."""
    p = Path(path)
    return str(p) if p.is_absolute() or p.exists() else f"{workflow.basedir}/{path}"


def reference_paths():
    return [repo_path(f"config/reference_graphs/{n}.tsv") for n in config["reference_graphs"]]


def simulated_graph(wildcards):
    """The SEM edge list of a simulated model (an input, so edits rerun it); else nothing."""
    spec = MODELS[wildcards.model]
    return [repo_path(spec.simulated["graph"])] if spec.source == "simulated" else []


def discover_args(wildcards):
    # No `threads` argument here: Snakemake cannot record params that depend on threads or
    # resources, so a change of alpha & co. would not rerun discovery (tests/test_reruns.py).
    d = config["discovery"]
    return (
        f"--alpha {d['alpha']} --indep-test {d['indep_test']} --postprocess {d['postprocess']}"
        f" --interventions {d['interventions']} --bootstrap {d['bootstrap']}"
        f" --threshold {d['stability_threshold']} --seed {config['seed']}"
        " --exclude n_answered n_unparsed --drop-missing"
        f" {discovery_rows_args(wildcards)}"
    )


def discovery_rows_args(wildcards):
    """Row selection for discovery (discovery.rows); see discovery_inputs."""
    rows = config["discovery"]["rows"]
    if rows == "all":
        return ""
    if rows == "unsteered" or not sae_conditions(wildcards.model):
        return "--conditions none"
    if pinned(wildcards.model):  # exactly none + the pinned features
        return " ".join(["--conditions none", *sae_conditions(wildcards.model)])
    # none + the features steering.selection kept (the same set Table 1 and side effects use)
    return f"--conditions none --selection {discovery_inputs(wildcards)['selection']}"


def discovery_inputs(wildcards):
    """The train matrix, plus the steering selection when discovery pools the kept features."""
    out = {"matrix": f"{R}/{wildcards.model}/matrix/train.parquet"}
    model = wildcards.model
    if config["discovery"]["rows"] == "paper" and sae_conditions(model) and not pinned(model):
        out["selection"] = f"{R}/{wildcards.model}/steering/selection.json"
    return out


def method_graphs(wildcards):
    return [f"{R}/{wildcards.model}/graph/{m}.json" for m in METHODS]


def compare_inputs(wildcards):
    """This model's graphs (one per method) and every other model's pc graph."""
    others = [f"{R}/{m}/graph/pc.json" for m in MODELS if m != wildcards.model]
    return method_graphs(wildcards) + others


def compare_names(wildcards):
    own = [f"{wildcards.model}/{m}" for m in METHODS]
    others = [f"{m}/pc" for m in MODELS if m != wildcards.model]
    return " ".join(json.dumps(n) for n in own + others)


def focus_names(wildcards):
    return " ".join(json.dumps(f"{wildcards.model}/{m}") for m in METHODS)


def bench_collect_args():
    """A collect shard's shape unless bench.collect.n_items fixes the items per role."""
    c = config["bench"]["collect"]
    if c["n_items"] is None:
        items = f"--rate {config['items']['train_sample_rate']} --seed {config['seed']}"
    else:
        items = f"--n-items {c['n_items']}"
    return (
        f"--n-roles {c['n_roles']} {items} --gen-items {c['gen_items']}"
        f" --max-new-tokens {c['max_new_tokens']}"
    )


def bench_args():
    b = config["bench"]
    return (
        f"--n-roles {' '.join(map(str, b['n_roles']))} --methods {' '.join(b['methods'])}"
        f" --modes {' '.join(b['modes'])} --score {b['score']} --seed {config['seed']}"
        f" --alpha {config['discovery']['alpha']}"
    )


def bench_design_args():
    """bench.design's grid, the run's value set, split and discovery settings."""
    b = config["bench"]["design"]
    d = config["discovery"]
    first = next(iter(MODELS))
    n_test_conditions = b["test_conditions"] or len(split_conditions(first, "test"))
    extra = b["train_role_extra"]
    if extra is None:
        extra = 50 if config["items"]["schwartz_track"] else 0
    args = [
        f"--budget {b['budget']} --prefix-cost {b['prefix_cost']}",
        f"--test-conditions {n_test_conditions} --train-role-extra {extra}",
        f"--rates {' '.join(map(str, b['rates']))} --k-train {' '.join(map(str, b['k_train']))}",
        f"--n-test {' '.join(map(str, b['n_test']))} --samplings {' '.join(b['samplings'])}",
        f"--scenarios {' '.join(b['scenarios'])} --replicates {b['replicates']}",
        f"--n-edges {b['n_edges']} --min-rows {b['min_rows']}",
        f"--alpha {d['alpha']} --indep-test {d['indep_test']} --postprocess {d['postprocess']}",
        f"--score {config['matrix']['score']} --seed {config['seed']}",
        f"--train-fraction {config['items']['train_fraction']}",
        f"--min-items {config['items']['min_items']}",
    ]
    if config["items"]["values"]:
        args.append("--values " + " ".join(json.dumps(v) for v in config["items"]["values"]))
    if b["reference"]:  # this config's own design: sampling, rate, roles, pooled train conditions
        pooled = config["discovery"]["rows"] != "unsteered"
        k_train = len(split_conditions(first, "train")) - 1 if pooled else 0
        items, roles = config["items"], config["roles"]
        design = f"{items['sampling']}:{items['train_sample_rate']}:{k_train}"
        args.append(f"--reference {design}:{roles['n_test']}:{roles['n_train']}")
    return " ".join(args)


def discovery_outputs(model):
    out = [f"{R}/{model}/graph/{m}.json" for m in METHODS]
    out += [f"{R}/{model}/graph/compare.csv", f"{R}/{model}/report/methods.csv"]
    if BOOTSTRAP:
        out += [f"{R}/{model}/report/edge_frequency_{m}.png" for m in METHODS]
    if SCHWARTZ:
        out += [f"{R}/{model}/report/circumplex.csv", f"{R}/{model}/report/circumplex.png"]
    if config["items"]["schwartz_track"]:
        out += [f"{R}/{model}/schwartz/circumplex.csv", f"{R}/{model}/schwartz/circumplex.png"]
    return out


def model_outputs(model):
    return [
        *[f"{R}/{model}/matrix/{split}.parquet" for split in SPLITS],
        f"{R}/{model}/graph/pc.json",
        f"{R}/{model}/effects/role.csv",
        f"{R}/{model}/effects/effects.png",
        f"{R}/{model}/report/graph.png",
        f"{R}/{model}/report/summary.csv",
        *discovery_outputs(model),
        *uncertainty_outputs(model),
        *steering_outputs(model),
    ]


def final_outputs():
    out = [path for model in MODELS for path in model_outputs(model)]
    out.append(f"{R}/compare/heatmap.png")
    if config["bench"]["discovery"]:
        out.append(f"{R}/bench/discovery.csv")
    if config["bench"]["collect"]["run"]:
        out.append(f"{R}/bench/collect.json")
    if config["bench"]["design"]["run"]:
        out.append(f"{R}/bench/design.csv")
    out += aggregate_outputs()
    out.append(f"{R}/report/summary.rst")
    return out


# ---- cross-model summary (issue 7)
def aggregate_outputs():
    return [f"{R}/compare/models.csv"]


def pc_graphs():
    return [f"{R}/{m}/graph/pc.json" for m in MODELS]


def side_effect_tables(wildcards):
    """Each model's steering side-effect table, where this config's run makes one."""
    wanted = set(final_outputs())
    return [p for p in (f"{R}/{m}/steering/side_effects.csv" for m in MODELS) if p in wanted]


def side_effect_args(wildcards, input):
    by_path = {f"{R}/{m}/steering/side_effects.csv": m for m in MODELS}
    return " ".join(json.dumps(f"{by_path[str(p)]}={p}") for p in input.side_effects)


# ---- SAE steering, train-only selection and the steering evaluation (issue 6)
STEER = config["steering"]
CONDITION_KINDS = {cid: vg_config.parse_condition(spec).kind for cid, spec in CONDITIONS.items()}
SAE_CONDITIONS = [c for c, k in CONDITION_KINDS.items() if k in ("sae", "sae_candidate")]
CANDIDATE_CONDITIONS = [c for c, k in CONDITION_KINDS.items() if k == "sae_candidate"]
STEERED = [c for c, k in CONDITION_KINDS.items() if k != "none"]
# value-prompt rows on train are read only by discovery.rows all (see split_conditions)
TRAIN_VALUE_PROMPTS = config["discovery"]["rows"] == "all"


def pinned(model):
    """True when the model steers with pinned features (models[].sae.features)."""
    return vg_config.pinned_features(config, model) is not None


def sae_conditions(model):
    """The model's SAE condition ids (pinned ``sae_<id>`` or ``sae_c<rank>`` / ``sae_<id>``)."""
    return [c for c in MODEL_CONDITIONS[model] if CONDITION_KINDS[c] in ("sae", "sae_candidate")]


def candidate_conditions(model):
    return [c for c in MODEL_CONDITIONS[model] if CONDITION_KINDS[c] == "sae_candidate"]


def sae_block(model):
    """The model's models[].sae block (or None)."""
    return next(m for m in config["models"] if m["name"] == model).get("sae")


def sae_coefficient(model):
    block = sae_block(model) or {}
    return block["coefficient"] if block.get("coefficient") is not None else STEER["coefficient"]


def definitions_file():
    if config["definitions"]["source"] == "valuebench":  # the definitions rule's TSV
        return f"{R}/definitions/value_definitions.tsv"
    path = STEER["definitions"]
    return repo_path(path) if path else str(vg_config.definitions_path(config))


def collect_steering_inputs(wildcards):
    """Extra collect inputs of a steered condition: the SAE record (+ candidates) or the
    value definitions."""
    kind = CONDITION_KINDS[wildcards.condition]
    out = {}
    if kind in ("sae", "sae_candidate"):
        out["sae"] = f"{R}/{wildcards.model}/sae/sae.json"
    if kind == "sae_candidate":
        out["candidates"] = f"{R}/{wildcards.model}/steering/candidates.json"
    if kind == "value_prompt":
        out["definitions"] = definitions_file()
    return out


def collect_steering_args(wildcards):
    inputs = collect_steering_inputs(wildcards)
    args = []
    if "sae" in inputs:
        args.append(
            f"--sae-record {inputs['sae']} --coefficient {sae_coefficient(wildcards.model)}"
        )
        args.append(f"--positions {STEER['positions']}")
    if "candidates" in inputs:
        args.append(f"--candidates {inputs['candidates']}")
    if "definitions" in inputs:
        args.append(f"--definitions {json.dumps(inputs['definitions'])}")
    return " ".join(args)


def sae_hook(wildcards):
    block = sae_block(wildcards.model)
    if not block or not block.get("hook"):
        raise WorkflowError(f"model '{wildcards.model}': sae.source train needs sae.hook")
    return block["hook"]


def sae_train_args():
    t = STEER["sae_training"]
    return (
        f"--expansion {t['expansion']} --l1-coefficient {t['l1_coefficient']} --lr {t['lr']}"
        f" --batch-size {t['batch_size']} --epochs {t['epochs']} --seed {config['seed']}"
    )


def sae_record_inputs(wildcards):
    """The model record, plus the trained SAE and its metrics for sae.source train."""
    out = {"model": f"{R}/models/{wildcards.model}/model.json"}
    block = sae_block(wildcards.model)
    if block and block["source"] == "train":
        out["trained"] = f"{R}/{wildcards.model}/sae/trained"
        out["metrics"] = f"{R}/{wildcards.model}/sae/metrics.json"
    return out


def sae_record_args(wildcards):
    block = sae_block(wildcards.model)
    if block is None:
        raise WorkflowError(f"model '{wildcards.model}' has no models[].sae block")
    # pinned features are not part of the SAE's identity (changing them reruns no SAE rule)
    block = {k: v for k, v in block.items() if k != "features"}
    args = f"--sae {json.dumps(json.dumps(block, sort_keys=True))}"
    if block["source"] == "train":
        args += f" --trained {R}/{wildcards.model}/sae/trained"
        args += f" --metrics {R}/{wildcards.model}/sae/metrics.json"
    return args


def condition_specs_arg(wildcards):
    conditions = MODEL_CONDITIONS[wildcards.model]
    return " ".join(json.dumps(conditions[c]) for c in conditions)


def steering_candidates(wildcards):
    if not candidate_conditions(wildcards.model):
        return []
    return [f"{R}/{wildcards.model}/steering/candidates.json"]


def candidates_arg(wildcards, input):
    return f"--candidates {input.candidates}" if candidate_conditions(wildcards.model) else ""


def steering_selection(wildcards):
    """The selection a model's steering evaluation reads (none with pinned features: every
    pinned feature is kept)."""
    if pinned(wildcards.model):
        return []
    return [f"{R}/{wildcards.model}/steering/selection.json"]


def selection_arg(wildcards, input):
    return f"--selection {input.selection}" if input.selection else ""


def selection_args():
    s = STEER["selection"]
    return (
        f"--threshold {STEER['change_threshold']} --min-role-share {s['min_role_share']}"
        f" --min-sign-consistency {s['min_sign_consistency']} --max-features {s['max_features']}"
    )


def steering_eval_args(wildcards):
    e = STEER["evaluation"]
    args = [
        f"--threshold {STEER['change_threshold']}",
        f"--n-bootstrap {e['n_bootstrap']} --n-permutations {e['n_permutations']}",
        f"--seed {config['seed']} --model-name {wildcards.model}",
    ]
    if e["baseline_role"]:
        args.append(f"--baseline-role {shlex.quote(e['baseline_role'])}")
    if e["sae_role"]:
        args.append(f"--sae-role {shlex.quote(e['sae_role'])}")
    if e["table1_values"]:
        args.append("--table1-values " + " ".join(shlex.quote(v) for v in e["table1_values"]))
    return " ".join(args)


def steering_enabled(model):
    """Steering outputs exist when a condition steers (and an SAE exists for sae conditions)."""
    steered = [c for c in MODEL_CONDITIONS[model] if CONDITION_KINDS[c] != "none"]
    return bool(steered) and (not sae_conditions(model) or sae_block(model) is not None)


def steering_outputs(model):
    if not steering_enabled(model):
        return []
    names = ["table1.csv", "side_effects.csv", "targeted.csv"]
    names += ["table1.png", "side_effects.png", "targeted.png"]
    names += [] if pinned(model) else ["selection.json"]
    out = [f"{R}/{model}/steering/{n}" for n in names]
    if sae_conditions(model):
        out.append(f"{R}/{model}/sae/sae.csv")
    return out


# ---- resources (issue 11.7)
# mem_mb and runtime (minutes) of the model rules, from the config alone (the DAG cannot load a
# model): valuegraph.resources sizes them from the model's parameters (models[].params_b, else
# a table of known ids), its dtype's bytes per parameter and the collection size. Both grow
# with the attempt, so a retry (profiles/slurm: retries: 1) asks for twice as much.
import valuegraph.resources as vg_resources


def resource_model(wildcards):
    """The job's model: its {model} wildcard, else the first configured one (bench_collect)."""
    return wildcards.get("model") or next(iter(MODELS))


def model_mem_mb(rule):
    """resources: mem_mb of a model rule, grown with the attempt."""

    def mem_mb(wildcards, attempt):
        kind = CONDITION_KINDS.get(wildcards.get("condition"), "none")
        steered = kind in ("sae", "sae_candidate")
        return vg_resources.mem_mb(rule, config, resource_model(wildcards), attempt, steered)

    return mem_mb


def model_runtime(rule):
    """resources: runtime (minutes) of a model rule, grown with the attempt."""

    def runtime(wildcards, attempt):
        split = wildcards.get("split") or wildcards.get("part") or "train"
        return vg_resources.runtime(rule, config, resource_model(wildcards), attempt, split)

    return runtime


# ---- paper mode: the authors' persona files (roles.source file), ValueBench's definitions
def roles_inputs(wildcards):
    """The two persona files of roles.source file; nothing for generated personas."""
    if config["roles"]["source"] != "file":
        return {}
    return {f"{split}_file": f"{R}/roles/source/{split}.json" for split in SPLITS}


def roles_file_args(wildcards, input):
    if config["roles"]["source"] != "file":
        return ""
    files = config["roles"]["files"]
    return " ".join(
        f"--{split}-file {input[f'{split}_file']} --{split}-sha256 {files[split]['sha256']}"
        for split in SPLITS
    )


def roles_local_copy_args():
    return " ".join(f"--local-copy {json.dumps(p)}" for p in config["roles"]["local_copies"])


def fallback_definitions():
    """steering.definitions, else the packaged paraphrases (valuebench: values the sheet lacks)."""
    path = STEER["definitions"]
    return repo_path(path) if path else str(vg_config.definitions_path(config))


def required_definitions():
    """The values of this config's value_prompt conditions, which must get a definition."""
    prompted = {
        vg_config.parse_condition(spec).args[0]
        for cid, spec in CONDITIONS.items()
        if CONDITION_KINDS[cid] == "value_prompt"
    }
    return " ".join(json.dumps(v) for v in sorted(prompted))


# ---- uncertainty, nulls and the report's opening summary
UNCERTAINTY = config["uncertainty"]


def uncertainty_outputs(model):
    """A model's uncertainty tables: stable edges vs the structure null (when bootstrapped),
    the graph on centred scores, persona effect sizes."""
    out = [f"{R}/{model}/graph/centring.csv", f"{R}/{model}/report/persona.csv"]
    if BOOTSTRAP:
        out.append(f"{R}/{model}/graph/stability.csv")
    return out


def circumplex_table(model):
    """The circumplex table the summary reads: the Schwartz track's, else the main track's."""
    if config["items"]["schwartz_track"]:
        return f"{R}/{model}/schwartz/circumplex.csv"
    return f"{R}/{model}/report/circumplex.csv" if SCHWARTZ else None


def report_summary_inputs(wildcards):
    """Every model's uncertainty tables (those this config makes) and the cross-model table."""
    per_model = {
        "graphs": lambda m: f"{R}/{m}/graph/pc.json",
        "stability": lambda m: f"{R}/{m}/graph/stability.csv" if BOOTSTRAP else None,
        "compare": lambda m: f"{R}/{m}/graph/compare.csv",
        "side_effects": lambda m: (
            f"{R}/{m}/steering/side_effects.csv" if steering_enabled(m) else None
        ),
        "circumplex": circumplex_table,
        "centring": lambda m: f"{R}/{m}/graph/centring.csv",
        "persona": lambda m: f"{R}/{m}/report/persona.csv",
    }
    out = {k: [p for p in map(f, MODELS) if p] for k, f in per_model.items()}
    out["models_table"] = f"{R}/compare/models.csv"
    return out


def report_summary_args(wildcards, input):
    keys = ("graphs", "stability", "compare", "side_effects", "circumplex", "centring", "persona")
    args = [named_tables(k.replace("_", "-"), input[k]) for k in keys]
    return " ".join([f"--models-table {input.models_table}", *filter(None, args)])


def named_tables(option, paths):
    """--<option> NAME=PATH for tables under results/<model>/ (NAME: the model's folder)."""
    pairs = [f"{Path(p).relative_to(R).parts[0]}={p}" for p in paths]
    return f"--{option} " + " ".join(json.dumps(p) for p in pairs) if pairs else ""


def circumplex_args():
    """Centred scoring and the permutation p of the circumplex fit."""
    return (
        f"--score {config['matrix']['score']} --seed {config['seed']}"
        f" --permutations {UNCERTAINTY['circumplex_permutations']}"
    )


def stability_tables(wildcards):
    return [f"{R}/{m}/graph/stability.csv" for m in MODELS] if BOOTSTRAP else []


def persona_tables(wildcards):
    return [f"{R}/{m}/report/persona.csv" for m in MODELS]
