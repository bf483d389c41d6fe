"""Cross-model summary: graph similarity between every pair of models, side effects side by side.

One tidy table, one row per (model pair, metric), pairs in config order (``model_a`` before
``model_b``):

* ``section = graph``: ``shd``, ``skeleton_f1``, ``jaccard`` and ``orientation_agreement`` of the
  two value graphs (JCI context nodes left out) in ``value``; ``n_edges`` and ``n_adjacencies``
  give each model's count in ``value_a`` / ``value_b`` and their difference (b - a) in ``value``.
* with a random-graph null (``--null-graphs``), the ``graph`` section also has
  ``skeleton_f1_null_mean``, ``skeleton_f1_p``, ``shd_null_mean`` and ``shd_p``: the same scores
  of two random DAGs with the two models' adjacency counts, and the share of random pairs as
  similar as the two models (at least as high an F1, at most as low an SHD);
* ``section = stability`` (where both models have a stability table): ``n_stable``, ``n_edges``,
  ``null_mean``, ``null_q95`` and ``p_value`` of the structure null
  (:func:`valuegraph.causal.uncertainty.stability_table`), per model in ``value_a`` / ``value_b``;
* ``section = persona`` (where both models have a persona-effect table): the overall persona
  sensitivity ``mean_abs_shift`` with its 95% CI (``ci_low``, ``ci_high``), the shift item noise
  alone gives (``noise_abs_shift``) and ``snr`` (:mod:`valuegraph.evaluation.persona`);
* ``section = side_effects`` (only for pairs where both models have a side-effect table): every
  numeric column of ``results/{model}/steering/side_effects.csv``, one row per line of that table;
  ``metric`` is ``<key>/<column>`` where ``<key>`` joins the line's text columns
  (``column=value`` with ``;``), ``value_a`` / ``value_b`` are the two models' numbers, ``value``
  their difference (b - a).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from valuegraph.causal import graphs as vg_graphs
from valuegraph.errors import DataError

SUMMARY_SCHEMA = {
    "model_a": pl.Utf8,
    "model_b": pl.Utf8,
    "section": pl.Utf8,
    "metric": pl.Utf8,
    "value_a": pl.Float64,
    "value_b": pl.Float64,
    "value": pl.Float64,
}
# Symmetric scores of a pair of graphs (precision/recall are not: F1 is their symmetric summary).
PAIR_METRICS = ("shd", "skeleton_f1", "jaccard", "orientation_agreement")
COUNT_METRICS = ("n_edges", "n_adjacencies")
NULL_METRICS = ("skeleton_f1_null_mean", "skeleton_f1_p", "shd_null_mean", "shd_p")
STABILITY_METRICS = ("n_stable", "n_edges", "null_mean", "null_q95", "p_value")
PERSONA_METRICS = ("mean_abs_shift", "ci_low", "ci_high", "noise_abs_shift", "snr")


def _float(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def graph_similarity(
    graphs: Mapping[str, dict[str, Any]], n_null: int = 0, seed: int = 0
) -> list[dict[str, Any]]:
    """Rows of the ``graph`` section for every pair of ``graphs`` (name -> GRAPH.json dict);
    with ``n_null`` > 0 also the random-graph null of skeleton F1 and SHD (two random DAGs with
    the two models' adjacency counts; :func:`valuegraph.causal.uncertainty.graph_null`)."""
    from valuegraph.causal.uncertainty import graph_null
    from valuegraph.seeding import derive_seed

    rows = []
    systems = {name: vg_graphs.system_graph(g) for name, g in graphs.items()}
    for (a, ga), (b, gb) in itertools.combinations(systems.items(), 2):
        scores = vg_graphs.compare(ga, gb)
        for metric in PAIR_METRICS:
            rows.append(_row(a, b, "graph", metric, None, None, _float(scores[metric])))
        if n_null > 0:
            null = graph_null(ga, gb, n_null, derive_seed(seed, "compare-models", a, b), True)
            for metric in NULL_METRICS:
                rows.append(_row(a, b, "graph", metric, None, None, _float(null[metric])))
        for metric in COUNT_METRICS:
            va, vb = float(scores[metric]), float(scores[f"{metric}_against"])
            rows.append(_row(a, b, "graph", metric, va, vb, vb - va))
    return rows


def _row(a, b, section, metric, value_a, value_b, value) -> dict[str, Any]:
    return {
        "model_a": a,
        "model_b": b,
        "section": section,
        "metric": metric,
        "value_a": value_a,
        "value_b": value_b,
        "value": value,
    }


def side_effect_metrics(
    table: pl.DataFrame, source: str = "side_effects"
) -> dict[str, float | None]:
    """Flatten a side-effect table to ``{"<key>/<column>": number}`` (key: its text columns)."""
    numeric = [c for c, t in table.schema.items() if t.is_numeric() and t != pl.Boolean]
    keys = [c for c in table.columns if c not in numeric]
    if not numeric:
        raise DataError(f"{source}: no numeric column to compare (columns: {table.columns})")
    metrics: dict[str, float | None] = {}
    for line in table.iter_rows(named=True):
        key = ";".join(f"{k}={line[k]}" for k in keys)
        for column in numeric:
            name = f"{key}/{column}" if key else column
            if name in metrics:
                raise DataError(f"{source}: two lines share the key {key!r}; cannot pair them")
            metrics[name] = _float(line[column])
    return metrics


def side_effects_side_by_side(tables: Mapping[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Rows of the ``side_effects`` section for every pair of models that both have a table."""
    flat = {name: side_effect_metrics(t, f"{name} side effects") for name, t in tables.items()}
    rows = []
    for (a, ma), (b, mb) in itertools.combinations(flat.items(), 2):
        for metric in [*ma, *(m for m in mb if m not in ma)]:
            va, vb = ma.get(metric), mb.get(metric)
            rows.append(_row(a, b, "side_effects", metric, va, vb, _diff(va, vb)))
    return rows


def per_model_side_by_side(
    numbers: Mapping[str, Mapping[str, float | None]], section: str
) -> list[dict[str, Any]]:
    """Rows of a per-model section (``stability``, ``persona``): each metric of model a and
    model b in ``value_a`` / ``value_b``, their difference (b - a) in ``value``."""
    rows = []
    for (a, ma), (b, mb) in itertools.combinations(numbers.items(), 2):
        for metric in [*ma, *(m for m in mb if m not in ma)]:
            va, vb = ma.get(metric), mb.get(metric)
            rows.append(_row(a, b, section, metric, va, vb, _diff(va, vb)))
    return rows


def stability_numbers(table: pl.DataFrame) -> dict[str, float | None]:
    """The summary line of a stability table
    (:func:`valuegraph.causal.uncertainty.stability_table`)."""
    summary = table.filter(pl.col("row") == "summary").row(0, named=True)
    return {m: _float(summary.get(m)) for m in STABILITY_METRICS}


def persona_numbers(table: pl.DataFrame) -> dict[str, float | None]:
    """The overall line of a persona-effect table (:mod:`valuegraph.evaluation.persona`)."""
    from valuegraph.evaluation.persona import ALL

    overall = table.filter(pl.col("value") == ALL).row(0, named=True)
    return {m: _float(overall.get(m)) for m in PERSONA_METRICS}


SECTION_ORDER = ("graph", "stability", "persona", "side_effects")


def summarise(
    graphs: Mapping[str, dict[str, Any]],
    side_effects: Mapping[str, pl.DataFrame] | None = None,
    order: Sequence[str] | None = None,
    stability: Mapping[str, pl.DataFrame] | None = None,
    persona: Mapping[str, pl.DataFrame] | None = None,
    n_null: int = 0,
    seed: int = 0,
) -> pl.DataFrame:
    """The cross-model table (see the module docstring); ``order`` fixes the pair order."""
    order = list(order or graphs)
    named = set(side_effects or {}) | set(stability or {}) | set(persona or {}) | set(graphs)
    unknown = named - set(order)
    if unknown:
        raise DataError(f"models {sorted(unknown)} not in {order}")
    graphs = {m: graphs[m] for m in order if m in graphs}
    tables = {m: side_effects[m] for m in order if side_effects and m in side_effects}
    stable = {m: stability_numbers(stability[m]) for m in order if stability and m in stability}
    moved = {m: persona_numbers(persona[m]) for m in order if persona and m in persona}
    rows = (
        graph_similarity(graphs, n_null, seed)
        + per_model_side_by_side(stable, "stability")
        + per_model_side_by_side(moved, "persona")
        + side_effects_side_by_side(tables)
    )
    rank = {m: i for i, m in enumerate(order)}
    rows.sort(
        key=lambda r: (rank[r["model_a"]], rank[r["model_b"]], SECTION_ORDER.index(r["section"]))
    )
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA, orient="row")
