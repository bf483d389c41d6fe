"""The Schwartz circumplex: how well value correlations follow the theoretical circle.

The statistic and the MDS coordinates are computed here; the figure is
:func:`valuegraph.figures.graphs.plot_circumplex`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from valuegraph.errors import DataError
from valuegraph.values import SCHWARTZ_ORDER


def circumplex_fit(
    corr: np.ndarray | pl.DataFrame, names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Fit of a correlation matrix over the 10 Schwartz values to the circumplex.

    Theoretical positions are equally spaced at 36° in :data:`SCHWARTZ_ORDER`. The statistic is
    the Spearman correlation, over the 45 value pairs, between the observed correlation and
    cos(angle difference) (1 = perfect circular structure). MDS: classical (Torgerson) scaling
    of the distances sqrt(2(1 - r)), rotated/reflected/scaled onto the theoretical circle by
    orthogonal Procrustes for the picture.

    :param corr: a square correlation matrix, or a polars frame of scores (one column per value,
        its Pearson correlation is used).
    :param names: the value of each row/column (default: the frame's columns).
    :return: ``{"spearman", "p_value", "n_pairs", "pairs": DataFrame, "mds": DataFrame}``.
    """
    from scipy.stats import spearmanr

    if isinstance(corr, pl.DataFrame):
        names = list(names or corr.columns)
        data = corr.select(names).cast(pl.Float64).to_numpy()
        if not np.all(np.isfinite(data)) or np.any(np.ptp(data, axis=0) == 0):
            raise DataError("circumplex fit: scores have missing values or a constant column")
        corr = np.corrcoef(data, rowvar=False)
    corr = np.asarray(corr, dtype=float)
    if names is None:
        raise DataError("circumplex fit: pass the value names of the correlation matrix")
    names = list(names)
    missing = [v for v in SCHWARTZ_ORDER if v not in names]
    unknown = [v for v in names if v not in SCHWARTZ_ORDER]
    if missing or unknown:
        raise DataError(
            f"circumplex fit needs exactly the 10 Schwartz values; missing {missing}, "
            f"unknown {unknown}"
        )
    if corr.shape != (len(names), len(names)) or not np.all(np.isfinite(corr)):
        raise DataError("circumplex fit: correlation matrix is not square and finite")
    idx = [names.index(v) for v in SCHWARTZ_ORDER]
    r = corr[np.ix_(idx, idx)]
    angles = np.arange(10) * 2 * np.pi / 10
    iu = np.triu_indices(10, k=1)
    steps = np.minimum(iu[1] - iu[0], 10 - (iu[1] - iu[0]))
    expected = np.cos(steps * 2 * np.pi / 10)  # from whole steps, so equal steps tie exactly
    observed = r[iu]
    rho, p = spearmanr(observed, expected)
    pairs = pl.DataFrame(
        {
            "value_a": [SCHWARTZ_ORDER[i] for i in iu[0]],
            "value_b": [SCHWARTZ_ORDER[j] for j in iu[1]],
            "steps_apart": steps,
            "correlation": observed,
            "expected_cos": expected,
        }
    )
    return {
        "spearman": float(rho),
        "p_value": float(p),
        "n_pairs": len(observed),
        "pairs": pairs,
        "mds": _mds(r, angles),
    }


def _mds(r: np.ndarray, angles: np.ndarray) -> pl.DataFrame:
    from scipy.linalg import orthogonal_procrustes

    d2 = np.clip(2 * (1 - r), 0, None)
    n = d2.shape[0]
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ d2 @ j
    vals, vecs = np.linalg.eigh(b)
    top = np.argsort(vals)[::-1][:2]
    coords = vecs[:, top] * np.sqrt(np.clip(vals[top], 0, None))
    theory = np.column_stack([np.cos(angles), np.sin(angles)])
    rot, _ = orthogonal_procrustes(coords, theory)
    aligned = coords @ rot
    scale = np.sum(aligned * theory) / max(np.sum(aligned**2), 1e-12)
    aligned = aligned * scale
    return pl.DataFrame(
        {
            "value": list(SCHWARTZ_ORDER),
            "x": aligned[:, 0],
            "y": aligned[:, 1],
            "theory_x": theory[:, 0],
            "theory_y": theory[:, 1],
            "theory_angle_deg": np.degrees(angles),
        }
    )
