"""Paper mode: the authors' persona files, their answer parser and ValueBench's definitions."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from valuegraph.collect import RESPONSE_SCHEMA
from valuegraph.config import read_definitions, validate
from valuegraph.definitions import build_definitions, make_definitions, read_value2def
from valuegraph.errors import DataError
from valuegraph.items import fetch
from valuegraph.matrix import build_matrix, matrix_scoring
from valuegraph.parsing import parse_paper, parse_strict
from valuegraph.roles import read_persona_file, read_roles, roles_from_files

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PERSONAS = SHARED / "paper-personas"
VALUEBENCH = SHARED / "valuebench"
SHA = {
    "players100.json": "65a1438cd945e50bf8d36d60382368856c1f87a8e31b3a477d279f331872f8e2",
    "players25.json": "529ddbd7e5748c6862c49e4e9f9716ed616bbc21d389afeaceb2660e3910f27d",
    "value_data.xlsx": "b2dcb8e79bd1b4c23631b354788e60928d1a86f5e8706e434f5d5af98d1cc82a",
}
PACKAGED = REPO / "src/valuegraph/data/value_definitions.tsv"

needs_personas = pytest.mark.skipif(
    not (PERSONAS / "players25.json").exists(), reason="the authors' persona files are not here"
)
needs_xlsx = pytest.mark.skipif(
    not (VALUEBENCH / "value_data.xlsx").exists(), reason="ValueBench's value_data.xlsx is not here"
)


def cli(*args, cwd=None):
    env_path = str(REPO / "src")
    return subprocess.run(
        [sys.executable, "-m", "valuegraph", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )


def one_line_error(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# ---- roles from the authors' files


@needs_personas
def test_authors_persona_files_in_order():
    train = read_persona_file(PERSONAS / "players100.json", SHA["players100.json"])
    test = read_persona_file(PERSONAS / "players25.json", SHA["players25.json"])
    assert len(train) == 100 and len(test) == 25
    raw = json.loads((PERSONAS / "players25.json").read_text())
    assert [p["name"] for p in test] == list(raw)  # file order
    assert test[0]["name"] == "Erika Jones" and test[15]["name"] == "Mary Holt"
    assert test[15]["mini_trait"] == raw["Mary Holt"]["mini_trait"]
    assert test[15]["mini_trait"] == "Gender: female; Job: Surgeon, MBTI: ISTJ"
    assert (test[15]["gender"], test[15]["job"], test[15]["mbti"]) == ("female", "Surgeon", "ISTJ")
    assert sum(p["gender"] == "male" for p in train) == 51  # spec section 3: 51 male / 49 female

    roles = roles_from_files(PERSONAS / "players100.json", PERSONAS / "players25.json", 100, 25)
    assert [r["role_id"] for r in roles["test"][:2]] == ["none", "test-000-Erika-Jones"]
    assert roles["test"][16]["role_id"] == "test-015-Mary-Holt"
    assert roles["test"][16]["name"] == "Mary Holt" and len(roles["train"]) == 101
    assert set(roles["test"][1]) == set(roles["test"][0])  # today's record schema
    subset = roles_from_files(PERSONAS / "players100.json", PERSONAS / "players25.json", 8, 2)
    assert subset["train"][1:] == roles["train"][1:9] and subset["test"][1:] == roles["test"][1:3]
    with pytest.raises(DataError, match="n_test is 26 but the file has 25 personas"):
        roles_from_files(PERSONAS / "players100.json", PERSONAS / "players25.json", 1, 26)


@needs_personas
def test_roles_command_writes_file_roles(tmp_path):
    out = {s: tmp_path / f"{s}.json" for s in ("train", "test")}
    result = cli(
        "roles", "--n-train", 3, "--n-test", 16,
        "--train-file", PERSONAS / "players100.json", "--test-file", PERSONAS / "players25.json",
        "--train-sha256", SHA["players100.json"], "--test-sha256", SHA["players25.json"],
        "--out-train", out["train"], "--out-test", out["test"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    test = read_roles(out["test"])
    assert test[0]["role_id"] == "none" and test[-1]["name"] == "Mary Holt"
    assert len(read_roles(out["train"])) == 4


TRAIT = "Gender: male; Job: X, MBTI: INTJ"
BAD_FILES = [
    (["Erika Jones"], "expected a JSON object keyed by persona name, got a list"),
    ({"Erika Jones": {"bio2": "x"}}, r"persona 1 of 1 \('Erika Jones'\), key 'mini_trait'"),
    ({"A": {"mini_trait": TRAIT}, "B": {"mini_trait": ""}}, "persona 2 of 2"),
    ({"A": "Gender: male"}, "expected an object, got a string"),
    ("{not json", "not valid JSON"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_bad_persona_file_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "players.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError, match=message):
        read_persona_file(path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"A": {"mini_trait": "Gender: male; Job: X, MBTI: INTJ"}}))
    result = cli(
        "roles", "--n-train", 1, "--n-test", 1, "--train-file", path, "--test-file", good,
        "--out-train", tmp_path / "a.json", "--out-test", tmp_path / "b.json",
    )  # fmt: skip
    assert message.split(",")[0].replace("\\", "") in one_line_error(result).replace("\\", "")


@needs_personas
def test_persona_file_with_another_sha256(tmp_path):
    with pytest.raises(DataError, match="does not match the pinned"):
        read_persona_file(PERSONAS / "players25.json", SHA["players100.json"])
    # the fetch: a local copy with another checksum is skipped, and the download (offline here,
    # or a file with another checksum) fails with one line naming the roles keys
    result = cli(
        "fetch-roles", "--url", "http://127.0.0.1:9/players25.json",
        "--sha256", SHA["players100.json"], "--split", "test",
        "--local-copy", PERSONAS / "players25.json", "--out", tmp_path / "p.json",
    )  # fmt: skip
    line = one_line_error(result)
    assert "roles.local_copies" in line and not (tmp_path / "p.json").exists()
    ok = cli(
        "fetch-roles", "--url", "http://127.0.0.1:9/players25.json",
        "--sha256", SHA["players25.json"], "--split", "test",
        "--local-copy", PERSONAS / "players100.json", "--local-copy", PERSONAS / "players25.json",
        "--out", tmp_path / "p.json",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "p.json").read_bytes() == (PERSONAS / "players25.json").read_bytes()


def test_config_keys_and_defaults():
    config = validate({})
    assert config["roles"]["source"] == "generated"
    assert config["roles"]["files"]["test"]["sha256"] == SHA["players25.json"]
    assert config["roles"]["files"]["train"]["url"].endswith("/tutorials/players100.json")
    assert config["collect"]["parser"] == "strict"
    assert config["definitions"]["source"] == "valuebench"
    assert config["definitions"]["sha256"] == SHA["value_data.xlsx"]
    import yaml

    paper = validate(yaml.safe_load((REPO / "config/paper.yaml").read_text()))
    assert paper["roles"]["source"] == "file" and paper["collect"]["parser"] == "paper"


# ---- the paper's parser

REPLIES = {
    # reply: (paper, strict)
    " Being nice helps.\nAnswer: yes": ("yes", "yes"),
    " Answer: no at first.\nAnswer: yes": ("yes", "no"),  # the last answer vs the first
    "Sure, it is good.": ("yes", "unparsed"),
    " It depends.\nAnswer: sure": ("yes", "unparsed"),
    "no, I would not.": ("no", "no"),
    "Yes.": ("yes", "yes"),
    " Hard to say.\nAnswer: not really": ("no", "unparsed"),  # 'no' prefix matches 'not'
    " Hard to say.\nAnswer: unsure": ("unsure", "unparsed"),
    "I cannot answer that.": ("unsure", "unparsed"),
    " It depends on the situation.\nAnswer: maybe": ("unparsed", "unparsed"),
    " Thought only, no answer line.": ("unparsed", "unparsed"),
    "": ("unparsed", "unparsed"),
}


@pytest.mark.parametrize("reply", list(REPLIES))
def test_paper_parser_next_to_strict(reply):
    paper, strict = REPLIES[reply]
    assert parse_paper(reply) == paper
    assert parse_strict(reply) == strict


def _responses(parser, answers):
    """One role, one value, one agreement +1 item per answer, scored as collect scores."""
    base = {k: None for k in RESPONSE_SCHEMA}
    rows = [
        {**base, "role_id": "r1", "condition": "none", "item_id": f"i{n}", "value": "Social",
         "agreement": 1, "answer": a, "parser": parser, "mode": "generate"}
        for n, a in enumerate(answers)
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=RESPONSE_SCHEMA)
    sign = pl.when(pl.col("answer") == "yes").then(1.0).when(pl.col("answer") == "no").then(-1.0)
    return frame.with_columns((pl.col("agreement") * sign.otherwise(0.0)).alias("score"))


def test_unparsed_scores_zero_under_the_paper_parser(tmp_path):
    replies = ["Yes.", "no, never", " Hmm.\nAnswer: maybe", " Fine.\nAnswer: sure"]
    paper = build_matrix(_responses("paper", [parse_paper(r) for r in replies]), ["Social"])
    strict = build_matrix(_responses("strict", [parse_strict(r) for r in replies]), ["Social"])
    # paper: yes, no, unparsed (0), yes -> (1 - 1 + 0 + 1) / 4
    assert paper["Social"][0] == pytest.approx(0.25)
    assert (paper["n_answered"][0], paper["n_unparsed"][0]) == (3, 1)
    # strict: yes, no, unparsed, unparsed -> missing, mean over the 2 answered
    assert strict["Social"][0] == pytest.approx(0.0)
    assert (strict["n_answered"][0], strict["n_unparsed"][0]) == (2, 2)
    mixed = pl.concat([_responses("paper", ["yes"]), _responses("strict", ["no"])])
    with pytest.raises(DataError, match="mix parsers"):
        build_matrix(mixed, ["Social"])

    # the matrix command records the parser in the file's metadata
    responses = tmp_path / "responses.parquet"
    _responses("paper", [parse_paper(r) for r in replies]).write_parquet(responses)
    (tmp_path / "values.json").write_text('["Social"]')
    result = cli(
        "matrix", responses, "--values", tmp_path / "values.json", "--out", tmp_path / "m.parquet"
    )
    assert result.returncode == 0, result.stderr
    assert matrix_scoring(tmp_path / "m.parquet") == {
        "valuegraph.parser": "paper",
        "valuegraph.unparsed": "zero",
    }
    assert pl.read_parquet(tmp_path / "m.parquet")["Social"][0] == pytest.approx(0.25)


# ---- value definitions from ValueBench


def _sheet_independently(path):
    """value -> definitions of sheet value2def, read with pandas + openpyxl (not our reader)."""
    import pandas as pd

    frame = pd.read_excel(path, sheet_name="value2def", engine="openpyxl")
    out = {}
    for value, definition in zip(
        frame["value dimension"], frame["corresponding definition/description"], strict=True
    ):
        if isinstance(value, str) and isinstance(definition, str) and definition.strip():
            out.setdefault(value.strip(), []).append(definition.strip())
    return out


@needs_xlsx
def test_valuebench_definitions_joined_as_the_paper(tmp_path):
    xlsx = VALUEBENCH / "value_data.xlsx"
    sheet = read_value2def(xlsx, SHA["value_data.xlsx"])
    expected = _sheet_independently(xlsx)
    assert sheet["Aesthetic"] == expected["Aesthetic"][0] == "Harmony and beauty."
    assert sheet["Social"] == " ".join(expected["Social"]) == "Focus on Others Love for people."
    assert len(expected["Empathy"]) == 3
    assert sheet["Empathy"] == " ".join(" ".join(d.split()) for d in expected["Empathy"])
    assert "Anxiety Disorder" not in sheet

    out = tmp_path / "definitions.tsv"
    rows = make_definitions(
        xlsx, PACKAGED, out, SHA["value_data.xlsx"], required=["Social", "Anxiety Disorder"]
    )
    sources = {v: s for v, _, s in rows}
    assert sources["Social"] == "valuebench" and sources["Anxiety Disorder"] == "fallback"
    read = read_definitions(out)  # the three-column TSV reads as value -> definition
    assert read["Social"] == "Focus on Others Love for people."
    assert read["Anxiety Disorder"] == read_definitions(PACKAGED)["Anxiety Disorder"]

    with pytest.raises(DataError, match=r"\['Kindness'\] have no definition"):
        make_definitions(xlsx, PACKAGED, tmp_path / "x.tsv", required=["Kindness"])
    with pytest.raises(DataError, match="does not match the pinned"):
        read_value2def(xlsx, SHA["players25.json"])


def test_fallback_for_values_the_sheet_lacks():
    rows = build_definitions({"Social": "Love for people."}, {"Social": "other", "Odd": "x"})
    assert rows == [("Social", "Love for people.", "valuebench"), ("Odd", "x", "fallback")]


@needs_xlsx
def test_definitions_command(tmp_path):
    copy = tmp_path / "copy.xlsx"
    shutil.copy(VALUEBENCH / "value_data.xlsx", copy)
    fetched = fetch(
        "http://127.0.0.1:9/x.xlsx", SHA["value_data.xlsx"], tmp_path / "f.xlsx", [copy]
    )
    result = cli(
        "definitions", "--xlsx", fetched, "--sha256", SHA["value_data.xlsx"],
        "--fallback", PACKAGED, "--require", "Anxiety Disorder", "--out", tmp_path / "d.tsv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Anxiety Disorder\t" in (tmp_path / "d.tsv").read_text()
    bad = tmp_path / "bad.xlsx"
    bad.write_text("not a workbook")
    result = cli("definitions", "--xlsx", bad, "--fallback", PACKAGED, "--out", tmp_path / "e.tsv")
    assert "not a readable xlsx workbook" in one_line_error(result)
