"""Matrix stage: aggregation, unparsed handling, fixed value order."""

import math
import re

import polars as pl
import pytest

from valuegraph.collect import RESPONSE_SCHEMA
from valuegraph.errors import DataError
from valuegraph.matrix import build_matrix, read_matrix, value_columns


def responses(rows):
    base = {k: None for k in RESPONSE_SCHEMA}
    frame = pl.DataFrame([{**base, **r} for r in rows], schema=RESPONSE_SCHEMA)
    sign = (
        pl.when(pl.col("answer") == "yes")
        .then(1.0)
        .when(pl.col("answer") == "no")
        .then(-1.0)
        .otherwise(0.0)
    )
    return frame.with_columns(
        (pl.col("agreement").cast(pl.Float64) * sign).alias("score"),
        (pl.col("agreement").cast(pl.Float64) * (2 * pl.col("p_yes") - 1)).alias("soft_score"),
    )


ROWS = [
    {
        "role_id": "r1",
        "condition": "none",
        "item_id": "a",
        "value": "B",
        "agreement": 1,
        "answer": "yes",
        "p_yes": 0.9,
    },
    {
        "role_id": "r1",
        "condition": "none",
        "item_id": "b",
        "value": "B",
        "agreement": -1,
        "answer": "yes",
        "p_yes": 0.6,
    },
    {
        "role_id": "r1",
        "condition": "none",
        "item_id": "c",
        "value": "A",
        "agreement": 1,
        "answer": "unparsed",
        "p_yes": 0.5,
    },
    {
        "role_id": "r1",
        "condition": "none",
        "item_id": "d",
        "value": "A",
        "agreement": -1,
        "answer": "no",
        "p_yes": 0.1,
    },
]


def test_hard_scores_ignore_unparsed_and_keep_value_order():
    matrix = build_matrix(responses(ROWS), ["B", "A"])
    assert value_columns(matrix) == ["B", "A"]
    row = matrix.row(0, named=True)
    assert row["B"] == pytest.approx(0.0)  # (+1 - 1) / 2
    assert row["A"] == pytest.approx(1.0)  # only the answered item: -1 x -1
    assert (row["n_answered"], row["n_unparsed"]) == (3, 1)


def test_soft_scores_use_p_yes():
    row = build_matrix(responses(ROWS), ["B", "A"], score="soft").row(0, named=True)
    assert row["B"] == pytest.approx(((0.8) + (-0.2)) / 2)
    assert row["A"] == pytest.approx((0.0 + 0.8) / 2)


def test_all_unparsed_value_is_missing_not_zero():
    rows = [r for r in ROWS if r["item_id"] == "c"] + [ROWS[0]]
    row = build_matrix(responses(rows), ["B", "A"]).row(0, named=True)
    assert row["A"] is None or math.isnan(row["A"])


def test_unknown_value_is_an_error():
    with pytest.raises(DataError, match=r"values \['A'\] not in the value list"):
        build_matrix(responses(ROWS), ["B"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_matrix_refuses_a_header_without_rows(tmp_path, suffix):
    matrix = build_matrix(responses(ROWS), ["B", "A"])
    path = tmp_path / f"m{suffix}"
    write = matrix.write_csv if suffix == ".csv" else matrix.write_parquet
    write(path)
    assert read_matrix(path).equals(matrix)
    empty = tmp_path / f"empty{suffix}"
    (matrix.clear().write_csv if suffix == ".csv" else matrix.clear().write_parquet)(empty)
    with pytest.raises(DataError, match=rf"^{re.escape(str(empty))}: the matrix has a header but"):
        read_matrix(empty)


def test_read_matrix_names_empty_ragged_and_missing_files(tmp_path):
    empty = tmp_path / "m.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"m.csv: the matrix is empty \(no header, no rows\)"):
        read_matrix(empty)
    ragged = tmp_path / "r.csv"
    ragged.write_text("role_id,A,B\nr1,0.5,0.1\nr2,0.5,0.1,0.9\n")
    with pytest.raises(DataError, match=r"r.csv: row 3 has 4 fields but the header has 3"):
        read_matrix(ragged)
    with pytest.raises(DataError, match=r"nope.parquet: file not found"):
        read_matrix(tmp_path / "nope.parquet")
