"""Table 1 (spec section 12): per SAE condition and value, the up / down / same role counts on
train and test (no-persona role included) and the cosine between the two splits' proportion
vectors; the summary (mean similarity per feature and overall, noise ratio per value).

:func:`count_table` is the one implementation: ``valuegraph table1`` writes it as the contract
table, ``valuegraph steering-eval`` through :func:`table1`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from valuegraph.evaluation.deltas import ScoreMatrix, as_scores, cosine, direction_counts
from valuegraph.evaluation.statistics import nanmean

SPLITS = ("train", "test")
COUNTS = ("up", "down", "same")


def count_table(
    train: ScoreMatrix,
    test: ScoreMatrix,
    conditions: Mapping[str, Any],
    threshold: float,
) -> pl.DataFrame:
    """One row per (condition, value) on ``train.values``: ``condition``, ``feature`` (the label
    ``conditions`` gives it), ``value``, ``{split}_up / _down / _same / _n`` for train and test
    (counts of roles against the same role unsteered; N = up + down + same, NaN deltas left out)
    and ``similarity``: the cosine between the train and test (up, down, same) proportion vectors
    (NaN when a split has no counted role)."""
    values = train.values
    rows = []
    for cond, feature in conditions.items():
        counts = {
            split: direction_counts(m.deltas(cond)[1], threshold)
            for split, m in zip(SPLITS, (train, test), strict=True)
        }
        for j, value in enumerate(values):
            row: dict[str, Any] = {"condition": cond, "feature": feature, "value": value}
            for split in SPLITS:
                c = counts[split][:, j]
                row.update({f"{split}_{k}": int(x) for k, x in zip(COUNTS, c, strict=True)})
                row[f"{split}_n"] = int(c.sum())
            row["similarity"] = cosine(
                counts["train"][:, j].astype(float), counts["test"][:, j].astype(float)
            )
            rows.append(row)
    columns = ["condition", "feature", "value"]
    columns += [f"{s}_{k}" for s in SPLITS for k in (*COUNTS, "n")] + ["similarity"]
    if not rows:
        schema = {c: pl.Int64 for c in columns}
        schema.update(condition=pl.String, feature=pl.String, value=pl.String)
        return pl.DataFrame(schema={**schema, "similarity": pl.Float64})
    return pl.DataFrame(rows, infer_schema_length=None).select(columns)


def summary(table: pl.DataFrame, similarity: str = "similarity") -> dict[str, Any]:
    """``feature_similarity`` {feature: NaN-ignoring mean of the similarity over the table's
    values}, ``mean_similarity`` (their NaN-ignoring mean) and ``noise_ratio`` {value: mean over
    features of its smallest train proportion min(up, down, same) / N}."""
    feats: dict[str, list[float]] = {}
    noise: dict[str, list[float]] = {}
    for r in table.iter_rows(named=True):
        feats.setdefault(str(r["feature"]), []).append(r[similarity])
        n = r["train_n"]
        smallest = min(r["train_up"], r["train_down"], r["train_same"]) / n if n else np.nan
        noise.setdefault(r["value"], []).append(smallest)
    per_feature = {f: nanmean(np.array(s, dtype=float)) for f, s in feats.items()}
    return {
        "feature_similarity": per_feature,
        "mean_similarity": nanmean(np.array(list(per_feature.values()), dtype=float)),
        "noise_ratio": {v: nanmean(np.array(s, dtype=float)) for v, s in noise.items()},
    }


def table1(
    train: pl.DataFrame | ScoreMatrix,
    test: pl.DataFrame | ScoreMatrix,
    values: Sequence[str],
    features: Mapping[str, int],
    kept: Sequence[str],
    threshold: float,
) -> pl.DataFrame:
    """The workflow's Table 1 (:func:`count_table` on the SAE conditions ``features`` {condition
    id: feature}): columns condition, feature, kept, value, train/test up, down, same, n, and the
    similarity as ``cosine``."""
    table = count_table(as_scores(train, values), as_scores(test, values), features, threshold)
    kept_flags = table["condition"].is_in(list(kept)).alias("kept")
    return (
        table.with_columns(kept_flags)
        .rename({"similarity": "cosine"})
        .select("condition", "feature", "kept", *table.columns[2:-1], "cosine")
    )
