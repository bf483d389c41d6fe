"""Data checks before causal discovery, and the JCI condition indicators.

* missing or non-finite values, fewer rows than variables + 3 → :class:`DataError`;
* a perfectly collinear column (an exact linear combination of earlier columns) → ``DataError``
  naming it and the columns it depends on;
* a constant column is kept as an isolated node, left out of the search, and logged;
* a bootstrap resample that is degenerate (a column constant in the resample, a singular
  correlation matrix) is reported by :func:`resample_ok`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import polars as pl

from valuegraph.errors import DataError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- data checks


def node_columns(
    frame: pl.DataFrame, exclude: Sequence[str] = (), condition_column: str | None = None
) -> list[str]:
    """Numeric columns in column order (the variables); strings and ``exclude`` are identifiers."""
    skip = set(exclude) | ({condition_column} if condition_column else set())
    return [
        name
        for name, dtype in frame.schema.items()
        if dtype.is_numeric() and dtype != pl.Boolean and name not in skip
    ]


def describe(columns: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def check_matrix(data: np.ndarray, names: Sequence[str]) -> tuple[list[int], list[str]]:
    """Validate a rows × variables array; return (indices to search, handling notes).

    Raises :class:`DataError` for NaN/inf, too few rows and perfectly collinear columns.
    Constant columns are excluded from the search (kept as isolated nodes) and noted.
    """
    n_rows, n_cols = data.shape
    bad = [names[j] for j in range(n_cols) if not np.all(np.isfinite(data[:, j]))]
    if bad:
        counts = [int((~np.isfinite(data[:, names.index(c)])).sum()) for c in bad]
        detail = ", ".join(f"{c!r} ({k} rows)" for c, k in zip(bad, counts, strict=True))
        raise DataError(
            f"missing or non-finite values in {detail}; drop or impute those rows before discovery"
        )
    notes: list[str] = []
    constant = [j for j in range(n_cols) if n_rows > 0 and np.ptp(data[:, j]) == 0]
    if constant:
        cols = [names[j] for j in constant]
        notes.append(
            f"constant columns {describe(cols)} have no variance: kept as isolated nodes, "
            "left out of the search"
        )
        log.warning("%s", notes[-1])
    keep = [j for j in range(n_cols) if j not in constant]
    if len(keep) < 2:
        raise DataError(
            f"only {len(keep)} non-constant numeric column(s) "
            f"({describe([names[j] for j in keep])}); discovery needs at least 2 variables"
        )
    if n_rows < len(keep) + 3:
        raise DataError(
            f"{n_rows} rows for {len(keep)} variables: Fisher-z and the scores need at least "
            f"{len(keep) + 3} rows; add rows or drop columns"
        )
    check_collinear(data[:, keep], [names[j] for j in keep])
    return keep, notes


def check_collinear(data: np.ndarray, names: Sequence[str]) -> None:
    """Raise DataError naming the first column that is a linear combination of earlier ones."""
    centred = data - data.mean(axis=0)
    scaled = centred / np.linalg.norm(centred, axis=0)
    tol = 1e-9 * max(scaled.shape)
    for j in range(1, scaled.shape[1]):
        basis = scaled[:, :j]
        coef, *_ = np.linalg.lstsq(basis, scaled[:, j], rcond=None)
        if np.linalg.norm(scaled[:, j] - basis @ coef) < tol:
            used = [names[i] for i in range(j) if abs(coef[i]) > 1e-8]
            raise DataError(
                f"column {names[j]!r} is an exact linear combination of {describe(used)} "
                "(perfectly collinear); drop one of these columns before discovery"
            )


def resample_ok(data: np.ndarray) -> bool:
    if np.any(np.ptp(data, axis=0) == 0):
        return False
    corr = np.corrcoef(data, rowvar=False)
    return bool(np.all(np.isfinite(corr))) and np.linalg.cond(corr) < 1e12


# --------------------------------------------------------------------------- JCI context


def context_indicators(
    frame: pl.DataFrame, condition_column: str, reference_level: str | None = "none"
) -> tuple[np.ndarray, list[str], str]:
    """One-hot condition indicators (reference level dropped): (matrix, names, reference)."""
    if condition_column not in frame.columns:
        raise DataError(
            f"interventions=jci needs a condition column {condition_column!r}; the matrix has "
            f"{describe(frame.columns)} (set condition_column / --condition-column)"
        )
    values = frame.get_column(condition_column).cast(pl.Utf8).fill_null("none")
    levels = sorted(set(values.to_list()))
    if reference_level not in levels:
        reference_level = levels[0]
    kept = [lev for lev in levels if lev != reference_level]
    arr = values.to_numpy()
    matrix = np.column_stack([(arr == lev).astype(float) for lev in kept]) if kept else None
    names = [f"{condition_column}={lev}" for lev in kept]
    if matrix is None:
        matrix = np.empty((frame.height, 0))
    return matrix, names, reference_level
