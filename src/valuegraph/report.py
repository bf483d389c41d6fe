"""The report's tables: the per-value summary, the discovery-method table, and the circumplex
fit (its table and figure). Figures: :mod:`valuegraph.figures`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from valuegraph.io import write_with
from valuegraph.matrix import value_columns


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
    from valuegraph.causal import graphs as vg_graphs

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


def circumplex_outputs(
    matrix: pl.DataFrame, out_csv: str | Path, out_png: str | Path, title: str = ""
) -> dict[str, Any]:
    """Circumplex fit of the unsteered value scores (rows with a missing value dropped): the
    pair table (with the fit statistic repeated in each row) and the MDS figure."""
    from valuegraph.causal.circumplex import circumplex_fit
    from valuegraph.figures.graphs import plot_circumplex
    from valuegraph.io import write_csv
    from valuegraph.values import SCHWARTZ_ORDER

    values = [v for v in SCHWARTZ_ORDER if v in matrix.columns]
    rows = matrix.filter(pl.col("condition") == "none") if "condition" in matrix.columns else matrix
    rows = rows.select(values).drop_nulls().drop_nans()
    fit = circumplex_fit(rows, values)
    table = fit["pairs"].with_columns(
        pl.lit(fit["spearman"]).alias("spearman"),
        pl.lit(fit["p_value"]).alias("p_value"),
        pl.lit(rows.height).alias("n_rows"),
    )
    write_csv(table, out_csv)
    fig = plot_circumplex(fit, title or f"Circumplex fit: Spearman ρ = {fit['spearman']:.2f}")
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out_png)
    return fit
