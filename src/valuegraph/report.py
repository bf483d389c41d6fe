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


def _circumplex_rows(matrix: pl.DataFrame, values: list[str]) -> pl.DataFrame:
    rows = matrix.filter(pl.col("condition") == "none") if "condition" in matrix.columns else matrix
    return rows.select(values).drop_nulls().drop_nans()


def circumplex_outputs(
    matrix: pl.DataFrame,
    out_csv: str | Path,
    out_png: str | Path,
    title: str = "",
    centred: pl.DataFrame | None = None,
    n_permutations: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Circumplex fit of the unsteered value scores (rows with a missing value dropped): the
    pair table (with the fit statistic repeated in each row) and the MDS figure.

    Beside the raw fit: ``permutation_p``, the share of ``n_permutations`` random relabellings of
    the values that fit at least as well (:func:`valuegraph.causal.uncertainty.circumplex_null`),
    and ``mean_pairwise_r`` of the 10 scores (a general yes-tendency makes every pair
    correlate). With ``centred`` (the matrix of :func:`valuegraph.centring.centred_matrix`) the
    same numbers on the centred scores, in ``*_centred`` columns; the figure then shows the
    centred fit, the scoring the PVQ's authors prescribe."""
    import numpy as np

    from valuegraph.causal.circumplex import circumplex_fit
    from valuegraph.causal.uncertainty import circumplex_null, mean_pairwise_r
    from valuegraph.figures.graphs import plot_circumplex
    from valuegraph.io import write_csv
    from valuegraph.seeding import derive_seed
    from valuegraph.values import SCHWARTZ_ORDER

    values = [v for v in SCHWARTZ_ORDER if v in matrix.columns]

    def fit_of(frame: pl.DataFrame, label: str) -> tuple[dict[str, Any], list[pl.Expr]]:
        rows = _circumplex_rows(frame, values)
        fit = circumplex_fit(rows, values)
        data = rows.select(list(SCHWARTZ_ORDER)).to_numpy()
        corr = np.corrcoef(data, rowvar=False)
        _, _, p = circumplex_null(corr, n_permutations, derive_seed(seed, "circumplex", label))
        suffix = "" if label == "raw" else f"_{label}"
        columns = [
            pl.lit(fit["spearman"]).alias(f"spearman{suffix}"),
            pl.lit(fit["p_value"]).alias(f"p_value{suffix}"),
            pl.lit(p, dtype=pl.Float64).alias(f"permutation_p{suffix}"),
            pl.lit(mean_pairwise_r(data)).alias(f"mean_pairwise_r{suffix}"),
            pl.lit(rows.height).alias(f"n_rows{suffix}"),
        ]
        if suffix:
            columns.insert(0, pl.Series(f"correlation{suffix}", fit["pairs"]["correlation"]))
        return fit, columns

    fit, raw_columns = fit_of(matrix, "raw")
    table = fit["pairs"].with_columns(*raw_columns, pl.lit(n_permutations).alias("n_permutations"))
    shown, label = fit, "raw scores"
    if centred is not None:
        fit_c, centred_columns = fit_of(centred, "centred")
        table = table.with_columns(*centred_columns)
        shown, label = fit_c, "centred scores"
    write_csv(table, out_csv)
    heading = f"Circumplex fit ({label}): Spearman ρ = {shown['spearman']:.2f}"
    fig = plot_circumplex(shown, f"{title}\n{heading}" if title else heading)
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out_png)
    return fit
