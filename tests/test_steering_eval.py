"""Steering evaluation: the paper's side-effect metric on hand-made cases, the permutation test on
a planted case, the train-only selection rule, Table 1 and targeted steering."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from conftest import REPO, make_workdir, tiny_config

from valuegraph.errors import DataError
from valuegraph.evaluation import deltas, selection, side_effects, statistics, table1, targeted
from valuegraph.figures import steering as figures

ABC = ["A", "B", "C"]


def graph(edges, nodes=ABC):
    return {
        "nodes": list(nodes),
        "edges": [{"source": s, "target": t, "type": k} for s, t, k in edges],
    }


def matrix(rows, values):
    """rows: (role_id, condition, [scores])."""
    return pl.DataFrame(
        [{"role_id": r, "condition": c, **dict(zip(values, v, strict=True))} for r, c, v in rows]
    )


# --------------------------------------------------------------------------- side effects


def test_change_count_matches_a_hand_computed_example():
    # A -> B. Interventions: k1, k2 move A and B; k3 moves A and C (C by less than the
    # threshold in k4, and NaN counts as unchanged).
    delta = np.array(
        [
            [0.5, -0.2, 0.0],
            [0.3, 0.4, 0.0],
            [-0.2, 0.0, 0.6],
            [0.0, np.nan, 0.05],
        ]
    )
    desc = side_effects.descendant_matrix(graph([("A", "B", "directed")]), ABC)
    assert desc.tolist() == [[False, True, False], [False, False, False], [False, False, False]]
    expected, unexpected = statistics.change_count(deltas.changed(delta, 0.1), desc)
    # X=A: S={k1,k2,k3}; f(B)=2/3, f(C)=1/3. X=B: S={k1,k2}; f(A)=1, f(C)=0 (no descendants).
    # X=C: S={k3}; f(A)=1, f(B)=0.
    np.testing.assert_allclose(expected, [2 / 3, np.nan, np.nan])
    np.testing.assert_allclose(unexpected, [1 / 3, 0.5, 0.5])
    stats = statistics.side_effect_stats(
        delta, desc, 1, 0.1, n_bootstrap=50, n_permutations=20, seed=0
    )
    assert stats["expected"] == pytest.approx(2 / 3)
    assert stats["unexpected"] == pytest.approx(4 / 9)
    assert stats["n_interventions"] == 4 and stats["n_values_moved"] == 3
    assert stats["expected_ci_low"] <= stats["expected_ci_high"]


def test_undirected_edges_count_both_ways_and_ancestors_are_unexpected():
    g = graph([("A", "B", "undirected"), ("B", "C", "directed")])
    desc = side_effects.descendant_matrix(g, ABC)
    assert desc.tolist() == [[False, True, True], [True, False, True], [False, False, False]]
    assert side_effects.n_arcs(g) == 3
    # C's ancestors A and B are not its descendants: they count as unexpected
    delta = np.array([[1.0, 1.0, 1.0]])
    expected, unexpected = statistics.change_count(deltas.changed(delta, 0.0), desc)
    np.testing.assert_allclose(expected, [1.0, 1.0, np.nan])
    np.testing.assert_allclose(unexpected, [np.nan, np.nan, 1.0])


def test_random_graphs_descendants_are_closed_under_paths():
    rng = np.random.default_rng(5)
    for arcs in (0, 3, 12, 42):
        d = statistics.random_descendants(7, arcs, rng)
        assert not d.diagonal().any()  # a node on a cycle is still not its own descendant
        assert d.sum() >= arcs  # every arc's target is reachable from its source
        for x, _, z in zip(*np.nonzero(d[:, :, None] & d[None, :, :]), strict=True):
            assert x == z or d[x, z]  # x -> y -> z: z descends from x
    assert d.sum() == 7 * 6  # 42 arcs: the complete digraph
    cycle = graph([("A", "B", "directed"), ("B", "A", "directed"), ("B", "C", "directed")])
    desc = side_effects.descendant_matrix(cycle, [*ABC, "D"])  # D: a value outside the graph
    assert desc.tolist() == [
        [False, True, True, False],
        [True, False, True, False],
        [False, False, False, False],
        [False, False, False, False],
    ]


def test_vectorised_metric_equals_the_definition_with_weights():
    rng = np.random.default_rng(3)
    values = list("ABCDEFG")
    changes = rng.random((30, 7)) < 0.4
    desc = statistics.random_descendants(7, 8, rng)
    weights = rng.integers(0, 3, 30)
    got_e, got_u = statistics.change_count(changes, desc, weights)
    rows = np.repeat(np.arange(30), weights)
    c = changes[rows]
    for x in range(len(values)):
        s = c[c[:, x]]
        d = [y for y in range(7) if desc[x, y]]
        u = [y for y in range(7) if not desc[x, y] and y != x]
        f = s.mean(0) if len(s) else None
        want_e = np.nan if f is None or not d else f[d].mean()
        want_u = np.nan if f is None or not u else f[u].mean()
        np.testing.assert_allclose([got_e[x], got_u[x]], [want_e, want_u])


def planted(n_values=10, n=60, seed=0):
    """A chain graph and interventions whose effects flow to descendants (p 0.9) and rarely
    elsewhere (p 0.03)."""
    rng = np.random.default_rng(seed)
    nodes = [f"v{i}" for i in range(n_values)]
    g = graph([(nodes[i], nodes[i + 1], "directed") for i in range(0, n_values - 1, 2)], nodes)
    desc = side_effects.descendant_matrix(g, nodes)
    delta = np.zeros((n, n_values))
    for k in range(n):
        x = rng.integers(n_values)
        moved = np.where(desc[x], rng.random(n_values) < 0.9, rng.random(n_values) < 0.03)
        moved[x] = True
        delta[k] = moved * rng.choice([-1.0, 1.0], n_values)
    return nodes, g, desc, delta


def test_permutation_p_value_is_small_for_the_planted_graph_and_not_for_a_wrong_one():
    nodes, g, desc, delta = planted()
    arcs = side_effects.n_arcs(g)
    right = statistics.side_effect_stats(delta, desc, arcs, 0.0, 200, 300, seed=1)
    assert right["expected"] > 0.6 > 0.2 > right["unexpected"]
    assert right["p_value"] < 0.02
    assert right["p_value"] >= 1 / 301  # never below (1 + 0) / (1 + n)
    assert right["difference_ci_low"] > 0
    # a graph with the same number of arcs on the wrong pairs
    wrong = graph(
        [(nodes[i + 1], nodes[(i + 4) % len(nodes)], "directed") for i in range(0, 9, 2)], nodes
    )
    bad = statistics.side_effect_stats(
        delta, side_effects.descendant_matrix(wrong, nodes), arcs, 0.0, 0, 300, seed=1
    )
    assert bad["p_value"] > 0.2
    assert 0 < bad["p_value"] <= 1
    again = statistics.side_effect_stats(delta, desc, arcs, 0.0, 200, 300, seed=1)
    assert again == right  # seeded


def test_interventions_follow_the_paper_and_the_paired_variant():
    values = ["A", "B"]
    rows = [
        ("none", "none", [0.0, 0.0]),
        ("test-000", "none", [0.1, 0.2]),
        ("test-001", "none", [0.3, 0.2]),
        ("test-002", "none", [0.1, 0.5]),
        ("test-000", "sae_c01", [0.4, 0.2]),
        ("test-001", "sae_c01", [0.3, 0.2]),
        ("none", "sae_c01", [0.0, -0.5]),
        ("test-000", "value_prompt_a_pos", [0.6, 0.2]),
    ]
    sets = side_effects.interventions(
        matrix(rows, values), values, ["sae_c01"], ["value_prompt_a_pos"]
    )
    np.testing.assert_allclose(sets["role_prompt"], [[0.2, 0.0], [0.0, 0.3]])
    assert sets["role_prompt_pairs"].shape == (3, 2)
    np.testing.assert_allclose(sets["sae"], [[0.3, 0.0]])  # the first test persona only
    np.testing.assert_allclose(sets["sae_all_roles"], [[0.0, -0.5], [0.3, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(sets["value_prompt"], [[0.5, 0.0]])
    with pytest.raises(DataError, match="baseline_role"):
        side_effects.interventions(matrix(rows, values), values, [], [], baseline_role="test-999")


# --------------------------------------------------------------------------- selection, Table 1


def steering_matrix(split, n_roles, seed=0):
    """Feature c01 raises A for 80% of roles; c02 moves B at random; c03 does nothing."""
    rng = np.random.default_rng(seed)
    values = ["A", "B"]
    rows = []
    for i in range(n_roles):
        role = "none" if i == 0 else f"{split}-{i - 1:03d}"
        base = rng.normal(0, 0.3, 2)
        rows.append((role, "none", base.tolist()))
        up = 0.4 if i % 5 else 0.0
        rows.append((role, "sae_c01", [base[0] + up, base[1]]))
        rows.append((role, "sae_c02", [base[0], base[1] + rng.choice([-0.3, 0.3])]))
        rows.append((role, "sae_c03", base.tolist()))
        rows.append((role, "value_prompt_a_pos", [base[0] + 0.2, base[1] + 0.1]))
    return matrix(rows, values), values


CANDIDATES = {"candidates": [{"feature": 11}, {"feature": 22}, {"feature": 33}]}
CONDITIONS = ["none", "sae:c01", "sae:c02", "sae:c03", "value_prompt:A:+"]


def test_selection_rule_keeps_consistent_features_only():
    train, values = steering_matrix("train", 40)
    features = selection.sae_condition_features(CONDITIONS, CANDIDATES)
    assert features == {"sae_c01": 11, "sae_c02": 22, "sae_c03": 33}
    sel = selection.select_features(train, values, features, 0.01, 0.5, 0.8, 10)
    assert sel["kept"] == ["sae_c01"] and sel["kept_features"] == [11]
    row = {r["condition"]: r for r in sel["features"]}
    assert row["sae_c01"]["best"]["value"] == "A"
    assert row["sae_c01"]["best"]["share"] == pytest.approx(32 / 40)
    assert row["sae_c02"]["passes"] is False  # moves B for every role, but with random sign
    assert row["sae_c03"]["best"]["value"] is None
    assert sel["split"] == "train" and sel["parameters"]["min_role_share"] == 0.5
    # max_features caps the kept list; a looser rule keeps more
    loose = selection.select_features(train, values, features, 0.01, 0.5, 0.5, 10)
    assert loose["kept"] == ["sae_c01", "sae_c02"]  # ranked by max(up, down) / n
    assert selection.select_features(train, values, features, 0.01, 0.5, 0.5, 1)["kept"] == [
        "sae_c01"
    ]


def test_selection_never_reads_test_data(tmp_path):
    """The rule receives one matrix; the CLI refuses test roles; and in the workflow neither the
    selection nor anything upstream of it reads a test-split response, matrix or role."""
    train, values = steering_matrix("train", 20)
    test, _ = steering_matrix("test", 20, seed=1)
    features = selection.sae_condition_features(CONDITIONS, CANDIDATES)
    a = selection.select_features(train, values, features, 0.01, 0.5, 0.8, 10)
    mixed = pl.concat([train, test.with_columns(pl.col("condition"))])
    path = tmp_path / "mixed.parquet"
    mixed.write_parquet(path)
    (tmp_path / "values.json").write_text('["A", "B"]')
    cmd = [
        sys.executable,
        "-m",
        "valuegraph",
        "steering-select",
        "--train",
        str(path),
        "--values",
        str(tmp_path / "values.json"),
        "--conditions",
        "none",
        "sae:7",
        "--min-role-share",
        "0.5",
        "--min-sign-consistency",
        "0.8",
        "--max-features",
        "3",
        "--out",
        str(tmp_path / "sel.json"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 2 and "selection is train-only" in result.stderr
    assert a["kept"] == ["sae_c01"]

    # the workflow: dry-run DAG of selection.json on a config with SAE candidates
    config = tiny_config(
        REPO / "tests",  # never loaded: a dry run only
        REPO / "tests",
        conditions=["none", "sae:candidates", "value_prompt:Empathy:+"],
        steering={"n_candidates": 2},
    )
    config["items"]["path"] = str(REPO / "README.md")
    config["models"][0]["sae"] = {"source": "train", "hook": "blocks.0.hook_resid_post"}
    work = make_workdir(tmp_path / "wf", config)

    def dag(target):
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(work),
            "--configfile",
            str(work / "config.yaml"),
            "-n",
            "--forceall",
            "--printshellcmds",
            "--cores",
            "1",
            target,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    upstream = dag("results/tiny/steering/selection.json")
    assert (
        "steering-select" in upstream and "sae-candidates" in upstream and "sae-train" in upstream
    )
    assert "--split train" in upstream and "sae-activations" in upstream
    # one block per job, from its "rule NAME:" header; items and roles write both splits at once
    blocks = re.split(r"^(?:local)?rule (\w+):", upstream, flags=re.M)[1:]
    jobs = list(zip(blocks[::2], blocks[1::2], strict=True))
    assert {"collect", "sae_activations", "sae_candidates", "steering_select"} <= {
        n for n, _ in jobs
    }
    for name, job in jobs:
        if name in ("items", "roles", "fetch_items"):
            continue
        for needle in ("--split test", "responses/test", "matrix/test", "roles/test", "items/test"):
            assert needle not in job, job
    # the same check sees test inputs where they are used
    full = dag("results/tiny/steering/table1.csv")
    assert "matrix/test.parquet" in full and "--split test" in full


def test_table1_counts_and_cosine():
    train, values = steering_matrix("train", 40)
    test, _ = steering_matrix("test", 10, seed=2)
    features = selection.sae_condition_features(CONDITIONS, CANDIDATES)
    table = table1.table1(train, test, values, features, ["sae_c01"], 0.01)
    assert table.height == 3 * 2
    row = table.filter((pl.col("condition") == "sae_c01") & (pl.col("value") == "A")).row(
        0, named=True
    )
    assert (row["train_up"], row["train_down"], row["train_same"], row["train_n"]) == (32, 0, 8, 40)
    assert (row["test_up"], row["test_same"], row["test_n"]) == (8, 2, 10)
    assert row["kept"] is True and row["cosine"] == pytest.approx(1.0)
    inert = table.filter((pl.col("condition") == "sae_c03") & (pl.col("value") == "B")).row(
        0, named=True
    )
    assert inert["train_same"] == 40 and inert["cosine"] == pytest.approx(1.0)  # trivially similar


def test_targeted_picks_the_train_best_feature_and_compares_with_the_prompt():
    train, values = steering_matrix("train", 40)
    test, _ = steering_matrix("test", 10, seed=2)
    features = selection.sae_condition_features(CONDITIONS, CANDIDATES)
    prompts = selection.value_prompt_conditions(CONDITIONS)
    assert prompts == {("A", "+"): "value_prompt_a_pos"}
    table = targeted.targeted(train, test, values, features, ["sae_c01", "sae_c02"], prompts, 0.01)
    sae_a = table.filter(
        (pl.col("value") == "A")
        & (pl.col("direction") == "+")
        & (pl.col("method") == "sae_feature")
    )
    assert sae_a["condition"].to_list() == ["sae_c01"] and sae_a["feature"].to_list() == [11]
    assert sae_a["up"][0] == pytest.approx(0.8) and sae_a["off_target_mean_abs"][
        0
    ] == pytest.approx(0.0)
    prompt_a = table.filter((pl.col("method") == "value_prompt") & (pl.col("value") == "A"))
    assert prompt_a["up"][0] == pytest.approx(1.0)
    assert prompt_a["off_target_mean_abs"][0] == pytest.approx(0.1)
    pooled = table.filter(pl.col("value") == "(pooled)")
    assert sorted(pooled["method"].to_list()) == ["sae_feature", "value_prompt"]


def test_plots_and_no_torch(tmp_path):
    code = (
        "import sys, valuegraph.cli.steering, valuegraph.figures.steering\n"
        "import valuegraph.evaluation.selection, valuegraph.evaluation.side_effects\n"
        "import valuegraph.evaluation.table1, valuegraph.evaluation.targeted\n"
        "bad = [m for m in ('torch', 'transformers', 'sae_lens') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    train, values = steering_matrix("train", 20)
    test, _ = steering_matrix("test", 8, seed=2)
    features = selection.sae_condition_features(CONDITIONS, CANDIDATES)
    table = table1.table1(train, test, values, features, ["sae_c01"], 0.01)
    figures.plot_table1(table, values, str(tmp_path / "t1.png"), "m")
    effects = side_effects.side_effects(
        test,
        values,
        {"learned": graph([("A", "B", "directed")], values)},
        ["sae_c01"],
        ["value_prompt_a_pos"],
        0.01,
        20,
        20,
        0,
    )
    assert set(effects["setting"]) == {
        "role_prompt",
        "role_prompt_pairs",
        "sae",
        "sae_all_roles",
        "value_prompt",
    }
    figures.plot_side_effects(effects, str(tmp_path / "se.png"), "m")
    figures.plot_targeted(
        targeted.targeted(
            train, test, values, features, [], selection.value_prompt_conditions(CONDITIONS), 0.01
        ),
        str(tmp_path / "tg.png"),
        "m",
    )
    for name in ("t1.png", "se.png", "tg.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
