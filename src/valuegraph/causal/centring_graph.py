"""What centring on each respondent's mean answer (:mod:`valuegraph.centring`) does to the value
graph: discovery rerun on the centred matrix with the raw graph's settings, and one table row
comparing the two (mean pairwise correlation before and after, SHD, skeleton F1, the
adjacencies only one of them has)."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import polars as pl

from valuegraph.causal import graphs as vg_graphs
from valuegraph.causal.uncertainty import mean_pairwise_r
from valuegraph.errors import DataError

log = logging.getLogger(__name__)

SCHEMA = {
    "status": pl.Utf8,
    "n_rows": pl.Int64,
    "n_values": pl.Int64,
    "mean_pairwise_r_raw": pl.Float64,
    "mean_pairwise_r_centred": pl.Float64,
    "acquiescence_mean": pl.Float64,
    "acquiescence_sd": pl.Float64,
    "n_edges_raw": pl.Int64,
    "n_edges_centred": pl.Int64,
    "n_adjacencies_raw": pl.Int64,
    "n_adjacencies_centred": pl.Int64,
    "shd": pl.Int64,
    "skeleton_f1": pl.Float64,
    "only_raw": pl.Utf8,
    "only_centred": pl.Utf8,
    "note": pl.Utf8,
}


def _pairs(pairs: set[frozenset[str]], order: list[str]) -> str:
    rank = {n: i for i, n in enumerate(order)}
    named = sorted(tuple(sorted(p, key=rank.get)) for p in pairs)
    return "; ".join(f"{a} — {b}" for a, b in sorted(named, key=lambda p: (rank[p[0]], rank[p[1]])))


def _finite_rows(frame: pl.DataFrame, values: list[str]) -> np.ndarray:
    data = frame.select(values).cast(pl.Float64).to_numpy()
    return data[np.all(np.isfinite(data), axis=1)]


def centring_comparison(
    raw: pl.DataFrame,
    centred: pl.DataFrame,
    values: list[str],
    raw_graph: dict[str, Any],
    discover_kwargs: dict[str, Any],
    acquiescence: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row: the raw and centred matrices' mean pairwise r over ``values`` (rows with a
    missing value left out), discovery on ``centred`` with ``discover_kwargs`` and its
    difference from ``raw_graph`` (JCI context nodes left out). When the centred values are
    linearly dependent (every item keyed one way) or otherwise degenerate, ``status`` says
    ``not estimable`` and ``note`` why; the correlations are still reported."""
    from valuegraph.causal.discovery import discover

    raw_data, centred_data = _finite_rows(raw, values), _finite_rows(centred, values)
    row: dict[str, Any] = {
        "n_rows": int(centred_data.shape[0]),
        "n_values": len(values),
        "mean_pairwise_r_raw": mean_pairwise_r(raw_data),
        "mean_pairwise_r_centred": mean_pairwise_r(centred_data),
        "acquiescence_mean": math.nan,
        "acquiescence_sd": math.nan,
    }
    if acquiescence is not None and acquiescence.height:
        row["acquiescence_mean"] = float(acquiescence["acquiescence"].mean())
        row["acquiescence_sd"] = float(acquiescence["acquiescence"].std() or 0.0)
    raw_system = vg_graphs.system_graph(raw_graph)
    row["n_edges_raw"] = len(raw_system["edges"])
    row["n_adjacencies_raw"] = len(vg_graphs.adjacencies(raw_system))
    try:
        graph = discover(centred, **discover_kwargs)
    except DataError as exc:
        log.warning("centred discovery not estimable: %s", exc)
        return pl.DataFrame(
            [{**row, "status": "not estimable", "note": str(exc)}], schema=SCHEMA, orient="row"
        )
    system = vg_graphs.system_graph(graph)
    a_raw, a_centred = vg_graphs.adjacencies(raw_system), vg_graphs.adjacencies(system)
    row.update(
        status="ok",
        n_edges_centred=len(system["edges"]),
        n_adjacencies_centred=len(a_centred),
        shd=vg_graphs.shd(raw_system, system),
        skeleton_f1=vg_graphs.skeleton_scores(system, raw_system)["skeleton_f1"],
        only_raw=_pairs(a_raw - a_centred, list(raw_system["nodes"])),
        only_centred=_pairs(a_centred - a_raw, list(system["nodes"])),
        note="; ".join(graph.get("handling", [])),
    )
    return pl.DataFrame([row], schema=SCHEMA, orient="row")
