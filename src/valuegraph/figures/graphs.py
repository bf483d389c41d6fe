"""Figures of value graphs: the graph on a circle, bootstrap edge frequencies, the skeleton-F1
heatmap of graph comparisons, and the circumplex MDS picture."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import polars as pl

from valuegraph.figures import pyplot
from valuegraph.io import write_with

EDGE_STYLE = {
    "directed": {"style": "solid", "arrows": True},
    "undirected": {"style": "dashed", "arrows": False},
    "bidirected": {"style": "dotted", "arrows": True},
}


def plot_graph(graph: dict[str, Any], out: str | Path, title: str = "") -> None:
    """Draw a value graph on a circle: solid = directed, dashed = undirected, dotted = bidirected.

    Edge width follows the bootstrap frequency when present.
    """
    plt = pyplot()
    nodes = graph["nodes"]
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    pos = {
        n: (math.cos(2 * math.pi * i / len(nodes)), math.sin(2 * math.pi * i / len(nodes)))
        for i, n in enumerate(nodes)
    }
    fig, ax = plt.subplots(figsize=(9, 9))
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color="#dbe9f6", node_size=900, edgecolors="#35608c")
    nx.draw_networkx_labels(
        g, {n: (x * 1.13, y * 1.13) for n, (x, y) in pos.items()}, ax=ax, font_size=9
    )
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


def plot_compare_heatmap(tables: list[pl.DataFrame], out: str | Path, method: str = "pc") -> None:
    """Skeleton F1 (colour, annotated with SHD) of each model's ``method`` graph against each
    reference and each other model."""
    plt = pyplot()
    frame = pl.concat(tables, how="diagonal_relaxed").filter(
        pl.col("graph").str.ends_with(f"/{method}")
    )
    frame = frame.with_columns(pl.col("graph").str.replace(f"/{method}$", "").alias("model"))
    models = list(dict.fromkeys(frame["model"].to_list()))
    against = list(
        dict.fromkeys(
            frame.filter(pl.col("against_kind") == "reference")["against"].to_list()
            + [m for m in frame.filter(pl.col("against_kind") == "model")["against"].to_list()]
        )
    )
    grid = np.full((len(models), max(len(against), 1)), np.nan)
    shd = np.full(grid.shape, -1)
    for r in frame.iter_rows(named=True):
        if r["against"] in against:
            i, j = models.index(r["model"]), against.index(r["against"])
            grid[i, j] = r["skeleton_f1"] if r["skeleton_f1"] is not None else np.nan
            shd[i, j] = r["shd"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * max(len(against), 1), 1.2 + 0.6 * len(models)))
    image = ax.imshow(np.nan_to_num(grid, nan=0.0), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i in range(len(models)):
        for j in range(len(against)):
            text = "n/a" if np.isnan(grid[i, j]) else f"{grid[i, j]:.2f}\nSHD {shd[i, j]}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(len(against)), against, rotation=30, ha="right")
    ax.set_yticks(range(len(models)), models)
    ax.set_title(f"Skeleton F1 of each model's {method} graph")
    fig.colorbar(image, ax=ax, label="skeleton F1")
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)


def plot_edge_frequencies(
    graph: dict[str, Any], out: str | Path, title: str = "", top: int = 40
) -> None:
    """Horizontal bars: bootstrap adjacency frequency of the most frequent node pairs, with the
    stability threshold as a line; pairs in the learned graph are dark."""
    plt = pyplot()
    freqs = graph.get("edge_frequencies") or []
    threshold = graph.get("params", {}).get("threshold", 0.5)
    pairs: dict[tuple[str, str], float] = {}
    for f in freqs:
        key = tuple(sorted((f["source"], f["target"])))
        pairs[key] = max(pairs.get(key, 0.0), f["adjacency_frequency"])
    learned = {tuple(sorted((e["source"], e["target"]))) for e in graph["edges"]}
    ranked = sorted(pairs.items(), key=lambda kv: -kv[1])[:top]
    fig, ax = plt.subplots(figsize=(7, 1 + 0.22 * max(len(ranked), 1)))
    if ranked:
        labels = [f"{a} — {b}" for (a, b), _ in ranked][::-1]
        values = [v for _, v in ranked][::-1]
        colours = ["#35608c" if pair in learned else "#a9c4de" for pair, _ in ranked][::-1]
        ax.barh(labels, values, color=colours)
        ax.axvline(threshold, color="#c0392b", lw=1, ls="--")
        ax.tick_params(axis="y", labelsize=7)
    else:
        ax.text(0.5, 0.5, "not bootstrapped", ha="center", va="center")
    n_ok = graph.get("params", {}).get("bootstrap_ok", 0)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"adjacency frequency over {n_ok} bootstrap resamples")
    ax.set_title(title or "Bootstrap edge frequencies")
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)


def plot_circumplex(fit: dict[str, Any], title: str = ""):
    """A matplotlib Figure: MDS positions (dots) against the theoretical circle (ring)."""
    from matplotlib.figure import Figure

    mds = fit["mds"]
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="0.8", lw=1)
    ax.scatter(mds["theory_x"], mds["theory_y"], marker="o", facecolors="none", edgecolors="0.5")
    ax.scatter(mds["x"], mds["y"], color="C0")
    for row in mds.iter_rows(named=True):
        ax.plot([row["theory_x"], row["x"]], [row["theory_y"], row["y"]], color="0.85", lw=0.8)
        ax.annotate(row["value"], (row["x"], row["y"]), fontsize=8, ha="center", va="bottom")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"Circumplex fit: Spearman ρ = {fit['spearman']:.2f}")
    fig.tight_layout()
    return fig
