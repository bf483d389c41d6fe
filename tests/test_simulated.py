"""The planted-structure respondent: determinism, SEM fidelity, the collect path, the workflow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from conftest import REPO

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
