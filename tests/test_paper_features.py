"""Paper mode: pinned SAE features (models[].sae.features), the max-over-marker candidate
ranking, the SAE-arm persona by name, Table 1's shown values and value prompts collected on the
test split only."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import yaml
from conftest import REPO, make_workdir, tiny_config

import valuegraph.config as vg_config
from valuegraph.cli.steering import resolve_role
from valuegraph.errors import ConfigError, DataError
from valuegraph.evaluation.deltas import ScoreMatrix
from valuegraph.model.sae import rank_candidates, reduce_marker

HOOK = "blocks.0.hook_resid_post"
PINNED = [7, 3]


def two_model_config(**overrides) -> dict:
    """Model 'pin' steers with pinned features, model 'rank' with ranked + selected candidates."""
    settings = {
        "conditions": ["none", "sae:candidates", "value_prompt:Empathy:+"],
        "steering": {"n_candidates": 2},
        **overrides,
    }
    config = tiny_config(REPO / "tests", REPO / "tests", **settings)  # never loaded: dry runs
    config["items"]["path"] = str(REPO / "README.md")
    base = config["models"][0]
    config["models"] = [
        {**base, "name": "pin", "sae": {"source": "train", "hook": HOOK, "features": PINNED}},
        {**base, "name": "rank", "sae": {"source": "train", "hook": HOOK}},
    ]
    return config


def dry_run(work, *targets: str) -> str:
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(work), "--configfile", str(work / "config.yaml"),
        "-n", "--forceall", "--printshellcmds", "--cores", "1", *targets,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def jobs(output: str) -> list[tuple[str, str]]:
    """(rule name, job block) of each planned job."""
    blocks = re.split(r"^(?:local)?rule (\w+):", output, flags=re.M)[1:]
    return list(zip(blocks[::2], blocks[1::2], strict=True))


def collected(output: str) -> set[tuple[str, str, str]]:
    """(model, split, condition) of the planned collect shards."""
    found = re.findall(r"results/(\w+)/responses/(train|test)/(\w+)/group\d+\.parquet", output)
    return set(found)


def groups(config: dict, split: str) -> int:
    n = config["roles"]["n_train" if split == "train" else "n_test"] + 1  # + the no-role
    return math.ceil(n / config["collect"]["roles_per_shard"])


# --------------------------------------------------------------------------- pinned features


def test_pinned_features_replace_the_sae_conditions_of_that_model_only():
    config = vg_config.validate(two_model_config())
    assert vg_config.pinned_features(config, "pin") == PINNED
    assert vg_config.pinned_features(config, "rank") is None
    assert vg_config.model_conditions(config, "pin") == [
        "none",
        "sae:7",
        "sae:3",
        "value_prompt:Empathy:+",
    ]
    assert vg_config.model_conditions(config, "rank") == [
        "none",
        "sae:c01",
        "sae:c02",
        "value_prompt:Empathy:+",
    ]


def test_pinned_features_need_an_sae_condition_and_valid_ids():
    config = two_model_config(conditions=["none"])
    config["models"] = config["models"][:1]
    with pytest.raises(ConfigError, match="sae.features pins SAE features but 'conditions'"):
        vg_config.validate(config)
    bad = two_model_config()
    bad["models"][0]["sae"]["features"] = [3, 3]
    with pytest.raises(ConfigError, match="features"):
        vg_config.validate(bad)


def test_pinned_model_plans_exactly_none_and_its_features(tmp_path):
    config = two_model_config()
    work = make_workdir(tmp_path / "wf", config)
    out = dry_run(work)
    shards = collected(out)
    pin = {(s, c) for m, s, c in shards if m == "pin"}
    assert pin == {
        *[(s, c) for s in ("train", "test") for c in ("none", "sae_7", "sae_3")],
        ("test", "value_prompt_empathy_pos"),
    }
    rank = {(s, c) for m, s, c in shards if m == "rank"}
    assert {c for s, c in rank if s == "train"} == {"none", "sae_c01", "sae_c02"}
    # collect jobs derived from the config: SAE + none on both splits, the prompt on test only
    n_collect = sum(1 for name, _ in jobs(out) if name == "collect")
    per_model = 3 * (groups(config, "train") + groups(config, "test")) + groups(config, "test")
    assert n_collect == 2 * per_model
    by_rule: dict[str, list[str]] = {}
    for name, block in jobs(out):
        by_rule.setdefault(name, []).append(block)
    # no ranking and no selection for the pinned model; both for the other
    for rule in ("sae_candidates", "steering_select"):
        assert len(by_rule[rule]) == 1 and "results/rank/" in by_rule[rule][0]
    discover = {m: b for b in by_rule["discover"] for m in ("pin", "rank") if f"/{m}/graph" in b}
    assert "--conditions none sae_7 sae_3 --jobs" in discover["pin"]
    assert "--selection" not in discover["pin"]
    assert "--conditions none --selection results/rank/steering/selection.json" in discover["rank"]
    evals = {m: b for b in by_rule["steering_eval"] for m in ("pin", "rank") if f"/{m}/" in b}
    assert "--selection" not in evals["pin"] and "candidates.json" not in evals["pin"]
    assert '"sae:7" "sae:3"' in evals["pin"]
    assert "--selection results/rank/steering/selection.json" in evals["rank"]


def test_a_model_with_its_own_conditions_plans_only_those(tmp_path):
    """models[].conditions: a model without an SAE answers none and a value prompt only, while
    the other model keeps the top-level conditions and its SAE chain."""
    config = two_model_config()
    own = ["none", "value_prompt:Empathy:+"]
    config["models"][0] = {**config["models"][0], "name": "plain", "conditions": own}
    del config["models"][0]["sae"]
    validated = vg_config.validate(config)
    assert vg_config.model_conditions(validated, "plain") == own
    assert vg_config.model_conditions(validated, "rank") == [
        "none", "sae:c01", "sae:c02", "value_prompt:Empathy:+"
    ]  # fmt: skip
    out = dry_run(make_workdir(tmp_path / "wf", config))
    shards = collected(out)
    assert {(s, c) for m, s, c in shards if m == "plain"} == {
        ("train", "none"), ("test", "none"), ("test", "value_prompt_empathy_pos")
    }  # fmt: skip
    rank_train = {c for m, s, c in shards if m == "rank" and s == "train"}
    assert rank_train == {"none", "sae_c01", "sae_c02"}
    sae_rules = {"sae_activations", "sae_train", "sae_record", "sae_candidates"}
    sae_jobs = [block for name, block in jobs(out) if name in sae_rules]
    assert len(sae_jobs) == len(sae_rules) and all("results/rank/" in b for b in sae_jobs)
    assert any(n == "steering_eval" and "results/plain/" in b for n, b in jobs(out))

    config["models"][0]["conditions"] = ["none", "sae:3"]
    with pytest.raises(ConfigError, match=r"its models\[\]\.conditions use an SAE .* 'plain'"):
        vg_config.validate(config)


def test_paper_yaml_pins_the_authors_ten_features():
    config = vg_config.load(REPO / "config/paper.yaml")
    for model in config["models"]:
        features = model["sae"]["features"]
        assert len(features) == len(set(features)) == 10
        kinds = [vg_config.parse_condition(c).kind for c in vg_config.model_conditions(
            config, model["name"])]  # fmt: skip
        assert kinds.count("sae") == 10 and "sae_candidate" not in kinds
    gemma = vg_config.pinned_features(config, "gemma-2b-it")
    assert gemma == [14351, 1025, 2965, 10096, 1341, 1975, 10605, 14049, 1312, 4752]
    assert config["steering"]["candidate_ranking"] == "max"
    assert config["steering"]["evaluation"]["sae_role"] == "Mary Holt"
    assert len(config["steering"]["evaluation"]["table1_values"]) == 10


# --------------------------------------------------------------------------- ranking


def test_max_ranking_on_hand_made_activations():
    # two roles, three marker tokens, four features
    role_a = np.array([[0.0, 1.0, 0.5, 2.0], [3.0, 1.0, 0.5, 0.0], [0.0, 1.0, 0.5, 0.0]])
    role_b = np.array([[0.0, 2.0, 3.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(reduce_marker(role_a, "max"), [3.0, 1.0, 0.5, 2.0])
    np.testing.assert_allclose(reduce_marker(role_a, "mean"), [1.0, 1.0, 0.5, 2 / 3])
    by_max = np.stack([reduce_marker(r, "max") for r in (role_a, role_b)])
    by_mean = np.stack([reduce_marker(r, "mean") for r in (role_a, role_b)])
    # max: means over roles [2, 1.5, 1.75, 1.5]; features 1 and 3 tie -> lower index first
    assert rank_candidates(by_max, 4)["feature"].to_list() == [0, 2, 1, 3]
    # mean: means over roles [2/3, 5/6, 3/4, 1/2]: a different order
    assert rank_candidates(by_mean, 4)["feature"].to_list() == [1, 2, 0, 3]
    # exact ties everywhere: index order, whatever the input order of equal columns
    assert rank_candidates(np.ones((2, 5)), 3)["feature"].to_list() == [0, 1, 2]
    with pytest.raises(ValueError, match="mean or max"):
        reduce_marker(role_a, "median")


def test_candidate_ranking_reaches_the_rule(tmp_path):
    config = two_model_config(steering={"n_candidates": 2, "candidate_ranking": "max"})
    out = dry_run(make_workdir(tmp_path / "wf", config), "results/rank/steering/candidates.json")
    assert "--ranking max" in out
    assert vg_config.validate(tiny_config(REPO, REPO))["steering"]["candidate_ranking"] == "mean"


# --------------------------------------------------------------------------- sae_role, Table 1

VALUES = ["A", "B", "C"]
ROLES = [
    {"role_id": "none", "name": "", "mini_trait": ""},
    {"role_id": "test-000", "name": "Erika Jones", "mini_trait": "x"},
    {"role_id": "test-001", "name": "Mary Holt", "mini_trait": "y"},
]


def eval_matrix(split: str) -> pl.DataFrame:
    rng = np.random.default_rng(0 if split == "train" else 1)
    rows = []
    for role in [r["role_id"].replace("test", split) for r in ROLES]:
        base = rng.normal(0, 1, 3)
        for cond, shift in (("none", 0.0), ("sae_5", 0.5), ("value_prompt_a_pos", 0.3)):
            if split == "train" and cond.startswith("value_prompt"):
                continue  # the workflow's train matrix has no value-prompt rows
            scores = base + shift * rng.choice([-1, 1], 3)
            rows.append(
                {"role_id": role, "condition": cond, **dict(zip(VALUES, scores, strict=True))}
            )
    return pl.DataFrame(rows)


def test_sae_role_by_name_resolves_and_a_bad_name_lists_the_names():
    test = ScoreMatrix(eval_matrix("test"), VALUES, "test.parquet")
    assert resolve_role("Mary Holt", test, ROLES, "sae_role") == "test-001"
    assert resolve_role("test-000", test, ROLES, "sae_role") == "test-000"
    assert resolve_role(None, test, ROLES, "sae_role") is None
    with pytest.raises(DataError) as err:
        resolve_role("Mary Hold", test, ROLES, "sae_role")
    message = str(err.value)
    assert "'Mary Hold'" in message and "'Erika Jones', 'Mary Holt'" in message
    assert "\n" not in message


def run_eval(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    for split in ("train", "test"):
        eval_matrix(split).write_parquet(tmp_path / f"{split}.parquet")
    (tmp_path / "values.json").write_text(json.dumps(VALUES))
    (tmp_path / "roles.json").write_text(json.dumps(ROLES))
    graph = {"nodes": VALUES, "edges": [{"source": "A", "target": "B", "type": "directed"}]}
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    outs = [
        f"--{name} {tmp_path / name}.{ext}"
        for name, ext in (
            ("table1", "csv"), ("table1-png", "png"), ("side-effects", "csv"),
            ("side-effects-png", "png"), ("targeted", "csv"), ("targeted-png", "png"),
        )
    ]  # fmt: skip
    cmd = [
        sys.executable, "-m", "valuegraph", "steering-eval",
        "--train", str(tmp_path / "train.parquet"), "--test", str(tmp_path / "test.parquet"),
        "--values", str(tmp_path / "values.json"), "--roles", str(tmp_path / "roles.json"),
        "--conditions", "none", "sae:5", "value_prompt:A:+",
        "--graph", str(tmp_path / "graph.json"),
        "--n-bootstrap", "10", "--n-permutations", "10",
        *" ".join(outs).split(), *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True)


def test_steering_eval_without_selection_keeps_every_feature_and_shows_table1_values(tmp_path):
    result = run_eval(tmp_path, "--sae-role", "Mary Holt", "--table1-values", "C", "A")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pl.read_csv(tmp_path / "table1.csv")
    assert list(dict.fromkeys(table["value"].to_list())) == ["C", "A"]
    assert table["kept"].all()
    effects = pl.read_csv(tmp_path / "side-effects.csv")
    assert "sae" in set(effects["setting"])
    bad = run_eval(tmp_path, "--sae-role", "Nobody")
    assert bad.returncode != 0 and "'Erika Jones', 'Mary Holt'" in bad.stderr
    unknown = run_eval(tmp_path, "--table1-values", "Z")
    assert unknown.returncode != 0 and "table1 values ['Z']" in unknown.stderr


def test_table1_values_and_sae_role_reach_the_workflow(tmp_path):
    config = two_model_config(
        steering={
            "n_candidates": 2,
            "evaluation": {"sae_role": "Mary Holt", "table1_values": ["Social", "Empathy"]},
        }
    )
    out = dry_run(make_workdir(tmp_path / "wf", config), "results/pin/steering/table1.csv")
    assert "--sae-role 'Mary Holt'" in out and "--table1-values Social Empathy" in out
    assert "--roles results/roles/test.json" in out


# --------------------------------------------------------------------------- value prompts


def test_value_prompts_are_collected_on_test_only_unless_discovery_pools_them(tmp_path):
    config = two_model_config()
    out = dry_run(make_workdir(tmp_path / "a", config))
    prompts = {(m, s) for m, s, c in collected(out) if c.startswith("value_prompt")}
    assert prompts == {("pin", "test"), ("rank", "test")}
    merge = [b for name, b in jobs(out) if name == "merge_responses" and "train.parquet" in b]
    assert merge and not any("value_prompt" in b for b in merge)
    # discovery.rows all pools every train row: then the prompts are collected on train too
    config["discovery"]["rows"] = "all"
    out = dry_run(make_workdir(tmp_path / "b", config))
    prompts = {(m, s) for m, s, c in collected(out) if c.startswith("value_prompt")}
    assert ("pin", "train") in prompts and ("rank", "train") in prompts


def test_default_and_paper_configs_collect_no_train_value_prompts():
    for name in ("config.yaml", "paper.yaml"):
        config = yaml.safe_load((REPO / "config" / name).read_text())
        assert config.get("discovery", {}).get("rows", "paper") != "all", name
