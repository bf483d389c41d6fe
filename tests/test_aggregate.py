"""The cross-model summary: graph similarity of every model pair, side effects side by side."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

from valuegraph import aggregate
from valuegraph.cli import main
from valuegraph.errors import DataError

NODES = ["A", "B", "C", "D"]


def graph(*edges, context=()):
    return {
        "nodes": [*NODES, *context],
        "edges": [{"source": s, "target": t, "type": "directed"} for s, t in edges],
        "context_nodes": list(context),
    }


def pick(table, a, b, metric):
    row = table.filter(
        (pl.col("model_a") == a) & (pl.col("model_b") == b) & (pl.col("metric") == metric)
    )
    assert row.height == 1, (a, b, metric, table)
    return row.row(0, named=True)


def test_graph_similarity_of_every_pair_in_config_order():
    graphs = {
        "m1": graph(("A", "B"), ("B", "C")),
        "m2": graph(("A", "B"), ("C", "B")),
        # JCI context nodes and their edges are left out of the comparison
        "m3": graph(("C", "D"), context=("I_x",)) | {"edges": graph(("C", "D"))["edges"]},
    }
    graphs["m3"]["edges"].append({"source": "I_x", "target": "A", "type": "directed"})
    table = aggregate.summarise(graphs, order=["m1", "m2", "m3"])
    assert table.schema == pl.Schema(aggregate.SUMMARY_SCHEMA)
    pairs = table.select("model_a", "model_b").unique(maintain_order=True).rows()
    assert pairs == [("m1", "m2"), ("m1", "m3"), ("m2", "m3")]
    assert set(table["section"]) == {"graph"}

    # same skeleton, one edge turned around
    assert pick(table, "m1", "m2", "shd")["value"] == 1
    assert pick(table, "m1", "m2", "skeleton_f1")["value"] == 1.0
    assert pick(table, "m1", "m2", "jaccard")["value"] == 1.0
    assert pick(table, "m1", "m2", "orientation_agreement")["value"] == 0.5
    # disjoint skeletons: every adjacency differs
    assert pick(table, "m1", "m3", "shd")["value"] == 3
    assert pick(table, "m1", "m3", "jaccard")["value"] == 0.0
    assert pick(table, "m1", "m3", "skeleton_f1")["value"] == 0.0
    # no shared pair: agreement undefined, written as missing
    assert pick(table, "m1", "m3", "orientation_agreement")["value"] is None
    edges = pick(table, "m1", "m3", "n_edges")
    assert (edges["value_a"], edges["value_b"], edges["value"]) == (2.0, 1.0, -1.0)


def test_single_model_has_no_pairs():
    table = aggregate.summarise({"only": graph(("A", "B"))})
    assert table.height == 0 and table.columns == list(aggregate.SUMMARY_SCHEMA)


def side_table(descendants, others):
    return pl.DataFrame(
        {
            "intervention": ["role", "sae"],
            "graph": ["learned", "learned"],
            "descendant_rate": descendants,
            "non_descendant_rate": others,
        }
    )


def test_side_effects_side_by_side_only_for_models_that_have_them():
    graphs = {m: graph(("A", "B")) for m in ["m1", "m2", "m3"]}
    tables = {"m1": side_table([0.5, 0.8], [0.1, 0.2]), "m3": side_table([0.25, 0.4], [0.3, 0.2])}
    table = aggregate.summarise(graphs, tables, order=["m1", "m2", "m3"])
    side = table.filter(pl.col("section") == "side_effects")
    assert set(side.select("model_a", "model_b").rows()) == {("m1", "m3")}
    row = pick(side, "m1", "m3", "intervention=sae;graph=learned/descendant_rate")
    assert (row["value_a"], row["value_b"]) == (0.8, 0.4)
    assert math.isclose(row["value"], -0.4)
    assert side.height == 4
    # graph rows of a pair come before its side-effect rows
    m13 = table.filter((pl.col("model_a") == "m1") & (pl.col("model_b") == "m3"))
    assert m13["section"].to_list() == ["graph"] * 6 + ["side_effects"] * 4


def test_side_effect_table_needs_unique_keys_and_numbers():
    dup = pl.DataFrame({"graph": ["learned", "learned"], "rate": [0.1, 0.2]})
    with pytest.raises(DataError, match="share the key"):
        aggregate.side_effect_metrics(dup, "m1 side effects")
    with pytest.raises(DataError, match="no numeric column"):
        aggregate.side_effect_metrics(pl.DataFrame({"graph": ["x"]}), "m1 side effects")


def test_cli_writes_the_table(tmp_path):
    paths = []
    for name, edges in [("a", [("A", "B")]), ("b", [("A", "B"), ("B", "C")])]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(graph(*edges)))
        paths.append(str(path))
    side = tmp_path / "side.csv"
    side_table([0.5, 0.8], [0.1, 0.2]).write_csv(side)
    out = tmp_path / "compare" / "models.csv"
    argv = ["compare-models", "--names", "a", "b", "--graphs", *paths, "--out", str(out)]
    assert main([*argv, "--side-effects", f"b={side}"]) == 0
    table = pl.read_csv(out)
    assert pick(table, "a", "b", "shd")["value"] == 1
    assert pick(table, "a", "b", "skeleton_f1")["value"] == pytest.approx(2 / 3)
    assert set(table["section"]) == {"graph"}  # only b has side effects: no pair has both
    # a name that is not a model: one clear error, exit status 2
    assert main([*argv, "--side-effects", f"c={side}"]) == 2
