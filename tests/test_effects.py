"""Tests for valuegraph.causal.effects, valuegraph.causal.ida and ``valuegraph effects``: synthetic
data with known effects."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

import valuegraph.cli
from valuegraph.causal import effects, ida
from valuegraph.errors import DataError

VALUES = ["Achievement", "Anxiety Disorder"]
SIMS = 5


def make_matrix(
    n_roles: int = 30,
    conditions: dict[str, dict[str, float]] | None = None,
    role_shift: dict[str, float] | None = None,
    noise: float = 0.05,
    seed: int = 0,
) -> pl.DataFrame:
    """Matrix with a baseline row per condition; ``conditions`` maps id -> value shifts."""
    rng = np.random.default_rng(seed)
    conditions = conditions if conditions is not None else {"none": {}}
    role_shift = role_shift or {}
    roles = ["none"] + [f"train-{i:03d}" for i in range(n_roles)]
    role_level = {r: rng.normal(0.0, 0.3, len(VALUES)) for r in roles[1:]}
    role_level["none"] = np.zeros(len(VALUES))
    rows = []
    for cond, shift in conditions.items():
        for r in roles:
            row = {"role_id": r, "condition": cond}
            for j, v in enumerate(VALUES):
                persona = role_shift.get(v, 0.0) if r != "none" else 0.0
                row[v] = role_level[r][j] + persona + shift.get(v, 0.0) + rng.normal(0, noise)
            row.update(n_answered=20, n_unparsed=0)
            rows.append(row)
    return pl.DataFrame(rows).with_columns(pl.col("n_answered", "n_unparsed").cast(pl.Int64))


# --------------------------------------------------------------------------- steering


def test_steering_recovers_planted_shift_and_refuters_behave():
    m = make_matrix(conditions={"none": {}, "sae_1312": {"Achievement": 0.3}})
    out = effects.steering_effects(m, seed=1, refute_simulations=SIMS)
    assert out.columns[:11] == list(effects.effect_schema([]).keys())
    assert out.height == 2
    ach = out.filter(pl.col("outcome") == "Achievement").row(0, named=True)
    assert ach["treatment"] == "sae_1312" and ach["control"] == "none"
    assert ach["ci_low"] < 0.3 < ach["ci_high"]
    assert abs(ach["estimate"] - 0.3) < 0.04
    assert ach["p_value"] < 1e-6
    assert (ach["n"], ach["n_treated"], ach["n_control"]) == (62, 31, 31)
    assert ach["adjustment"] == "role"
    assert abs(ach["refute_placebo_effect"]) < 0.05
    assert abs(ach["refute_random_common_cause_effect"] - ach["estimate"]) < 0.01
    assert abs(ach["refute_data_subset_effect"] - ach["estimate"]) < 0.03
    other = out.filter(pl.col("outcome") == "Anxiety Disorder").row(0, named=True)
    assert other["ci_low"] < 0.0 < other["ci_high"]


def test_steering_estimate_equals_mean_paired_difference():
    m = make_matrix(n_roles=10, conditions={"none": {}, "c": {"Achievement": 0.2}}, seed=3)
    out = effects.steering_effects(m, ["Achievement"], refute_simulations=2, refuters=())
    wide = m.pivot(on="condition", index="role_id", values="Achievement")
    diff = (wide["c"] - wide["none"]).to_numpy()
    assert out["estimate"][0] == pytest.approx(diff.mean(), abs=1e-9)
    half = out["ci_high"][0] - out["estimate"][0]
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert half == pytest.approx(se * 2.228, rel=1e-3)  # t(10 df), i.e. the paired t-test


def test_steering_is_seeded_and_quiet(capsys):
    m = make_matrix(n_roles=8, conditions={"none": {}, "c": {"Achievement": 0.3}})
    a = effects.steering_effects(m, ["Achievement"], seed=7, refute_simulations=3)
    b = effects.steering_effects(m, ["Achievement"], seed=7, refute_simulations=3)
    c = effects.steering_effects(m, ["Achievement"], seed=8, refute_simulations=3)
    assert a.equals(b)
    assert a["refute_placebo_effect"][0] != c["refute_placebo_effect"][0]
    captured = capsys.readouterr()
    assert captured.out == "" and "Normal Distribution" not in captured.err


def test_steering_without_conditions_is_empty_with_columns():
    out = effects.steering_effects(make_matrix(n_roles=3))
    assert out.height == 0
    assert "refute_data_subset_p" in out.columns and "ci_low" in out.columns


def test_steering_needs_unsteered_rows():
    m = make_matrix(n_roles=3, conditions={"sae_1": {}})
    with pytest.raises(DataError, match="no unsteered rows"):
        effects.steering_effects(m)


# --------------------------------------------------------------------------- role prompt


def test_role_effect_single_baseline_row():
    m = make_matrix(n_roles=25, role_shift={"Achievement": 0.5}, seed=2)
    out = effects.role_effects(m, seed=0, refute_simulations=SIMS)
    assert out.height == 2
    ach = out.filter(pl.col("outcome") == "Achievement").row(0, named=True)
    personas = m.filter(pl.col("role_id") != "none")["Achievement"].mean()
    base = m.filter(pl.col("role_id") == "none")["Achievement"][0]
    assert ach["estimate"] == pytest.approx(personas - base, abs=1e-9)
    assert ach["ci_low"] < 0.5 < ach["ci_high"]
    assert (ach["treatment"], ach["control"]) == ("role_prompt", "no_role")
    assert (ach["n_treated"], ach["n_control"], ach["adjustment"]) == (25, 1, "")
    assert np.isfinite(ach["refute_placebo_effect"]) and 0 <= ach["refute_placebo_p"] <= 1
    assert abs(ach["refute_placebo_effect"]) < abs(ach["estimate"])


def test_role_effect_uses_every_baseline_row():
    m = make_matrix(n_roles=10, conditions={"none": {}, "sae_1": {"Achievement": -0.4}})
    pooled = effects.role_effects(m, ["Achievement"], refute_simulations=2)
    assert (pooled["n_control"][0], pooled["adjustment"][0]) == (2, "condition")
    alone = effects.role_effects(m, ["Achievement"], refute_simulations=2, pool_conditions=False)
    assert (alone["n_control"][0], alone["n"][0]) == (1, 11)


def test_role_effect_needs_baseline():
    m = make_matrix(n_roles=3).filter(pl.col("role_id") != "none")
    with pytest.raises(DataError, match="no baseline rows"):
        effects.role_effects(m)


def test_nan_value_is_named():
    m = make_matrix(n_roles=3).with_columns(
        pl.when(pl.col("role_id") == "train-001")
        .then(float("nan"))
        .otherwise(pl.col("Anxiety Disorder"))
        .alias("Anxiety Disorder")
    )
    with pytest.raises(DataError, match="'Anxiety Disorder' has 1 missing"):
        effects.role_effects(m)


# --------------------------------------------------------------------------- graphs


def chain_matrix(n: int = 2000, seed: int = 0) -> pl.DataFrame:
    """X -> Y -> Z with Y = 0.8 X + e, Z = 0.5 Y + e; a fourth value W independent."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.8 * x + rng.normal(scale=0.5, size=n)
    z = 0.5 * y + rng.normal(scale=0.5, size=n)
    w = rng.normal(size=n)
    return pl.DataFrame(
        {"role_id": [f"r{i}" for i in range(n)], "condition": "none", "X": x, "Y": y, "Z": z}
        | {"W": w}
    )


def graph(edges: list[tuple[str, str, str]], nodes=("X", "Y", "Z", "W"), **extra) -> dict:
    return {
        "nodes": list(nodes),
        "edges": [{"source": s, "target": t, "type": k} for s, t, k in edges],
        "params": {},
        **extra,
    }


def test_graph_chain_total_effect_is_product():
    g = graph([("X", "Y", "directed"), ("Y", "Z", "directed")])
    out = ida.graph_effects(chain_matrix(), g, standardize=False)
    pairs = set(zip(out["treatment"], out["outcome"], strict=True))
    assert pairs == {("X", "Y"), ("X", "Z"), ("Y", "Z")}
    row = {(r["treatment"], r["outcome"]): r for r in out.iter_rows(named=True)}
    assert row["X", "Z"]["estimate"] == pytest.approx(0.4, abs=0.04)
    assert row["X", "Z"]["ci_low"] < 0.4 < row["X", "Z"]["ci_high"]
    assert row["X", "Y"]["estimate"] == pytest.approx(0.8, abs=0.04)
    assert row["Y", "Z"]["estimate"] == pytest.approx(0.5, abs=0.04)
    assert set(out["method"]) == {"local"} and set(out["n_parent_sets"]) == {1}
    assert out["n_dags"].is_null().all() and not out["dags_truncated"].any()
    assert out["enumeration"][0] == "consistent" and out["n"][0] == 2000


def test_graph_effects_standardised_and_json_file(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph([("X", "Y", "directed"), ("Y", "Z", "directed")])))
    m = chain_matrix()
    out = ida.graph_effects(m, path)
    sd = {c: m[c].std() for c in "XZ"}
    expected = 0.4 * sd["X"] / sd["Z"]
    xz = out.filter((pl.col("treatment") == "X") & (pl.col("outcome") == "Z"))
    assert xz["estimate"][0] == pytest.approx(expected, abs=0.04)
    assert xz["standardized"][0]


def test_undirected_edge_gives_range_over_both_orientations():
    m = chain_matrix()
    g = graph([("X", "Y", "undirected")])
    out = ida.graph_effects(m, g, standardize=False)
    x, y = m["X"].to_numpy(), m["Y"].to_numpy()
    xy_if_x_to_y = np.polyfit(x, y, 1)[0]  # X -> Y: regress Y on X (X has no parents)
    xy_if_y_to_x = 0.0  # Y -> X: no path from X to Y
    row = out.filter((pl.col("treatment") == "X") & (pl.col("outcome") == "Y")).row(0, named=True)
    assert row["n_parent_sets"] == 2 and row["n_parent_sets_with_path"] == 1
    assert row["estimate_min"] == pytest.approx(min(xy_if_x_to_y, xy_if_y_to_x), abs=1e-9)
    assert row["estimate_max"] == pytest.approx(max(xy_if_x_to_y, xy_if_y_to_x), abs=1e-9)
    assert row["estimate"] == 0.0  # IDA's conservative summary: smallest |effect|
    assert row["ci_low"] <= 0.0 and row["ci_high"] > xy_if_x_to_y
    assert out.filter(pl.col("treatment") == "Y")["outcome"].to_list() == ["X"]


def test_undirected_chain_uses_parents_of_x_per_dag():
    m = chain_matrix()
    g = graph([("X", "Y", "undirected"), ("Y", "Z", "undirected")])
    out = ida.graph_effects(m, g, standardize=False)
    # X-Y-Z without a collider: X->Y->Z, X<-Y<-Z, X<-Y->Z. Y's possible parent sets are {},
    # {X}, {Z} (not {X, Z}: a new collider); X's and Z's are {} and {Y}.
    assert dict(zip(out["treatment"], out["n_parent_sets"], strict=True)) == {
        "X": 2,
        "Y": 3,
        "Z": 2,
    }
    yz = out.filter((pl.col("treatment") == "Y") & (pl.col("outcome") == "Z")).row(0, named=True)
    # Y->Z with parents of Y {X} (X->Y->Z) or {} (X<-Y->Z); both give about 0.5.
    assert yz["n_parent_sets_with_path"] == 2
    assert yz["estimate_min"] == 0.0 and yz["estimate_max"] == pytest.approx(0.5, abs=0.04)
    both = ida.graph_effects(m, g, standardize=False, method="global")
    assert set(both["n_dags"]) == {3} and set(both["method"]) == {"global"}
    same = ["treatment", "outcome", "estimate", "estimate_min", "estimate_max", "ci_low", "ci_high"]
    assert both.select(same).equals(out.select(same))
    yz = both.filter((pl.col("treatment") == "Y") & (pl.col("outcome") == "Z")).row(0, named=True)
    assert yz["n_dags_with_path"] == 2 and yz["n_parent_sets_with_path"] == 2


def test_no_new_unshielded_collider():
    nodes = ["X", "Y", "Z"]
    dags, truncated = ida.enumerate_dags(nodes, {("X", "Y")}, {frozenset("YZ")})
    assert [sorted(d.edges) for d in dags] == [[("X", "Y"), ("Y", "Z")]]
    assert not truncated
    dags, _ = ida.enumerate_dags(nodes, {("X", "Y")}, {frozenset("YZ")}, consistent=False)
    assert len(dags) == 2


def test_enumeration_is_capped():
    nodes = list("ABCDE")
    complete = {frozenset((a, b)) for i, a in enumerate(nodes) for b in nodes[i + 1 :]}
    dags, truncated = ida.enumerate_dags(nodes, set(), complete, max_dags=64)
    assert len(dags) == 64 and truncated  # 5! = 120 orderings
    dags, truncated = ida.enumerate_dags(nodes, set(), complete, max_dags=120)
    assert len(dags) == 120 and not truncated
    assert len({frozenset(d.edges) for d in dags}) == 120


def test_two_cycles_count_as_undirected_and_bidirected_edges_are_ignored():
    m = chain_matrix()
    g = graph(
        [("X", "Y", "directed"), ("Y", "X", "directed"), ("Z", "W", "bidirected")],
    )
    out = ida.graph_effects(m, g)
    assert set(zip(out["treatment"], out["outcome"], strict=True)) == {("X", "Y"), ("Y", "X")}
    assert set(out["n_parent_sets"]) == {2}
    g = graph([("Y", "Z", "directed"), ("Y", "W", "bidirected")])
    out = ida.graph_effects(m, g)
    assert out["treatment"].to_list() == ["Y"] and out["x_bidirected"].to_list() == [True]


def test_context_nodes_are_adjusters_only():
    m = chain_matrix(n=400).with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(pl.lit("sae_1"))
        .otherwise(pl.lit("none"))
        .alias("condition")
    )
    g = graph(
        [("condition=sae_1", "X", "directed"), ("X", "Y", "directed")],
        nodes=("X", "Y", "Z", "W", "condition=sae_1"),
        context_nodes=["condition=sae_1"],
    )
    out = ida.graph_effects(m, g)
    assert out["treatment"].to_list() == ["X"] and out["outcome"].to_list() == ["Y"]


def test_unknown_graph_node_is_named():
    with pytest.raises(DataError, match="'Hedonism'"):
        ida.graph_effects(chain_matrix(n=50), graph([], nodes=("X", "Hedonism")))


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(monkeypatch):
    """valuegraph.cli.main with only the effects subcommand (others may import torch)."""
    monkeypatch.setattr(valuegraph.cli, "COMMAND_MODULES", ["valuegraph.cli.effects"])
    return valuegraph.cli.main


def test_cli_writes_tables(tmp_path, cli):
    m = make_matrix(n_roles=6, conditions={"none": {}, "sae_1": {"Achievement": 0.3}})
    m.write_parquet(tmp_path / "m.parquet")
    (tmp_path / "g.json").write_text(
        json.dumps(graph([("Achievement", "Anxiety Disorder", "directed")], nodes=VALUES))
    )
    outs = {k: tmp_path / f"{k}.csv" for k in ("role", "steering", "graph")}
    argv = ["effects", "--matrix", str(tmp_path / "m.parquet"), "--graph", str(tmp_path / "g.json")]
    argv += ["--refute-simulations", "2", "--seed", "3"]
    argv += [f"--out-{k}={v}" for k, v in outs.items()]
    assert cli(argv) == 0
    role, steering, g = (pl.read_csv(outs[k]) for k in ("role", "steering", "graph"))
    assert role.height == 2 and "refute_placebo_p" in role.columns
    assert steering["treatment"].to_list() == ["sae_1", "sae_1"]
    assert {"refute_random_common_cause_effect", "refute_data_subset_effect"} <= set(
        steering.columns
    )
    assert g.select("treatment", "outcome").rows() == [("Achievement", "Anxiety Disorder")]
    assert g["method"].to_list() == ["local"] and g["n_parent_sets"].to_list() == [1]
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_out_graph_needs_graph(tmp_path, cli, capsys):
    make_matrix(n_roles=3).write_parquet(tmp_path / "m.parquet")
    argv = ["effects", "--matrix", str(tmp_path / "m.parquet"), "--out-graph", "g.csv"]
    argv += ["--out-role", str(tmp_path / "r.csv"), "--out-steering", str(tmp_path / "s.csv")]
    assert cli(argv) == 2
    assert "--out-graph needs --graph" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("nan", "'Achievement' has 1 missing"),
        ("no_baseline", "no baseline rows"),
        ("graph_node", "'Hedonism'"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, cli, capsys, case, message):
    m = make_matrix(n_roles=4)
    if case == "nan":
        m = m.with_columns(
            pl.when(pl.col("role_id") == "none")
            .then(None)
            .otherwise(pl.col("Achievement"))
            .alias("Achievement")
        )
    if case == "no_baseline":
        m = m.filter(pl.col("role_id") != "none")
    m.write_parquet(tmp_path / "m.parquet")
    (tmp_path / "g.json").write_text(json.dumps(graph([], nodes=("Achievement", "Hedonism"))))
    argv = ["effects", "--matrix", str(tmp_path / "m.parquet"), "--graph", str(tmp_path / "g.json")]
    argv += ["--out-role", str(tmp_path / "r.csv"), "--out-steering", str(tmp_path / "s.csv")]
    argv += ["--out-graph", str(tmp_path / "g.csv"), "--refute-simulations", "1"]
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("valuegraph effects: error:") and message in err[-1]
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "g.csv").exists()


def test_effects_never_imports_torch():
    code = (
        "import sys, valuegraph.causal.effects, valuegraph.causal.ida, valuegraph.cli.effects; "
        "import dowhy; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
