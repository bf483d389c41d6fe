"""Persona effect sizes: how far the persona line moves each value score, with bootstrap CIs over
personas and the shift item noise alone would give.

Read from the unsteered rows of a score matrix (one row per role); the no-persona role
(``none``) is the baseline, else the personas' mean. Per value:

* ``mean_abs_shift``: mean over personas of |persona score − baseline score|, with a 95%
  bootstrap CI over personas (``ci_low``, ``ci_high``);
* ``sd_personas``: the standard deviation of the persona scores;
* ``noise_sd`` and ``noise_abs_shift``: the item noise of a shift, the null to beat. How it is
  measured depends on the design (``noise_design``), read from the responses:

  - ``paired`` (``items.sampling: shared``: every role answered the baseline's items of the
    value): the shift is a mean of per-item differences d_i = persona score − reference score
    on the same item, so items' own levels cancel. If the persona moved the value by nothing
    but item-specific amounts (a persona × item interaction), the shift would scatter with
    ``noise_sd`` = sqrt(mean over personas of var(d_i) / n_items); ``noise_abs_shift`` =
    sqrt(2/π) × noise_sd, the mean |shift| of such noise.
  - ``independent`` (per-role item samples, the paper's): a persona's and the baseline's scores
    come from different items, so the items' own spread is noise: ``noise_sd`` = sqrt(mean over
    personas of var(item scores) / n_items), and ``noise_abs_shift`` = sqrt(2/π) × sqrt(2) ×
    noise_sd (both scores carry it).
* ``between_noise_sd`` and ``snr``: do personas differ from each other beyond item noise?
  ``snr`` = sd_personas / between_noise_sd, about 1 when personas are interchangeable. Under
  ``independent`` between_noise_sd is noise_sd. Under ``paired``, what any persona line does to
  an item (the same for every persona) moves no persona away from another, so it is taken out:
  between_noise_sd comes from the persona × item residuals d_i − mean over personas of d_i
  (scaled by P / (P − 1) for the P personas).

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
    "noise_design": pl.Utf8,
    "noise_sd": pl.Float64,
    "noise_abs_shift": pl.Float64,
    "between_noise_sd": pl.Float64,
    "snr": pl.Float64,
}


PAIRED, INDEPENDENT = "paired", "independent"


def _item_scores(responses: pl.DataFrame, score: str) -> pl.DataFrame:
    """Unsteered answers as (role_id, value, item_id, s), unanswered items dropped."""
    column = "score" if score == "hard" else "soft_score"
    frame = responses.filter(pl.col("condition") == NONE)
    if score == "hard":
        frame = frame.filter(pl.col("answer").is_in(["yes", "no"]))
    return frame.select("role_id", "value", "item_id", pl.col(column).alias("s")).drop_nulls()


def noise_design(scores: pl.DataFrame) -> str:
    """``paired`` when every role (baseline included) answered the same items of each value,
    else ``independent``."""
    items = scores.group_by("role_id", "value").agg(pl.col("item_id").sort().alias("items"))
    return (
        PAIRED
        if items.group_by("value").agg(pl.col("items").n_unique())["items"].max() == 1
        else INDEPENDENT
    )


def _root_mean_se(per_item: pl.DataFrame, values: Sequence[str], scale: float = 1.0) -> dict:
    """Per value: sqrt(scale x mean over personas of var(s over items) / n_items)."""
    per = (
        per_item.group_by("role_id", "value", maintain_order=True)
        .agg((pl.col("s").var(ddof=1) / pl.len()).alias("se2"))
        .drop_nulls()
    )
    out = {}
    for v in values:
        se2 = per.filter(pl.col("value") == v)["se2"]
        out[v] = math.sqrt(scale * float(se2.mean())) if se2.len() else math.nan
    return out


def item_noise(
    responses: pl.DataFrame, values: Sequence[str], score: str = "hard"
) -> tuple[str, dict[str, float], dict[str, float]]:
    """The design (:func:`noise_design`) and, per value, the standard error item noise gives a
    persona's shift (``noise_sd``) and the personas' spread (``between_noise_sd``); see the
    module docstring."""
    scores = _item_scores(responses, score)
    design = noise_design(scores) if scores.height else INDEPENDENT
    personas = scores.filter(pl.col("role_id") != NO_ROLE)
    if design == INDEPENDENT:
        noise = _root_mean_se(personas, values)
        return design, noise, noise
    has_baseline = (scores["role_id"] == NO_ROLE).any()
    reference = (
        scores.filter(pl.col("role_id") == NO_ROLE)
        if has_baseline
        else personas.group_by("value", "item_id").agg(pl.col("s").mean())
    ).select("value", "item_id", pl.col("s").alias("ref"))
    diffs = personas.join(reference, on=["value", "item_id"]).with_columns(
        (pl.col("s") - pl.col("ref")).alias("s")
    )
    residuals = diffs.with_columns(pl.col("s") - pl.col("s").mean().over("value", "item_id"))
    n = personas["role_id"].n_unique()
    between = _root_mean_se(residuals, values, n / (n - 1) if n > 1 else math.nan)
    return design, _root_mean_se(diffs, values), between


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
    design, noise, between = (
        item_noise(responses, values, score) if responses is not None else (None, {}, {})
    )
    # a paired shift carries the noise once, an independent one twice (persona and baseline)
    shift_noise = math.sqrt(2 / math.pi) * (1.0 if design == PAIRED else math.sqrt(2))
    out = []
    for j, v in enumerate([*values, ALL]):
        if v == ALL:
            sd = float(np.mean(x.std(axis=0, ddof=1)))
            nsd, bsd = (
                (float(np.nanmean([d.get(u, math.nan) for u in values])) if d else math.nan)
                for d in (noise, between)
            )
            mean_shift = float(shift.mean())
        else:
            sd = float(x[:, j].std(ddof=1))
            nsd, bsd = noise.get(v, math.nan), between.get(v, math.nan)
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
                "noise_design": design,
                "noise_sd": nsd,
                "noise_abs_shift": shift_noise * nsd,
                "between_noise_sd": bsd,
                "snr": sd / bsd if bsd and math.isfinite(bsd) else math.nan,
            }
        )
    return pl.DataFrame(out, schema=SCHEMA, orient="row")
