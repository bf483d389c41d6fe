"""The planted-structure respondent: determinism, SEM fidelity, the collect path, the workflow."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from conftest import REPO, make_workdir, run_snakemake

from valuegraph.causal import graphs
from valuegraph.causal.simulated import (
    SimulatedRespondent,
    Simulation,
    read_sem,
    shift_condition,
    simulate_responses,
    train_items,
)
from valuegraph.collect import collect_shard
from valuegraph.config import Condition, validate
from valuegraph.errors import ConfigError, DataError
from valuegraph.matrix import build_matrix

PLANTED = REPO / "config/graphs/planted17.tsv"
NONE = Condition("none", "none")


@pytest.fixture(scope="module")
def train(items_csv):
    return train_items(items_csv, None, 0)


@pytest.fixture(scope="module")
def respondent(train):
    return SimulatedRespondent(read_sem(PLANTED), Simulation(graph=str(PLANTED)), train[1])


def test_planted_graph_shape():
    sem = read_sem(PLANTED)
    assert len(sem.nodes) == 17 and len(sem.edges) == 22
    truth = sem.truth()
    assert all(e["type"] == "directed" for e in truth["edges"])


def test_read_sem_errors(tmp_path):
    bad = tmp_path / "cycle.tsv"
    bad.write_text("source\ttarget\tweight\nA\tB\t0.5\nB\tA\t0.5\n")
    with pytest.raises(DataError, match="acyclic"):
        read_sem(bad)
    bad.write_text("source\ttarget\tweight\nA\tB\tx\n")
    with pytest.raises(DataError, match="line 2: weight 'x'"):
        read_sem(bad)
    bad.write_text("source\ttarget\nA\tB\n")
    with pytest.raises(DataError, match="weight"):
        read_sem(bad)


def test_latents_deterministic_and_paired(respondent):
    a = respondent.latents("role-1")
    assert np.array_equal(a, respondent.latents("role-1"))
    assert not np.allclose(a, respondent.latents("role-2"))
    shifted = respondent.latents("role-1", shift_condition("Achievement", 1))
    changed = {respondent.nodes[i] for i in np.flatnonzero(~np.isclose(a, shifted))}
    descendants = graphs.descendants(read_sem(PLANTED).truth())["Achievement"]
    assert changed == {"Achievement"} | descendants  # the shift propagates to descendants only


def test_answers_deterministic(respondent, train):
    items = train[0].head(60)
    p1, y1 = respondent.p_and_answers("r", items, NONE)
    p2, y2 = respondent.p_and_answers("r", items, NONE)
    assert np.array_equal(p1, p2) and np.array_equal(y1, y2)
    assert ((p1 > 0) & (p1 < 1)).all()


def test_matrix_correlations_follow_the_sem(respondent, train):
    items, values = train
    roles = [f"sim-{i:05d}" for i in range(600)]
    matrix = build_matrix(simulate_responses(respondent, roles, items, [NONE]), values, "soft")
    observed = np.corrcoef(matrix.select(values).to_numpy(), rowvar=False)
    sem = read_sem(PLANTED)
    idx = [sem.nodes.index(v) for v in values]
    implied = sem.correlation()[np.ix_(idx, idx)]
    iu = np.triu_indices(len(values), 1)
    assert np.corrcoef(observed[iu], implied[iu])[0, 1] > 0.95
    # attenuated by measurement error, never inflated much beyond the latent correlation
    strong = np.abs(implied[iu]) > 0.3
    assert np.all(np.sign(observed[iu][strong]) == np.sign(implied[iu][strong]))


def test_collect_shard_matches_bulk_path(respondent, train, tmp_path):
    items, _ = train
    roles = [{"role_id": f"sim-{i:05d}"} for i in range(3)]
    shard = collect_shard(
        respondent, "sim", "train", NONE, roles, items, tmp_path / "s.parquet", 0.4, 0
    )
    bulk = simulate_responses(
        respondent, [r["role_id"] for r in roles], items, [NONE], "train", 0.4, 0, "sim"
    )
    key = ["role_id", "item_id"]
    a, b = shard.sort(key), bulk.sort(key)
    assert a.height == b.height > 0
    for col in ("answer", "p_yes", "score", "soft_score", "agreement"):
        assert a[col].to_list() == b[col].to_list(), col
    assert set(a["mode"]) == {"simulated"}


def test_config_requires_simulated_block():
    base = {"models": [{"name": "sim", "source": "simulated"}]}
    with pytest.raises(ConfigError, match="simulated"):
        validate(base)
    ok = validate(
        {"models": [{"name": "sim", "source": "simulated", "simulated": {"graph": "g.tsv"}}]}
    )
    assert ok["models"][0]["simulated"]["graph"] == "g.tsv"


def test_no_torch_import():
    code = (
        "import sys, valuegraph.causal.simulated, valuegraph.bench.discovery; "
        "import valuegraph.cli.simulate; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_workflow_recovers_planted_edges(tmp_path, items_csv):
    """The whole DAG on a simulated model (CPU): PC finds most planted edges at 300 roles."""
    config = {
        "seed": 0,
        "items": {"path": str(items_csv), "train_sample_rate": 0.4},
        "roles": {"n_train": 300, "n_test": 10},
        "models": [
            {
                "name": "planted",
                "source": "simulated",
                "simulated": {"graph": str(PLANTED), "seed": 1},
            }
        ],
        "collect": {"roles_per_shard": 150},
        "conditions": ["none"],
        "matrix": {"score": "soft"},
        "discovery": {"postprocess": "none", "methods": ["pc", "boss"], "bootstrap": 4},
    }
    workdir = make_workdir(tmp_path / "wf", config)
    result = run_snakemake(workdir, timeout=600)
    if result.returncode != 0:
        logs = "\n".join(
            f"== {p}\n{p.read_text()[-1500:]}" for p in (workdir / "results/logs").rglob("*.log")
        )
        pytest.fail(f"workflow failed:\n{result.stderr[-3000:]}\n{logs}")
    res = workdir / "results"
    graph = json.loads((res / "planted/graph/pc.json").read_text())
    truth = read_sem(PLANTED).truth(graph["nodes"])
    scores = graphs.compare(graph, truth)
    assert scores["skeleton_recall"] >= 0.8 and scores["skeleton_f1"] >= 0.8, scores
    assert "edge_frequencies" in graph
    compare = pl.read_csv(res / "planted/graph/compare.csv")
    assert set(compare["graph"]) == {"planted/pc", "planted/boss"}
    refs = compare.filter(pl.col("against_kind") == "reference")
    assert set(refs["against"]) == {"human1", "standard_small", "valuebench"}
    assert set(compare.filter(pl.col("against_kind") == "model")["against"]) == {
        "planted/pc",
        "planted/boss",
    }
    methods = pl.read_csv(res / "planted/report/methods.csv")
    assert methods["method"].to_list() == ["pc", "boss"]
    for png in ("compare/heatmap.png", "planted/report/edge_frequency_pc.png"):
        assert (res / png).stat().st_size > 1000
    record = json.loads((res / "models/planted/model.json").read_text())
    assert len(record["simulated"]["edges"]) == 22


def test_discover_drops_missing_rows(respondent, train):
    """A role with every answer of a value unparsed gives a NaN cell: dropped and recorded."""
    from valuegraph.causal import discovery

    items, values = train
    roles = [f"sim-{i:05d}" for i in range(80)]
    matrix = build_matrix(simulate_responses(respondent, roles, items, [NONE]), values, "soft")
    holed = matrix.with_columns(
        pl.when(pl.col("role_id") == "sim-00003")
        .then(None)
        .otherwise(pl.col("Empathy"))
        .alias("Empathy")
    )
    with pytest.raises(DataError, match="Empathy"):
        discovery.discover(holed)
    graph = discovery.discover(holed, drop_missing=True)
    assert graph["params"]["n_rows"] == 79
    assert any("dropped 1 of 80 rows" in h and "Empathy" in h for h in graph["handling"])


def test_value_prompt_sign_sets_the_shift_direction(respondent):
    from valuegraph.config import parse_condition

    base = respondent.latents("role-1")
    up = respondent.latents("role-1", parse_condition("value_prompt:Achievement:+"))
    down = respondent.latents("role-1", parse_condition("value_prompt:Achievement:-"))
    i = respondent.nodes.index("Achievement")
    assert up[i] > base[i] > down[i]
