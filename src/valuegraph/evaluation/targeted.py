"""Targeted steering: per value and direction, the train-best SAE feature against the explicit
value prompt on the test roles (shares up / same / down on the target value, off-target cost)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from valuegraph.evaluation.deltas import directions, paired_deltas
from valuegraph.evaluation.statistics import nanmean


def _target_stats(delta: np.ndarray, j: int, threshold: float) -> dict[str, float]:
    up, down, same = directions(delta[:, [j]], threshold)
    n = int(np.isfinite(delta[:, j]).sum())
    others = np.delete(delta, j, axis=1)
    return {
        "n": n,
        "up": float(up.sum() / n) if n else float("nan"),
        "same": float(same.sum() / n) if n else float("nan"),
        "down": float(down.sum() / n) if n else float("nan"),
        "mean_delta": nanmean(delta[:, j]),
        "off_target_mean_abs": nanmean(np.abs(others).ravel()),
    }


def _train_score(delta: np.ndarray, j: int, sign: str, threshold: float) -> float:
    """(up - down) / n on value j (negated for sign '-'): the train criterion of the pick."""
    up, down, _ = directions(delta[:, [j]], threshold)
    n = max(1, delta.shape[0])
    return float((up.sum() - down.sum()) / n) * (1 if sign == "+" else -1)


def targeted(
    train: pl.DataFrame,
    test: pl.DataFrame,
    values: Sequence[str],
    features: Mapping[str, int],
    kept: Sequence[str],
    prompts: Mapping[tuple[str, str], str],
    threshold: float,
) -> pl.DataFrame:
    """Per value and direction: the train-best SAE feature (among the kept ones, all candidates
    when none was kept) vs the explicit value prompt, on test: shares of roles up / same / down on
    the target value, its mean delta, and the mean |delta| on the other values (off-target cost).
    Rows with value ``(pooled)`` pool the values that have both arms (the paper's pies)."""
    pool = list(kept) or list(features)
    train_delta = {c: paired_deltas(train, values, c)[1] for c in pool}
    test_delta = {c: paired_deltas(test, values, c)[1] for c in pool}
    prompt_delta = {key: paired_deltas(test, values, c)[1] for key, c in prompts.items()}
    rows: list[dict[str, Any]] = []
    pooled: dict[tuple[str, str], list[tuple[np.ndarray, int]]] = {}
    for j, value in enumerate(values):
        for sign in ("+", "-"):
            both = (value, sign) in prompts
            if pool:
                scores = {c: _train_score(train_delta[c], j, sign, threshold) for c in pool}
                best = max(pool, key=lambda c: (scores[c], -pool.index(c)))
                stats = _target_stats(test_delta[best], j, threshold)
                rows.append(
                    {
                        "value": value,
                        "direction": sign,
                        "method": "sae_feature",
                        "condition": best,
                        "feature": features[best],
                        "train_score": scores[best],
                        "pool": "kept" if kept else "all candidates",
                        **stats,
                    }
                )
                if both or not prompts:
                    pooled.setdefault(("sae_feature", sign), []).append((test_delta[best], j))
            if both:
                stats = _target_stats(prompt_delta[(value, sign)], j, threshold)
                rows.append(
                    {
                        "value": value,
                        "direction": sign,
                        "method": "value_prompt",
                        "condition": prompts[(value, sign)],
                        "feature": None,
                        "train_score": None,
                        "pool": None,
                        **stats,
                    }
                )
                pooled.setdefault(("value_prompt", sign), []).append(
                    (prompt_delta[(value, sign)], j)
                )
    for (method, sign), parts in pooled.items():
        n = sum(int(np.isfinite(d[:, j]).sum()) for d, j in parts)
        agg = {"up": 0.0, "same": 0.0, "down": 0.0}
        offs, means = [], []
        for d, j in parts:
            up, down, same = directions(d[:, [j]], threshold)
            agg["up"] += up.sum()
            agg["down"] += down.sum()
            agg["same"] += same.sum()
            offs.append(np.abs(np.delete(d, j, axis=1)).ravel())
            means.append(d[:, j])
        rows.append(
            {
                "value": "(pooled)",
                "direction": sign,
                "method": method,
                "condition": None,
                "feature": None,
                "train_score": None,
                "pool": f"{len(parts)} values",
                "n": n,
                **{k: v / n if n else float("nan") for k, v in agg.items()},
                "mean_delta": nanmean(np.concatenate(means)),
                "off_target_mean_abs": nanmean(np.concatenate(offs)),
            }
        )
    schema = {
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
    }
    return pl.DataFrame(rows, schema=schema)
