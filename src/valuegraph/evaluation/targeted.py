"""Targeted steering, the paper's pie statistic (spec section 13): for picked (value, direction,
SAE condition) triples, the roles (no-persona role included) whose target value goes up / stays /
goes down against the same role unsteered, and the same statistic for the explicit value prompt
(``value_prompt:V:+`` / ``-``) where the matrix has it; pooled per direction.

:func:`pie_table` is the one implementation: ``valuegraph targeted`` writes it for given picks,
``valuegraph steering-eval`` through :func:`targeted` for the train-best feature per value and
direction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from valuegraph.errors import DataError
from valuegraph.evaluation.deltas import SIGNS, ScoreMatrix, as_scores, directions
from valuegraph.evaluation.statistics import nanmean

POOLED = "(pooled)"
PIE_COLUMNS = {
    "value": pl.String,
    "direction": pl.String,
    "arm": pl.String,
    "condition": pl.String,
    "up": pl.Int64,
    "same": pl.Int64,
    "down": pl.Int64,
    "n": pl.Int64,
    "up_pct": pl.Float64,
    "same_pct": pl.Float64,
    "down_pct": pl.Float64,
    "n_values": pl.Int64,
    "mean_delta": pl.Float64,
    "off_target_mean_abs": pl.Float64,
}


WORKFLOW_COLUMNS = {
    "value": pl.String,
    "direction": pl.String,
    "method": pl.String,
    "condition": pl.String,
    "feature": pl.Int64,
    "train_score": pl.Float64,
    "pool": pl.String,
    "n": pl.Int64,
    "up": pl.Float64,
    "same": pl.Float64,
    "down": pl.Float64,
    "mean_delta": pl.Float64,
    "off_target_mean_abs": pl.Float64,
    "up_count": pl.Int64,
    "same_count": pl.Int64,
    "down_count": pl.Int64,
    "up_pct": pl.Float64,
    "same_pct": pl.Float64,
    "down_pct": pl.Float64,
}


def _stats(parts: Sequence[tuple[np.ndarray, int]], threshold: float) -> dict[str, Any]:
    """Counts (up / same / down on the target column j of each delta), N (non-NaN target
    deltas), percentages of N, the mean target delta and the mean |delta| off target."""
    up = same = down = n = 0
    targets, offs = [], []
    for delta, j in parts:
        u, d, s = directions(delta[:, j], threshold)
        up, down, same = up + int(u.sum()), down + int(d.sum()), same + int(s.sum())
        n += int(np.isfinite(delta[:, j]).sum())
        targets.append(delta[:, j])
        offs.append(np.abs(np.delete(delta, j, axis=1)).ravel())

    def pct(k: int) -> float:
        return 100.0 * k / n if n else float("nan")

    return {
        "n_values": len(parts),
        "up": up,
        "same": same,
        "down": down,
        "n": n,
        "up_pct": pct(up),
        "same_pct": pct(same),
        "down_pct": pct(down),
        "mean_delta": nanmean(np.concatenate(targets)) if targets else float("nan"),
        "off_target_mean_abs": nanmean(np.concatenate(offs)) if offs else float("nan"),
    }


def pie_table(
    test: ScoreMatrix,
    picks: Sequence[tuple[str, str, str | None]],
    prompts: Mapping[tuple[str, str], str],
    threshold: float,
) -> pl.DataFrame:
    """The pie statistic for ``picks`` (value, direction ``+``/``-``, SAE condition or None for
    the prompt arm only) on ``test``; ``prompts`` {(value, direction): value-prompt condition}.

    Rows: per pick, arm ``sae`` (the condition's deltas) and, where ``prompts`` has its (value,
    direction), arm ``value_prompt``; then per direction and arm a ``(pooled)`` row over the
    picks that have a value-prompt row (both arms on the same values, as the paper's pies), or
    over every pick when no pick has one. Columns: :data:`PIE_COLUMNS`
    (``n_values``: the values a row pools)."""
    seen = set()
    rows: list[dict[str, Any]] = []
    parts: dict[tuple[str, str], list[tuple[tuple[str, str], np.ndarray, int]]] = {}
    for value, sign, cond in picks:
        if sign not in SIGNS:
            raise DataError(f"direction {sign!r} of value {value!r} must be '+' or '-'")
        if (value, sign) in seen:
            raise DataError(f"two picks for value {value!r}, direction {sign!r}; pick one")
        seen.add((value, sign))
        j = test.values.index(value)
        for arm, c in (("sae", cond), ("value_prompt", prompts.get((value, sign)))):
            if c is None:
                continue
            delta = test.deltas(c)[1]
            rows.append(
                {"value": value, "direction": sign, "arm": arm, "condition": c}
                | _stats([(delta, j)], threshold)
            )
            parts.setdefault((sign, arm), []).append(((value, sign), delta, j))
    both = {(v, s) for v, s, _ in picks if (v, s) in prompts}
    for sign in dict.fromkeys(s for _, s, _ in picks):
        for arm in ("sae", "value_prompt"):
            pooled = [(d, j) for key, d, j in parts.get((sign, arm), []) if not both or key in both]
            if pooled:
                rows.append(
                    {"value": POOLED, "direction": sign, "arm": arm, "condition": None}
                    | _stats(pooled, threshold)
                )
    return pl.DataFrame(rows, schema=PIE_COLUMNS)


def _train_score(delta: np.ndarray, j: int, sign: str, threshold: float) -> float:
    """(up - down) / n on value j (negated for sign '-'): the train criterion of the pick."""
    up, down, _ = directions(delta[:, [j]], threshold)
    n = max(1, delta.shape[0])
    return float((up.sum() - down.sum()) / n) * (1 if sign == "+" else -1)


def targeted(
    train: pl.DataFrame | ScoreMatrix,
    test: pl.DataFrame | ScoreMatrix,
    values: Sequence[str],
    features: Mapping[str, int],
    kept: Sequence[str],
    prompts: Mapping[tuple[str, str], str],
    threshold: float,
) -> pl.DataFrame:
    """The workflow's targeted table: per value and direction, the train-best SAE feature (among
    the kept ones, all candidates when none was kept) vs the explicit value prompt, on test, by
    :func:`pie_table`. Columns: value, direction, method (``sae_feature`` / ``value_prompt``),
    condition, feature, train_score, pool, n, up / same / down as shares of n, mean_delta,
    off_target_mean_abs, then :func:`pie_table`'s counts (up_count, same_count, down_count) and
    percentages (up_pct, same_pct, down_pct)."""
    train, test = as_scores(train, values), as_scores(test, values)
    pool = list(kept) or list(features)
    train_delta = {c: train.deltas(c)[1] for c in pool}
    picks: list[tuple[str, str, str | None]] = []
    scores: dict[tuple[str, str], float] = {}
    for j, value in enumerate(values):
        for sign in SIGNS:
            if pool:
                s = {c: _train_score(train_delta[c], j, sign, threshold) for c in pool}
                best = max(pool, key=lambda c: (s[c], -pool.index(c)))
                picks.append((value, sign, best))
                scores[(value, sign)] = s[best]
            elif (value, sign) in prompts:
                picks.append((value, sign, None))
    rows = []
    for r in pie_table(test, picks, prompts, threshold).iter_rows(named=True):
        sae, pooled, n = r["arm"] == "sae", r["value"] == POOLED, r["n"]
        rows.append(
            {
                "value": r["value"],
                "direction": r["direction"],
                "method": "sae_feature" if sae else r["arm"],
                "condition": r["condition"],
                "feature": features[r["condition"]] if sae and not pooled else None,
                "train_score": scores[(r["value"], r["direction"])] if sae and not pooled else None,
                "pool": (
                    f"{r['n_values']} values"
                    if pooled
                    else ("kept" if kept else "all candidates")
                    if sae
                    else None
                ),
                "n": n,
                **{k: r[k] / n if n else float("nan") for k in ("up", "same", "down")},
                "mean_delta": r["mean_delta"],
                "off_target_mean_abs": r["off_target_mean_abs"],
                **{f"{k}_count": r[k] for k in ("up", "same", "down")},
                **{f"{k}_pct": r[f"{k}_pct"] for k in ("up", "same", "down")},
            }
        )
    return pl.DataFrame(rows, schema=WORKFLOW_COLUMNS)
