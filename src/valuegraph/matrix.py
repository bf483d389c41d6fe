"""Stage 4, matrix: per-item answers -> one row per (role, condition), one column per value.

Columns: role_id, condition, then the values in the fixed order of ``results/items/values.json``
(the config's ``items.values`` order, else alphabetical), then n_answered and n_unparsed. A value
score is the mean item score over the role's *answered* items (unparsed answers are missing,
not neutral); ``soft`` uses agreement x (2 p_yes - 1) instead (log-prob mode only).
"""

from __future__ import annotations

import os

import polars as pl

from valuegraph.errors import DataError
from valuegraph.io import read_table


def build_matrix(responses: pl.DataFrame, values: list[str], score: str = "hard") -> pl.DataFrame:
    """Aggregate a responses table into the role x value score matrix."""
    if score == "soft" and responses["p_yes"].null_count() == responses.height:
        raise DataError(
            "matrix.score 'soft' needs p_yes, which generate mode does not produce; use 'hard'"
        )
    unknown = sorted(set(responses["value"].unique()) - set(values))
    if unknown:
        raise DataError(f"responses contain values {unknown} not in the value list {values}")
    answered = pl.col("answer").is_in(["yes", "no"])
    column = "score" if score == "hard" else "soft_score"
    keys = ["role_id", "condition"]
    per_value = (
        responses.filter(answered if score == "hard" else pl.lit(True))
        .group_by([*keys, "value"])
        .agg(pl.col(column).mean().alias("mean"))
        .pivot(on="value", index=keys, values="mean")
    )
    counts = responses.group_by(keys).agg(
        answered.sum().cast(pl.Int64).alias("n_answered"),
        (~answered).sum().cast(pl.Int64).alias("n_unparsed"),
    )
    matrix = counts.join(per_value, on=keys, how="left")
    for value in values:
        if value not in matrix.columns:
            matrix = matrix.with_columns(pl.lit(None, dtype=pl.Float64).alias(value))
    return matrix.select(
        *keys, *[pl.col(v).cast(pl.Float64) for v in values], "n_answered", "n_unparsed"
    ).sort("condition", "role_id")


def value_columns(matrix: pl.DataFrame) -> list[str]:
    """The value columns of a matrix (everything but identifiers and counts)."""
    return [
        c for c in matrix.columns if c not in ("role_id", "condition", "n_answered", "n_unparsed")
    ]


def read_matrix(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a score matrix (CSV or Parquet); a file with a header but no rows is an error."""
    return read_table(path, what="matrix")
