"""Paired deltas: a condition's effect on a role is ``delta = V(role, condition) - V(role, none)``,
and a score *changes* when ``|delta| > threshold`` (the paper's threshold is 0, i.e.
``delta != 0``). Missing scores never count as changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

NONE = "none"
NO_ROLE = "none"


def scores_by_role(
    matrix: pl.DataFrame, condition: str, values: Sequence[str]
) -> dict[str, np.ndarray]:
    """{role id: the role's scores on ``values``} for the rows of one condition (null = NaN)."""
    sub = matrix.filter(pl.col("condition") == condition)
    return {
        r: np.array(v, dtype=float)
        for r, v in zip(
            sub["role_id"].to_list(),
            sub.select(values).fill_null(float("nan")).to_numpy().tolist(),
            strict=True,
        )
    }


def paired_deltas(
    matrix: pl.DataFrame,
    values: Sequence[str],
    condition: str,
    reference: str = NONE,
    roles: Sequence[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Role ids and ``V(role, condition) - V(role, reference)`` ([n_roles, n_values]) for the
    roles that have both rows (in ``roles`` order when given, else sorted)."""
    a = scores_by_role(matrix, condition, values)
    b = scores_by_role(matrix, reference, values)
    ids = [r for r in (roles if roles is not None else sorted(a)) if r in a and r in b]
    if not ids:
        return [], np.zeros((0, len(values)))
    return ids, np.stack([a[r] - b[r] for r in ids])


def directions(delta: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean up / down / same arrays (NaN deltas are none of them)."""
    finite = np.isfinite(delta)
    d = np.where(finite, delta, 0.0)
    up, down = finite & (d > threshold), finite & (d < -threshold)
    return up, down, finite & ~up & ~down


def changed(delta: np.ndarray, threshold: float) -> np.ndarray:
    """``|delta| > threshold`` with NaN = not changed."""
    return np.isfinite(delta) & (np.abs(np.nan_to_num(delta)) > threshold)
