"""Tests of valuegraph.causal.graphs, valuegraph.causal.circumplex and the ``valuegraph
compare-graphs`` command."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import PAPER_VALUES

from valuegraph import cli
from valuegraph.causal.circumplex import circumplex_fit
from valuegraph.causal.graphs import (
    adjacencies,
    compare,
    compare_graphs,
    descendants,
    jaccard,
    orientation_scores,
    read_reference_graph,
    shd,
    skeleton_scores,
    system_graph,
)
from valuegraph.errors import DataError
from valuegraph.figures.graphs import plot_circumplex
from valuegraph.io import write_json
from valuegraph.values import SCHWARTZ_ORDER

ROOT = Path(__file__).resolve().parents[1]
REFS = ROOT / "config" / "reference_graphs"
VALUES = PAPER_VALUES

# The paper's post-processed graphs (spec §9); "<->" is two directed edges.
GEMMA = """Empathy->Achievement, Resilience->Achievement, Anxiety Disorder->Aesthetic,
Empathy->Aesthetic, Breadth of Interest->Anxiety Disorder, Resilience->Anxiety Disorder,
Theoretical->Anxiety Disorder, Religious->Breadth of Interest,
Uncertainty Avoidance->Breadth of Interest, Understanding->Breadth of Interest, Empathy->Economic,
Religious->Empathy, Social Cynicism->Empathy, Theoretical->Empathy, Organization<->Positive coping,
Religious->Political, Social->Political, Positive coping<->Religious,
Social Complexity->Resilience, Social Cynicism->Resilience, Social<->Uncertainty Avoidance,
Social Complexity->Theoretical, Uncertainty Avoidance->Social Cynicism,
Understanding->Social Cynicism, Uncertainty Avoidance->Theoretical"""
LLAMA = """Achievement->Breadth of Interest, Positive coping->Achievement, Religious->Achievement,
Anxiety Disorder->Aesthetic, Political->Aesthetic, Breadth of Interest->Anxiety Disorder,
Anxiety Disorder->Organization, Economic->Resilience, Resilience->Empathy, Empathy->Social,
Organization->Positive coping, Organization->Social Cynicism, Political->Social Cynicism,
Theoretical->Positive coping, Religious<->Uncertainty Avoidance, Understanding->Resilience,
Social Cynicism->Social Complexity, Social Complexity->Understanding"""


def _paper_graph(text: str) -> dict:
    edges = []
    for item in " ".join(text.split("\n")).split(","):
        if "<->" in item:
            a, b = (x.strip() for x in item.split("<->"))
            edges += [(a, b), (b, a)]
        else:
            a, b = (x.strip() for x in item.split("->"))
            edges.append((a, b))
    return _graph(VALUES, [(a, b, "directed") for a, b in edges])


def _graph(nodes, triples):
    return {
        "nodes": list(nodes),
        "edges": [{"source": s, "target": t, "type": k} for s, t, k in triples],
    }


@pytest.fixture(scope="module")
def refs() -> dict[str, dict]:
    return {p.stem: read_reference_graph(p, VALUES) for p in sorted(REFS.glob("*.tsv"))}


# --------------------------------------------------------------------------- reference files


def test_reference_graphs_match_the_spec(refs):
    assert sorted(refs) == ["human1", "standard_small", "valuebench"]
    assert len(refs["human1"]["edges"]) == 18
    assert len(refs["standard_small"]["edges"]) == 10
    assert [(e["source"], e["target"]) for e in refs["valuebench"]["edges"]] == [
        ("Empathy", "Understanding")
    ]
    assert refs["human1"]["nodes"] == VALUES
    assert {e["type"] for g in refs.values() for e in g["edges"]} == {"directed"}
    for path in REFS.glob("*.tsv"):
        assert path.read_text().startswith("# "), f"{path.name} lacks a provenance comment"


def test_unknown_value_names_file_and_value(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("# test\nsource\ttarget\nEmpathy\tKindness\n")
    with pytest.raises(DataError, match=r"bad\.tsv: unknown value 'Kindness'"):
        read_reference_graph(path, VALUES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("from\tto\nA\tB\n", "header"),
        ("source\ttarget\nA\tA\n", "self-loop"),
        ("source\ttarget\nA\tB\nA\tB\n", "duplicate edge"),
        ("source\ttarget\nA\n", "edge line 2"),
    ],
)
def test_malformed_reference_files(tmp_path, text, message):
    path = tmp_path / "r.tsv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_reference_graph(path)


def test_reference_without_node_list_uses_edge_order(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text("source\ttarget\nB\tA\nA\tC\n")
    assert read_reference_graph(path)["nodes"] == ["B", "A", "C"]


# --------------------------------------------------------------------------- the spec's numbers


def test_human_references_barely_agree(refs):
    """Spec §10: human1 vs standard_small share one adjacency, with opposite directions."""
    h, s = refs["human1"], refs["standard_small"]
    o = orientation_scores(h, s)
    assert o["n_shared"] == 1 and o["n_opposite"] == 1 and o["n_same_orientation"] == 0
    assert jaccard(h, s) == pytest.approx(1 / 27)
    assert shd(h, s) == 27
    assert skeleton_scores(h, s) == pytest.approx(
        {"skeleton_precision": 1 / 18, "skeleton_recall": 1 / 10, "skeleton_f1": 2 / 28}
    )


def test_paper_graph_overlaps_match_the_spec(refs):
    """Spec §10 adjacency overlaps, recomputed from the §9 edge lists."""
    gemma, llama = _paper_graph(GEMMA), _paper_graph(LLAMA)
    assert len(gemma["edges"]) == 28 and len(adjacencies(gemma)) == 25
    assert len(llama["edges"]) == 19 and len(adjacencies(llama)) == 18
    assert orientation_scores(gemma, refs["human1"])["n_shared"] == 0
    o = orientation_scores(llama, refs["human1"])
    assert o["n_shared"] == 2 and o["n_same_orientation"] == 0
    assert orientation_scores(gemma, refs["standard_small"])["n_shared"] == 1
    assert orientation_scores(llama, refs["standard_small"])["n_shared"] == 3
    assert orientation_scores(gemma, llama)["n_shared"] == 3
    assert jaccard(gemma, llama) == pytest.approx(3 / 40)


def test_compare_graphs_table(refs):
    table = compare_graphs(
        {"gemma": _paper_graph(GEMMA), "llama": _paper_graph(LLAMA)}, references=refs
    )
    assert table.height == 2 * 3 + 2
    assert table.filter(pl.col("against_kind") == "model").height == 2
    row = table.filter((pl.col("graph") == "llama") & (pl.col("against") == "standard_small"))
    assert row["n_shared"].item() == 3 and row["n_adjacencies"].item() == 18
    assert row["skeleton_precision"].item() == pytest.approx(3 / 18)
    assert row["skeleton_recall"].item() == pytest.approx(3 / 10)
    for col in ("skeleton_precision", "skeleton_recall", "jaccard"):
        assert table[col].is_between(0, 1).all()
    assert {"shd", "skeleton_f1", "orientation_agreement"} <= set(table.columns)


# --------------------------------------------------------------------------- metrics by hand


def test_metrics_on_a_hand_example():
    truth = _graph("ABCD", [("A", "B", "directed"), ("B", "C", "directed"), ("C", "D", "directed")])
    learned = _graph(
        "ABCD",
        [
            ("A", "B", "directed"),  # right
            ("C", "B", "directed"),  # reversed
            ("A", "D", "undirected"),  # extra
        ],
    )
    # missing C-D, reversed B-C, extra A-D
    assert shd(learned, truth) == 3
    assert shd(truth, truth) == 0
    assert skeleton_scores(learned, truth) == pytest.approx(
        {"skeleton_precision": 2 / 3, "skeleton_recall": 2 / 3, "skeleton_f1": 2 / 3}
    )
    o = orientation_scores(learned, truth)
    assert o["orientation_accuracy"] == 0.5 and o["orientation_agreement"] == 0.5
    assert o["n_opposite"] == 1
    assert jaccard(learned, truth) == pytest.approx(2 / 4)
    row = compare(learned, truth)
    assert row["n_edges"] == 3 and row["n_adjacencies_against"] == 3


def test_two_cycle_and_undirected_are_different_states():
    a = _graph("AB", [("A", "B", "directed"), ("B", "A", "directed")])
    b = _graph("AB", [("B", "A", "undirected")])
    c = _graph("AB", [("A", "B", "undirected")])
    assert shd(a, b) == 1 and shd(b, c) == 0
    assert orientation_scores(a, b)["orientation_agreement"] == 0.0


def test_empty_graphs():
    empty = _graph("AB", [])
    one = _graph("AB", [("A", "B", "directed")])
    assert jaccard(empty, empty) == 1.0
    s = skeleton_scores(empty, one)
    assert math.isnan(s["skeleton_precision"]) and s["skeleton_recall"] == 0.0
    assert math.isnan(s["skeleton_f1"])


def test_descendants_and_system_graph():
    g = _graph(
        ["A", "B", "C", "condition=f1"],
        [("A", "B", "directed"), ("condition=f1", "A", "directed"), ("B", "C", "undirected")],
    )
    g["context_nodes"] = ["condition=f1"]
    assert descendants(g)["A"] == {"B", "C"}
    assert descendants(g)["condition=f1"] == {"A", "B", "C"}
    sys_g = system_graph(g)
    assert sys_g["nodes"] == ["A", "B", "C"] and len(sys_g["edges"]) == 2


# --------------------------------------------------------------------------- circumplex


def _circumplex_corr(order):
    pos = np.array([SCHWARTZ_ORDER.index(v) for v in order])
    diff = np.abs(pos[:, None] - pos[None, :])
    steps = np.minimum(diff, 10 - diff)
    return 0.1 + 0.5 * np.cos(steps * 2 * np.pi / 10) + 0.4 * np.eye(len(order))


def test_perfect_circumplex_fits():
    names = list(SCHWARTZ_ORDER)[::-1]  # any column order
    fit = circumplex_fit(_circumplex_corr(names), names)
    assert fit["spearman"] == pytest.approx(1.0)
    assert fit["n_pairs"] == 45
    mds = fit["mds"]
    assert mds["value"].to_list() == list(SCHWARTZ_ORDER)
    pos = mds.select("x", "y").to_numpy()
    theory = mds.select("theory_x", "theory_y").to_numpy()
    assert np.allclose(pos, theory, atol=1e-6)
    assert fit["pairs"].filter(pl.col("steps_apart") == 5)["correlation"].max() < 0


def test_scrambled_structure_fits_worse():
    rng = np.random.default_rng(0)
    shuffled = list(rng.permutation(SCHWARTZ_ORDER))
    fit = circumplex_fit(_circumplex_corr(shuffled), list(SCHWARTZ_ORDER))
    assert fit["spearman"] < 0.5


def test_circumplex_from_scores_and_plot():
    rng = np.random.default_rng(1)
    angles = np.arange(10) * 2 * np.pi / 10
    latent = rng.normal(size=(500, 2))
    scores = latent @ np.vstack([np.cos(angles), np.sin(angles)]) + 0.5 * rng.normal(size=(500, 10))
    frame = pl.DataFrame({v: scores[:, j] for j, v in enumerate(SCHWARTZ_ORDER)})
    fit = circumplex_fit(frame)
    assert fit["spearman"] > 0.9
    fig = plot_circumplex(fit)
    assert fig.axes and fig.axes[0].get_title().startswith("Circumplex fit")


def test_circumplex_needs_the_ten_values():
    names = list(SCHWARTZ_ORDER[:9]) + ["Kindness"]
    with pytest.raises(DataError, match="Kindness"):
        circumplex_fit(np.eye(10), names)


# --------------------------------------------------------------------------- CLI


def test_cli_compare_graphs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["valuegraph.cli.compare"])
    g1, g2 = tmp_path / "gemma.json", tmp_path / "llama.json"
    write_json(_paper_graph(GEMMA), g1)
    write_json(_paper_graph(LLAMA), g2)
    out = tmp_path / "table.csv"
    refs = [str(p) for p in sorted(REFS.glob("*.tsv"))]
    argv = ["compare-graphs", str(g1), str(g2), "--names", "G", "L", "--references", *refs]
    assert cli.main([*argv, "--out", str(out)]) == 0
    table = pl.read_csv(out)
    assert table.height == 8
    assert set(table["against"]) == {"human1", "standard_small", "valuebench", "G", "L"}

    bad = tmp_path / "bad.tsv"
    bad.write_text("source\ttarget\nEmpathy\tKindness\n")
    argv = ["compare-graphs", str(g1), "--references", str(bad), "--out", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown value 'Kindness'" in err and "bad.tsv" in err and "Traceback" not in err
