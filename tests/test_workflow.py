"""The whole DAG on the tiny model, lint, and the paper config's plan."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import polars as pl
import pytest
from conftest import REPO, TINY_VALUES

import valuegraph.config as vg_config
from valuegraph.collect import RESPONSE_SCHEMA


def results(workdir, path):
    return workdir / "results" / path


@pytest.mark.slow
def test_tiny_workflow_outputs(tiny_workflow):
    train_items = pl.read_parquet(results(tiny_workflow, "items/train.parquet"))
    assert sorted(train_items["value"].unique()) == sorted(TINY_VALUES)
    roles = json.loads(results(tiny_workflow, "roles/train.json").read_text())
    assert len(roles) == 15 and roles[0]["role_id"] == "none"

    responses = pl.read_parquet(results(tiny_workflow, "tiny/responses/train.parquet"))
    assert list(responses.columns) == list(RESPONSE_SCHEMA)
    # every role answers ceil(0.4 * n_train) items per value, once
    per_role = responses.group_by("role_id").len()["len"].unique().to_list()
    expected = sum(
        -(-int(0.4 * 1000 * n) // 1000) for n in train_items.group_by("value").len()["len"]
    )
    assert per_role == [expected]
    assert not responses.select("role_id", "item_id").is_duplicated().any()
    assert set(responses["answer"].unique()) <= {"yes", "no", "unparsed"}
    assert responses["p_yes"].is_between(0, 1).all()

    matrix = pl.read_parquet(results(tiny_workflow, "tiny/matrix/train.parquet"))
    assert matrix.columns == ["role_id", "condition", *TINY_VALUES, "n_answered", "n_unparsed"]
    assert matrix.height == 15 and (matrix["n_answered"] == expected).all()
    test_matrix = pl.read_parquet(results(tiny_workflow, "tiny/matrix/test.parquet"))
    assert test_matrix.height == 5

    graph = json.loads(results(tiny_workflow, "tiny/graph/pc.json").read_text())
    assert graph["nodes"] == TINY_VALUES
    assert graph["params"]["method"] == "pc" and graph["params"]["alpha"] == 0.05
    for edge in graph["edges"]:
        assert edge["source"] in TINY_VALUES and edge["target"] in TINY_VALUES

    effects = pl.read_csv(results(tiny_workflow, "tiny/effects/role.csv"))
    assert {"treatment", "outcome", "estimate", "ci_low", "ci_high", "n"} <= set(effects.columns)
    assert sorted(effects["outcome"].to_list()) == sorted(TINY_VALUES)

    summary = pl.read_csv(results(tiny_workflow, "tiny/report/summary.csv"))
    assert summary["value"].to_list() == TINY_VALUES
    png = results(tiny_workflow, "tiny/report/graph.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.slow
def test_report_html(tiny_workflow):
    from conftest import run_snakemake

    result = run_snakemake(tiny_workflow, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tiny_workflow / "report.html").read_text(errors="replace")
    assert "value graph" in html.lower() and "Per-value summary" in html
    # the opening summary (results/report/summary.rst), included in the workflow description
    summary = results(tiny_workflow, "report/summary.rst").read_text()
    assert "arcs are stable" in summary and "Persona sensitivity" in summary
    assert "What this run can and cannot tell" in html and "arcs are stable" in html
    stability = pl.read_csv(results(tiny_workflow, "tiny/graph/stability.csv"))
    assert stability["row"][0] == "summary" and stability["n_null"][0] == 5


def snakemake(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_lint_is_clean():
    result = snakemake("--lint", "--config", f"items={{path: {REPO}/README.md}}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_paper_config_plans_the_expected_jobs(tmp_path):
    # an empty working directory, so results of earlier runs in the checkout do not shorten the plan
    result = snakemake(
        "-n",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--configfile",
        str(REPO / "config/paper.yaml"),
        "--directory",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["prepare_model"] == 2
    assert counts["fetch_items"] == 1 and counts["items"] == 1 and counts["roles"] == 1
    # the authors' persona files and ValueBench's definitions sheet (paper mode)
    assert counts["fetch_roles"] == 2
    assert counts["fetch_definitions"] == 1 and counts["definitions"] == 1
    # 101 train roles and 26 test roles in groups of 10; per model none + its 10 pinned features
    # (models[].sae.features) on both splits and the 20 value prompts on test only (nothing reads
    # them on train): 2 * (11 * 11 + 3 * 31) = 428 (was 1260: 24 candidates, prompts on train)
    config = vg_config.load(REPO / "config/paper.yaml")
    groups = {
        split: math.ceil((config["roles"][f"n_{split}"] + 1) / config["collect"]["roles_per_shard"])
        for split in ("train", "test")
    }
    expected = 0
    for model in config["models"]:
        kinds = [
            vg_config.parse_condition(c).kind
            for c in vg_config.model_conditions(config, model["name"])
        ]
        assert kinds.count("sae") == len(model["sae"]["features"]) == 10
        prompts = kinds.count("value_prompt")
        expected += (len(kinds) - prompts) * (groups["train"] + groups["test"])
        expected += prompts * groups["test"]
    assert counts["collect"] == expected == 2 * (11 * 11 + 3 * (11 + 20))
    assert counts["sae_record"] == 2 and "sae_train" not in counts
    # pinned features: no candidate ranking and no selection rule
    assert "sae_candidates" not in counts and "steering_select" not in counts
    assert counts["steering_eval"] == 2
    assert counts["matrix"] == 4 and counts["discover"] >= 2


def test_default_config_plans_every_stage(tmp_path):
    result = snakemake(
        "-n",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(REPO / "config/config.yaml"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    # per model: 101 train + 6 test roles in one group each (roles_per_shard 101); none + 1 SAE
    # candidate on both splits (the steered one for n_train_steered train roles), the 2 value
    # prompts on test only (nothing reads them on train): 2 * 2 + 2 = 6
    config = vg_config.load(REPO / "config/config.yaml")
    models = [m["name"] for m in config["models"]]
    assert models == ["smollm2", "gemma3"]
    assert config["roles"]["n_train"] + 1 >= 100, "discovery sees >= 100 rows per model"
    kinds = [vg_config.parse_condition(c).kind for c in vg_config.expand_conditions(config)]
    prompts = kinds.count("value_prompt")
    per_model = 2 * (len(kinds) - prompts) + prompts
    assert per_model == 6 and counts["collect"] == len(models) * per_model
    for rule in ("prepare_model", "sae_train", "steering_select", "steering_eval", "effects"):
        assert counts[rule] == len(models), rule
    assert counts["schwartz_collect"] == 2 * len(models)
    assert counts["graph_stability"] == counts["persona_effects"] == len(models)
    assert counts["compare_models"] == 1 and counts["report_summary"] == 1


HEAVY_MODULES = {"numpy", "polars", "networkx", "torch", "pandas", "scipy", "matplotlib"}


def dry_run_imports(snakefile, workdir, *args: str) -> set[str]:
    """Top-level modules imported by a `snakemake -n` of ``snakefile`` (python -X importtime)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--cores", "1",
         "--snakefile", str(snakefile), "--directory", str(workdir), *args],
        capture_output=True, text=True, cwd=workdir, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    found = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)", result.stderr, re.M)
    return {name.split(".")[0] for name in found}


def test_dag_build_is_light_and_validates_the_config_once(tmp_path):
    """Building the default DAG adds no heavy library to what Snakemake itself imports (so a
    login node or a Snakemake-only env plans the run in seconds), and the config is validated
    in one place."""
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "Snakefile").write_text('rule all:\n    output: "x"\n    shell: "touch x"\n')
    baseline = dry_run_imports(bare / "Snakefile", bare)
    ours = dry_run_imports(
        REPO / "Snakefile", tmp_path, "--configfile", str(REPO / "config/config.yaml")
    )
    assert "valuegraph" in ours and "jsonschema" in ours
    assert not (ours - baseline) & HEAVY_MODULES, sorted((ours - baseline) & HEAVY_MODULES)
    rules = "\n".join(p.read_text() for p in (REPO / "workflow").rglob("*.smk"))
    assert len(re.findall(r"\bvalidate\(", rules)) == 1 and "vg_config.validate(" in rules
