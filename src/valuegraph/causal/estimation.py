"""The DoWhy boundary of :mod:`valuegraph.causal.effects` and :mod:`valuegraph.causal.ida`: input
checks, one backdoor linear-regression estimate with its CI, p-value and refutations, and DoWhy's
logging kept off the console.

Refuters: ``placebo`` (permuted treatment; the new effect should be near 0 and, for a real
effect, p small), ``random_common_cause`` (an added N(0, 1) confounder) and ``data_subset``
(80 % row subsets): these two should leave the estimate unchanged (p large). A refuter's draws
come from ``valuegraph.seeding.random_state(seed, "refute", *key, refuter)``: they depend on the
seed and the contrast, not on call order. pandas is used only here and where the callers build
the regression frame.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import polars as pl

from valuegraph.errors import DataError
from valuegraph.matrix import value_columns
from valuegraph.seeding import random_state

log = logging.getLogger(__name__)

REFUTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "placebo": ("placebo_treatment_refuter", {"placebo_type": "permute"}),
    "random_common_cause": ("random_common_cause", {}),
    "data_subset": ("data_subset_refuter", {"subset_fraction": 0.8}),
}


# --------------------------------------------------------------------------- input checks


def check_matrix(matrix: pl.DataFrame, values: Sequence[str] | None = None) -> list[str]:
    """Validate a score matrix and return the value columns to analyse."""
    if matrix.height == 0:
        raise DataError(f"the matrix has no rows (columns {matrix.columns})")
    missing = [c for c in ("role_id", "condition") if c not in matrix.columns]
    if missing:
        raise DataError(f"matrix lacks identifier column(s) {missing}; columns: {matrix.columns}")
    available = value_columns(matrix)
    values = list(values) if values is not None else available
    unknown = [v for v in values if v not in available]
    if unknown:
        raise DataError(f"value(s) {unknown} are not columns of the matrix (has {available})")
    if not values:
        raise DataError("matrix has no value columns")
    for v in values:
        col = matrix.get_column(v)
        if not col.dtype.is_numeric():
            raise DataError(f"value column {v!r} is {col.dtype}, not numeric")
        bad = col.null_count() + int(col.cast(pl.Float64).is_nan().sum() or 0)
        if bad:
            raise DataError(
                f"value column {v!r} has {bad} missing (null/NaN) score(s); every (role, "
                "condition) needs at least one answered item per value -- drop those rows or "
                "collect more items"
            )
    return values


# --------------------------------------------------------------------------- DoWhy boundary


class _Collect(logging.Handler):
    """Collects log messages (deduplicated) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.add(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def quiet_dowhy() -> Iterator[None]:
    """Send DoWhy's log warnings and Python warnings to this module's DEBUG log, not the console.

    Also limits BLAS to one thread: on a small shared machine, OpenBLAS threads oversubscribe
    the cores and make the many small regressions of the refuters ~30 times slower.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency, as DoWhy needs

    dlog = logging.getLogger("dowhy")
    saved = (dlog.level, dlog.propagate)
    collect = _Collect()
    dlog.addHandler(collect)
    dlog.setLevel(logging.WARNING)
    dlog.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
            warnings.simplefilter("always")
            yield
    finally:
        dlog.removeHandler(collect)
        dlog.setLevel(saved[0])
        dlog.propagate = saved[1]
    found = collect.messages | {f"{w.category.__name__}: {w.message}" for w in caught}
    for message in sorted(found):
        log.debug("suppressed: %s", message)


def dowhy_estimate(
    frame: pd.DataFrame,
    *,
    refuters: Sequence[str] = (),
    simulations: int = 20,
    seed: int = 0,
    key: Sequence[str] = (),
    confidence_level: float = 0.95,
) -> dict[str, float]:
    """Linear-regression backdoor estimate of ``t`` on ``y`` adjusting for the other columns.

    ``frame`` has columns ``t`` (treatment), ``y`` (outcome) and common causes (any other
    column; categorical ones are one-hot encoded by DoWhy). Returns estimate, CI, p-value and,
    per refuter, ``refute_<name>_effect`` / ``refute_<name>_p``.
    """
    from dowhy import CausalModel  # imported lazily: slow, pulls scikit-learn

    common = [c for c in frame.columns if c not in ("t", "y")]
    graph = nx.DiGraph([("t", "y")])
    graph.add_edges_from((c, node) for c in common for node in ("t", "y"))
    out: dict[str, float] = {}
    with quiet_dowhy():
        model = CausalModel(data=frame, treatment="t", outcome="y", graph=graph)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        est = model.estimate_effect(
            estimand,
            method_name="backdoor.linear_regression",
            confidence_intervals=True,
            test_significance=True,
        )
        ci = est.get_confidence_intervals(confidence_level=confidence_level)
        ci = np.asarray(ci, dtype=float).ravel()
        p = np.asarray(est.test_stat_significance()["p_value"], dtype=float).ravel()
        out.update(
            estimate=float(est.value),
            ci_low=float(ci[0]),
            ci_high=float(ci[-1]),
            p_value=float(p[0]),
        )
        for name in refuters:
            method, kwargs = REFUTERS[name]
            ref = model.refute_estimate(
                estimand,
                est,
                method_name=method,
                num_simulations=simulations,
                random_state=random_state(seed, "refute", *key, name),
                **kwargs,
            )
            result = ref.refutation_result or {}
            out[f"refute_{name}_effect"] = float(np.asarray(ref.new_effect, dtype=float).ravel()[0])
            out[f"refute_{name}_p"] = float(np.asarray(result.get("p_value", np.nan)).ravel()[0])
    return out


def nan_result(estimate: float, refuters: Sequence[str]) -> dict[str, float]:
    out = {"estimate": estimate, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    for name in refuters:
        out[f"refute_{name}_effect"] = np.nan
        out[f"refute_{name}_p"] = np.nan
    return out


def check_refuters(refuters: Sequence[str]) -> list[str]:
    unknown = [r for r in refuters if r not in REFUTERS]
    if unknown:
        raise ValueError(f"unknown refuter(s) {unknown}; choose from {sorted(REFUTERS)}")
    return list(refuters)
