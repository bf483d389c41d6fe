"""Acquiescence: scores centred on each respondent's mean answer (ipsatised, as the PVQ's authors
prescribe), beside the raw scores.

A respondent is one (role, condition) row. Its *acquiescence* is its mean raw answer over all
the items it answered: +1 yes / −1 no (hard score) or 2 p_yes − 1 (soft score), before the
item's keying is applied. Each item's answer is centred on it, the keying (``agreement``, ±1)
is applied, and the centred items are averaged per value:

    centred_v = mean over the value's items i of  agreement_i × (answer_i − acquiescence)

For the PVQ40 items, which are all keyed +1, this is exactly Schwartz's prescription (each
value's mean minus the respondent's mean over all its items, centred at item level before
averaging per value). For an item set that mixes keyings (the 17 ValueBench values) it removes
the general readiness to say yes from the answers, and a value with as many reverse-keyed items
as keyed ones is left unchanged. With every item keyed one way the centred values are linearly
dependent (their item-weighted sum is zero), so no causal graph can be learned from them.
"""

from __future__ import annotations

import polars as pl

from valuegraph.errors import DataError
from valuegraph.matrix import build_matrix, responses_parser
from valuegraph.parsing import unparsed_scoring

KEYS = ["role_id", "condition"]


def centred_responses(responses: pl.DataFrame, score: str = "hard") -> pl.DataFrame:
    """``responses`` with the score column of ``score`` (``score`` or ``soft_score``) replaced by
    its centred version (see the module docstring). The respondent's mean is taken over the
    items its matrix score averages: answered items (hard, strict parser) or every item (hard,
    paper parser: unparsed answers score 0; soft)."""
    column = "score" if score == "hard" else "soft_score"
    missing = {column, "agreement", *KEYS} - set(responses.columns)
    if missing:
        raise DataError(f"responses lack the columns {sorted(missing)} needed for centring")
    zero = unparsed_scoring(responses_parser(responses)) == "zero"
    counted = (
        pl.col("answer").is_in(["yes", "no"]) if score == "hard" and not zero else pl.lit(True)
    )
    agreement = pl.col("agreement").cast(pl.Float64)
    raw = pl.col(column) * agreement  # agreement is ±1: undo the keying
    acquiescence = (
        pl.when(counted).then(raw).otherwise(None).mean().over(KEYS).alias("_acquiescence")
    )
    return (
        responses.with_columns(acquiescence)
        .with_columns((agreement * (raw - pl.col("_acquiescence"))).alias(column))
        .drop("_acquiescence")
    )


def centred_matrix(responses: pl.DataFrame, values: list[str], score: str = "hard") -> pl.DataFrame:
    """The role × value matrix of :func:`valuegraph.matrix.build_matrix` on centred answers."""
    return build_matrix(centred_responses(responses, score), values, score)


def acquiescence(responses: pl.DataFrame, score: str = "hard") -> pl.DataFrame:
    """Each respondent's mean raw answer (the acquiescence index): role_id, condition,
    acquiescence."""
    column = "score" if score == "hard" else "soft_score"
    raw = pl.col(column) * pl.col("agreement").cast(pl.Float64)
    frame = responses
    if score == "hard" and unparsed_scoring(responses_parser(responses)) != "zero":
        frame = frame.filter(pl.col("answer").is_in(["yes", "no"]))
    return frame.group_by(KEYS).agg(raw.mean().alias("acquiescence")).sort(KEYS)
