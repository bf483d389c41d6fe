"""Roles stage: seeded Faker personas with the paper's mini_trait."""

import json
import re

import pytest

from valuegraph.errors import DataError
from valuegraph.roles import MBTI_TYPES, make_roles, read_roles


def test_roles_are_seeded_unique_and_formatted():
    roles = make_roles(20, 5, seed=3)
    assert [r["role_id"] for r in roles["train"][:2]] == ["none", "train-000"]
    assert len(roles["train"]) == 21 and len(roles["test"]) == 6
    people = roles["train"][1:] + roles["test"][1:]
    assert len({p["name"] for p in people}) == 25
    for person in people:
        assert person["gender"] in ("male", "female") and person["mbti"] in MBTI_TYPES
        assert re.fullmatch(
            r"Gender: (male|female); Job: .+, MBTI: [EI][SN][TF][JP]", person["mini_trait"]
        )
    assert roles == make_roles(20, 5, seed=3)
    assert roles["train"][1]["name"] != make_roles(20, 5, seed=4)["train"][1]["name"]
    assert roles["train"][0]["mini_trait"] == ""


def _write(tmp_path, content):
    path = tmp_path / "roles.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_read_roles_round_trip(tmp_path):
    roles = make_roles(3, 1, seed=0)["train"]
    assert read_roles(_write(tmp_path, roles)) == roles


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty, not JSON"),
        ("role_id,mini_trait\nnone,\n", r"not valid JSON \(line 1: Expecting value\)"),
        ([], r"the roles file has no rows \(an empty list\)"),
        ({"role_id": "none"}, "the roles file must be a JSON list of records, got an object"),
        ("null", "the roles file must be a JSON list of records, got null"),
        ([["none", ""]], r"record 1 of 1 is a list, not an object with keys \['role_id'"),
        (["none"], "record 1 of 1 is a string, not an object"),
        (
            [{"role_id": "none", "mini_trait": ""}, {"role_id": "train-000"}],
            "record 2 of 2, key 'mini_trait': missing; each record needs keys",
        ),
        ([{"mini_trait": ""}], "record 1 of 1, key 'role_id': missing"),
        (
            [{"role_id": 7, "mini_trait": ""}],
            "record 1 of 1, key 'role_id': expected a string, got 7$",
        ),
        ([{"role_id": " ", "mini_trait": ""}], "record 1 of 1, key 'role_id': empty value"),
        (
            [{"role_id": "r", "mini_trait": None}],
            "record 1 of 1, key 'mini_trait': expected a string, got null$",
        ),
        (
            [{"role_id": "r", "mini_trait": ""}] * 2,
            "records 1 and 2, key 'role_id': duplicate 'r'; role ids must be unique",
        ),
    ],
    ids=[
        "empty-file",
        "csv-not-json",
        "empty-list",
        "object",
        "null",
        "header-less-rows",
        "strings",
        "missing-mini-trait",
        "missing-role-id",
        "role-id-number",
        "role-id-blank",
        "mini-trait-null",
        "duplicate",
    ],
)
def test_bad_roles_file_names_file_record_and_key(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: {message}"):
        read_roles(path)
