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


# --------------------------------------------------------------------------- discovery comparisons


def method_table(
    method_graphs: dict[str, dict[str, Any]], comparisons: pl.DataFrame
) -> pl.DataFrame:
    """One row per discovery method: edge counts by type, bootstrap stability, agreement with
    PC and skeleton F1 / SHD against each reference (from the compare table)."""
    from valuegraph import graphs as vg_graphs

    pc = method_graphs.get("pc")
    rows = []
    for method, graph in method_graphs.items():
        system = vg_graphs.system_graph(graph)
        kinds = [e["type"] for e in system["edges"]]
        row: dict[str, Any] = {
            "method": method,
            "n_edges": len(kinds),
            "n_directed": kinds.count("directed"),
            "n_undirected": kinds.count("undirected"),
            "n_other": len(kinds) - kinds.count("directed") - kinds.count("undirected"),
            "n_stable": len(
                vg_graphs.system_graph({**graph, "edges": graph["stable_edges"]})["edges"]
            )
            if "stable_edges" in graph
            else None,
            "skeleton_f1_vs_pc": vg_graphs.skeleton_scores(system, vg_graphs.system_graph(pc))[
                "skeleton_f1"
            ]
            if pc is not None
            else None,
            "shd_vs_pc": vg_graphs.shd(system, vg_graphs.system_graph(pc))
            if pc is not None
            else None,
        }
        refs = comparisons.filter(
            (pl.col("against_kind") == "reference") & pl.col("graph").str.ends_with(f"/{method}")
        )
        for ref in refs.iter_rows(named=True):
            row[f"skeleton_f1_vs_{ref['against']}"] = ref["skeleton_f1"]
            row[f"shd_vs_{ref['against']}"] = ref["shd"]
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def plot_compare_heatmap(tables: list[pl.DataFrame], out: str | Path, method: str = "pc") -> None:
    """Skeleton F1 (colour, annotated with SHD) of each model's ``method`` graph against each
    reference and each other model."""
    import numpy as np

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


def circumplex_outputs(
    matrix: pl.DataFrame, out_csv: str | Path, out_png: str | Path, title: str = ""
) -> dict[str, Any]:
    """Circumplex fit of the unsteered value scores (rows with a missing value dropped): the
    pair table (with the fit statistic repeated in each row) and the MDS figure."""
    from valuegraph import graphs as vg_graphs
    from valuegraph.io import write_csv

    values = [v for v in vg_graphs.SCHWARTZ_ORDER if v in matrix.columns]
    rows = matrix.filter(pl.col("condition") == "none") if "condition" in matrix.columns else matrix
    rows = rows.select(values).drop_nulls().drop_nans()
    fit = vg_graphs.circumplex_fit(rows, values)
    table = fit["pairs"].with_columns(
        pl.lit(fit["spearman"]).alias("spearman"),
        pl.lit(fit["p_value"]).alias("p_value"),
        pl.lit(rows.height).alias("n_rows"),
    )
    write_csv(table, out_csv)
    fig = vg_graphs.plot_circumplex(
        fit, title or f"Circumplex fit: Spearman ρ = {fit['spearman']:.2f}"
    )
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out_png)
    return fit


def plot_effects(
    role: pl.DataFrame, steering: pl.DataFrame, out: str | Path, title: str = ""
) -> None:
    """Heatmap of DoWhy effect estimates: rows are treatments (the role prompt, each steering
    condition), columns values; a dot marks a 95% CI that excludes 0."""
    import numpy as np

    frames = [f for f in (role, steering) if f.height]
    if not frames:
        table = pl.DataFrame(
            {"treatment": [], "outcome": [], "estimate": [], "ci_low": [], "ci_high": []}
        )
    else:
        cols = ["treatment", "outcome", "estimate", "ci_low", "ci_high"]
        table = pl.concat([f.select(cols).cast({"treatment": pl.String}) for f in frames])
    treatments = list(dict.fromkeys(table["treatment"].to_list())) or ["(none)"]
    outcomes = list(dict.fromkeys(table["outcome"].to_list())) or ["(none)"]
    grid = np.full((len(treatments), len(outcomes)), np.nan)
    sig = np.zeros_like(grid, dtype=bool)
    for t, o, est, lo, hi in table.iter_rows():
        i, j = treatments.index(t), outcomes.index(o)
        grid[i, j] = est
        sig[i, j] = lo is not None and hi is not None and (lo > 0 or hi < 0)
    bound = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(outcomes), 1.6 + 0.45 * len(treatments)))
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    ys, xs = np.nonzero(sig)
    ax.scatter(xs, ys, s=12, c="black", marker="o")
    ax.set_xticks(range(len(outcomes)), outcomes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(treatments)), treatments, fontsize=8)
    fig.colorbar(image, ax=ax, label="effect on the value score")
    ax.set_title(
        f"{title} DoWhy effects vs unsteered / no role (dot: 95% CI excludes 0)", fontsize=10
    )
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)
