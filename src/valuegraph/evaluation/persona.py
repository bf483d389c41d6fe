"""Persona effect sizes: how far the persona line moves each value score, with bootstrap CIs over
personas and the shift item noise alone would give.

Read from the unsteered rows of a score matrix (one row per role); the no-persona role
(``none``) is the baseline, else the personas' mean. Per value:

* ``mean_abs_shift``: mean over personas of |persona score − baseline score|, with a 95%
  bootstrap CI over personas (``ci_low``, ``ci_high``);
* ``sd_personas``: the standard deviation of the persona scores;
* ``noise_sd``: the standard error of one persona's value score from item sampling alone (the
  root mean over personas of the item scores' variance / number of items, from the responses);
* ``noise_abs_shift``: the mean |shift| item noise alone would give (a persona and the baseline
  both measured with that noise: sqrt(2/π) × sqrt(2) × noise_sd), the null to beat;
* ``snr``: sd_personas / noise_sd (about 1 when personas do nothing).

The ``value = (all values)`` row averages each number over the values; its CI resamples
personas once for all values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from valuegraph.errors import DataError
from valuegraph.evaluation.deltas import NO_ROLE, NONE
from valuegraph.seeding import rng

ALL = "(all values)"
SCHEMA = {
    "value": pl.Utf8,
    "n_personas": pl.Int64,
    "baseline": pl.Utf8,
    "mean_abs_shift": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "sd_personas": pl.Float64,
    "noise_sd": pl.Float64,
    "noise_abs_shift": pl.Float64,
    "snr": pl.Float64,
}


def item_noise(responses: pl.DataFrame, values: Sequence[str], score: str = "hard") -> dict:
    """Per value, the root mean over persona rows (unsteered, no-role excluded) of
    var(item scores) / n_items: the squared standard error of a persona's value score."""
    column = "score" if score == "hard" else "soft_score"
    frame = responses.filter(pl.col("condition") == NONE)
    if score == "hard":
        frame = frame.filter(pl.col("answer").is_in(["yes", "no"]))
    per = (
        frame.group_by("role_id", "value", maintain_order=True)
        .agg((pl.col(column).var(ddof=1) / pl.len()).alias("se2"))
        .drop_nulls()
    )
    out = {}
    for v in values:
        se2 = per.filter((pl.col("value") == v) & (pl.col("role_id") != NO_ROLE))["se2"]
        out[v] = math.sqrt(float(se2.mean())) if se2.len() else math.nan
    return out


def persona_effects(
    matrix: pl.DataFrame,
    values: Sequence[str],
    responses: pl.DataFrame | None = None,
    score: str = "hard",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> pl.DataFrame:
    """The persona effect table (see the module docstring)."""
    rows = matrix.filter(pl.col("condition") == NONE) if "condition" in matrix.columns else matrix
    personas = rows.filter(pl.col("role_id") != NO_ROLE).select(values).drop_nulls().drop_nans()
    if personas.height < 2:
        raise DataError(
            f"persona effects need at least 2 persona rows with every value; got {personas.height}"
        )
    x = personas.to_numpy().astype(float)
    base_rows = rows.filter(pl.col("role_id") == NO_ROLE).select(values)
    if base_rows.height and not base_rows.null_count().sum_horizontal().item():
        baseline, base_name = base_rows.to_numpy().astype(float)[0], NO_ROLE
    else:
        baseline, base_name = x.mean(axis=0), "persona mean"
    shift = np.abs(x - baseline)
    generator = rng(seed, "persona-effects")
    n = x.shape[0]
    boots = np.empty((n_bootstrap, len(values) + 1))
    for b in range(n_bootstrap):
        pick = shift[generator.integers(0, n, n)]
        means = pick.mean(axis=0)
        boots[b] = [*means, means.mean()]
    lo, hi = (
        np.percentile(boots, [2.5, 97.5], axis=0)
        if n_bootstrap
        else np.full((2, len(values) + 1), np.nan)
    )
    noise = item_noise(responses, values, score) if responses is not None else {}
    out = []
    for j, v in enumerate([*values, ALL]):
        if v == ALL:
            sd = float(np.mean(x.std(axis=0, ddof=1)))
            nsd = float(np.nanmean([noise.get(u, math.nan) for u in values])) if noise else math.nan
            mean_shift = float(shift.mean())
        else:
            sd = float(x[:, j].std(ddof=1))
            nsd = noise.get(v, math.nan)
            mean_shift = float(shift[:, j].mean())
        out.append(
            {
                "value": v,
                "n_personas": n,
                "baseline": base_name,
                "mean_abs_shift": mean_shift,
                "ci_low": float(lo[j]),
                "ci_high": float(hi[j]),
                "sd_personas": sd,
                "noise_sd": nsd,
                "noise_abs_shift": math.sqrt(2 / math.pi) * math.sqrt(2) * nsd,
                "snr": sd / nsd if nsd and math.isfinite(nsd) else math.nan,
            }
        )
    return pl.DataFrame(out, schema=SCHEMA, orient="row")
