"""Items stage: checks, value selection and the seeded, polarity-stratified split."""

from __future__ import annotations

import polars as pl
import pytest

from valuegraph import items
from valuegraph.errors import DataError


def test_paper_value_set_and_split_sizes(items_csv):
    table = items.read_items(
        items_csv, "cb81699e9ed621477d120246b3facd4d2943e880a93e19a68bdb4deaed9f6f11"
    )
    assert table.height == 1988
    values = items.select_values(table, None, 20)
    assert len(values) == 17 and "Achievement" in values and "Understanding" in values
    split = items.split(table, values, 0.7, seed=0)
    assert split.filter(pl.col("split") == "train").height == 253
    assert split.filter(pl.col("split") == "test").height == 113
    empathy = split.filter(pl.col("value") == "Empathy")
    assert empathy.filter(pl.col("split") == "train").height == 18  # int(0.7 * 27)
    # polarity stratified: Empathy has 16 (+1) / 11 (-1); both signs appear on both sides
    for side in ("train", "test"):
        signs = set(empathy.filter(pl.col("split") == side)["agreement"].to_list())
        assert signs == {-1, 1}


def test_split_is_seeded(items_csv):
    table = items.read_items(items_csv)
    values = items.select_values(table, None, 20)
    a = items.split(table, values, 0.7, seed=1)
    b = items.split(table, values, 0.7, seed=1)
    c = items.split(table, values, 0.7, seed=2)
    assert a.equals(b)
    assert not a["split"].equals(c["split"])
    assert sorted(a["item_id"]) == sorted(c["item_id"])


def test_train_sample_is_paired_and_per_role(items_csv):
    table = items.read_items(items_csv)
    values = items.select_values(table, None, 20)
    train = items.split(table, values, 0.7, seed=0).filter(pl.col("split") == "train")
    first = items.sample_for_role(train, "train-000", 0.4, seed=0)
    assert first.height == 108  # the paper's per-role count
    assert first.equals(items.sample_for_role(train, "train-000", 0.4, seed=0))
    other = items.sample_for_role(train, "train-001", 0.4, seed=0)
    assert set(first["item_id"]) != set(other["item_id"])


def write(tmp_path, text):
    path = tmp_path / "items.csv"
    path.write_text(text)
    return path


HEADER = "questionnaire,item,value,agreement,question\n"


def test_missing_column_is_named(tmp_path):
    path = write(tmp_path, "questionnaire,item,value,question\nQ,i,V,Should I?\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['agreement'\]"):
        items.read_items(path)


def test_bad_agreement_names_row_and_column(tmp_path):
    path = write(tmp_path, HEADER + "Q,i1,V,1,Should I a?\nQ,i2,V,2,Should I b?\n")
    with pytest.raises(DataError, match=r"row 3, column 'agreement': '2' is not \+1 or -1"):
        items.read_items(path)


def test_duplicate_items_and_empty_file(tmp_path):
    path = write(tmp_path, HEADER + "Q,i1,V,1,Should I a?\nQ,i1,V,1,Should I a?\n")
    with pytest.raises(DataError, match=r"rows \[2, 3\], column 'item': duplicate"):
        items.read_items(path)
    with pytest.raises(DataError, match="empty"):
        items.read_items(write(tmp_path, ""))


def test_wrong_checksum_and_unknown_value(items_csv, tmp_path):
    with pytest.raises(DataError, match="does not match items.sha256"):
        items.read_items(items_csv, "0" * 64)
    table = items.read_items(items_csv)
    with pytest.raises(DataError, match=r"unknown value name\(s\) \['Kindness'\]"):
        items.select_values(table, ["Achievement", "Kindness"], 20)


def test_value_without_test_items(tmp_path):
    rows = "".join(f"Q,i{i},V,1,Should I {i}?\n" for i in range(2))
    table = items.read_items(write(tmp_path, HEADER + rows + "Q,j,W,1,Should I j?\n"))
    with pytest.raises(DataError, match="value 'W' has 1 items, leaving no"):
        items.split(table, ["V", "W"], 0.7, seed=0)


def test_header_only_file_has_no_rows(tmp_path):
    path = write(tmp_path, HEADER)
    with pytest.raises(DataError, match=r"items.csv: the items file has a header but no rows"):
        items.read_items(path)


@pytest.mark.parametrize(
    ("rows", "where"),
    [
        ("Q,i1,V,,Should I a?\n", "row 2, column 'agreement'"),
        ("Q,i1,V,1,Should I a?\nQ,i2,V,-1,\n", "row 3, column 'question'"),
        ("Q,i1,V,1,Should I a?\nQ,i2,  ,-1,Should I b?\n", "row 3, column 'value'"),
        ("Q,,V,1,Should I a?\n", "row 2, column 'item'"),
        ("Q,i1,V,1\n", "row 2, column 'question'"),  # a short row: the cell is missing
        # the first row in file order wins, whichever column is blank
        ("Q,i1,V,1,\nQ,i2,V,,Should I b?\n", "row 2, column 'question'"),
    ],
    ids=["agreement", "question", "value-spaces", "item", "short-row", "first-row-first"],
)
def test_blank_cell_names_file_row_and_column(tmp_path, rows, where):
    path = write(tmp_path, HEADER + rows)
    with pytest.raises(DataError, match=rf"items.csv: {where}: empty value$"):
        items.read_items(path)


def test_blank_line_and_ragged_row_are_named(tmp_path):
    path = write(tmp_path, HEADER + "Q,i1,V,1,Should I a?\n,,,,\n")
    with pytest.raises(DataError, match=r"items.csv: row 3: the row is blank; delete it"):
        items.read_items(path)
    path = write(tmp_path, HEADER + "Q,i1,V,1,Should I a?\nQ,i2,V,1,Should I, or not?\n")
    with pytest.raises(DataError, match=r"row 3 has 6 fields but the header has 5") as err:
        items.read_items(path)
    assert "\n" not in str(err.value)
