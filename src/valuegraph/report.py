"""Figures and summary tables for the report (matplotlib, headless; no torch)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import polars as pl  # noqa: E402

from valuegraph.io import write_with  # noqa: E402
from valuegraph.matrix import value_columns  # noqa: E402

EDGE_STYLE = {
    "directed": {"style": "solid", "arrows": True},
    "undirected": {"style": "dashed", "arrows": False},
    "bidirected": {"style": "dotted", "arrows": True},
}


def plot_graph(graph: dict[str, Any], out: str | Path, title: str = "") -> None:
    """Draw a value graph on a circle: solid = directed, dashed = undirected, dotted = bidirected.

    Edge width follows the bootstrap frequency when present.
    """
    nodes = graph["nodes"]
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    pos = {
        n: (math.cos(2 * math.pi * i / len(nodes)), math.sin(2 * math.pi * i / len(nodes)))
        for i, n in enumerate(nodes)
    }
    fig, ax = plt.subplots(figsize=(9, 9))
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color="#dbe9f6", node_size=900, edgecolors="#35608c")
    nx.draw_networkx_labels(g, {n: (x * 1.13, y * 1.13) for n, (x, y) in pos.items()}, ax=ax, font_size=9)
    for kind, style in EDGE_STYLE.items():
        edges = [e for e in graph["edges"] if e["type"] == kind]
        if not edges:
            continue
        widths = [1 + 2 * e.get("frequency", 1.0) for e in edges]
        nx.draw_networkx_edges(
            g,
            pos,
            edgelist=[(e["source"], e["target"]) for e in edges],
            ax=ax,
            style=style["style"],
            arrows=style["arrows"],
            arrowstyle="-|>" if kind == "directed" else "<|-|>" if kind == "bidirected" else "-",
            arrowsize=14,
            width=widths,
            node_size=900,
            edge_color="#444444",
        )
    n_edges = len(graph["edges"])
    ax.set_title(f"{title} value graph: {len(nodes)} values, {n_edges} edges", fontsize=12)
    ax.set_axis_off()
    ax.set_xlim(-1.45, 1.45)
    ax.set_ylim(-1.3, 1.3)
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)


def summary_table(
    train: pl.DataFrame, test: pl.DataFrame, graph: dict[str, Any], role_effects: pl.DataFrame
) -> pl.DataFrame:
    """One row per value: mean score on train and test, graph degree, role-prompt effect."""
    values = value_columns(train)
    indeg = {v: 0 for v in values}
    outdeg = {v: 0 for v in values}
    for edge in graph["edges"]:
        if edge["source"] in outdeg:
            outdeg[edge["source"]] += 1
        if edge["target"] in indeg:
            indeg[edge["target"]] += 1
    effect = {}
    if role_effects.height and {"outcome", "estimate"} <= set(role_effects.columns):
        effect = dict(role_effects.select("outcome", "estimate").iter_rows())
    unsteered_train = train.filter(pl.col("condition") == "none")
    unsteered_test = test.filter(pl.col("condition") == "none")
    return pl.DataFrame(
        {
            "value": values,
            "train_mean": [unsteered_train[v].mean() for v in values],
            "train_sd": [unsteered_train[v].std() for v in values],
            "test_mean": [unsteered_test[v].mean() for v in values],
            "in_degree": [indeg[v] for v in values],
            "out_degree": [outdeg[v] for v in values],
            "role_effect": [effect.get(v) for v in values],
        },
        schema_overrides={"role_effect": pl.Float64},
    )
