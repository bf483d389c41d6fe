"""Stage 4, matrix: per-item answers -> one row per (role, condition), one column per value.

Columns: role_id, condition, then the values in the fixed order of ``results/items/values.json``
(the config's ``items.values`` order, else alphabetical), then n_answered and n_unparsed. A value
score is the mean item score over the role's *answered* items (unparsed answers are missing,
not neutral); ``soft`` uses agreement x (2 p_yes - 1) instead (log-prob mode only). Responses
parsed with the paper's parser (their ``parser`` column, ``collect.parser: paper``) are scored
as the paper did: an answer that is neither yes nor no scores 0 and counts in the mean (still
counted in n_unparsed). The Parquet file records which in its key-value metadata
(``valuegraph.parser``, ``valuegraph.unparsed``: missing or zero); see :func:`matrix_scoring`.
"""

from __future__ import annotations

import os

import polars as pl

from valuegraph.errors import DataError
from valuegraph.io import read_table
from valuegraph.parsing import PARSERS, unparsed_scoring

PARSER_KEY = "valuegraph.parser"
UNPARSED_KEY = "valuegraph.unparsed"


def responses_parser(responses: pl.DataFrame) -> str:
    """The parser of a responses table (its ``parser`` column; ``strict`` when absent)."""
    if "parser" not in responses.columns:
        return "strict"
    parsers = sorted(responses["parser"].drop_nulls().unique().to_list())
    if len(parsers) > 1:
        raise DataError(f"responses mix parsers {parsers}; rerun collect with one collect.parser")
    parser = parsers[0] if parsers else "strict"
    if parser not in PARSERS:
        raise DataError(f"responses: unknown parser {parser!r}; expected one of {list(PARSERS)}")
    return parser


def matrix_scoring(path: str | os.PathLike[str]) -> dict[str, str]:
    """The parser and unparsed scoring a matrix Parquet file records (empty when it has none)."""
    meta = pl.read_parquet_metadata(path)
    return {k: meta[k] for k in (PARSER_KEY, UNPARSED_KEY) if k in meta}


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
    # strict: unparsed answers are missing; paper: they score 0 (collect's score column)
    zero = unparsed_scoring(responses_parser(responses)) == "zero"
    per_value = (
        responses.filter(answered if score == "hard" and not zero else pl.lit(True))
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
