"""Steering conditions as data: parsing, expansion, ids, config errors, the value-prompt line."""

from __future__ import annotations

import pytest
from conftest import PAPER_VALUES

import valuegraph.config as vg_config
from valuegraph.config import condition_id, expand_conditions, parse_condition, read_definitions
from valuegraph.errors import ConfigError
from valuegraph.prompts import value_prompt_line

LOCAL = {"name": "m", "source": "local", "id": "/nowhere"}
TRAINED = {**LOCAL, "sae": {"source": "train", "hook": "blocks.2.hook_resid_post"}}


def config(conditions, models=None, **extra):
    return vg_config.validate({"conditions": conditions, "models": models or [TRAINED], **extra})


def test_forms_parse_to_kinds_and_args():
    assert parse_condition("none").kind == "none"
    c = parse_condition("sae:1312")
    assert (c.kind, c.feature, c.id) == ("sae", 1312, "sae_1312")
    c = parse_condition("sae:c07")
    assert (c.kind, c.rank, c.id) == ("sae_candidate", 7, "sae_c07")
    c = parse_condition("value_prompt:Positive coping:-")
    assert (c.kind, c.args) == ("value_prompt", ("Positive coping", "-"))
    assert c.id == "value_prompt_positive_coping_neg"
    assert condition_id("value_prompt:Empathy:+") == "value_prompt_empathy_pos"


@pytest.mark.parametrize(
    "spec",
    [
        "sae",
        "sae:",
        "sae:x12",
        "sae:c00",
        "sae:1:2",
        "value_prompt:Empathy",
        "value_prompt:Empathy:x",
        "prompt:Empathy:+",
        "None",
    ],
)
def test_unknown_syntax_names_the_allowed_forms(spec):
    with pytest.raises(ConfigError) as err:
        parse_condition(spec)
    message = str(err.value)
    assert repr(spec) in message and "allowed forms" in message
    for form in ("none", "sae:<feature index>", "sae:candidates", "value_prompt:<value>:<+|->"):
        assert form in message
    assert "\n" not in message


def test_candidates_expand_to_ranked_slots_in_order():
    cfg = config(["none", "sae:candidates", "sae:5"], steering={"n_candidates": 3})
    assert expand_conditions(cfg) == ["none", "sae:c01", "sae:c02", "sae:c03", "sae:5"]
    assert [condition_id(c) for c in expand_conditions(cfg)][1:4] == [
        "sae_c01",
        "sae_c02",
        "sae_c03",
    ]
    assert len(expand_conditions(config(["sae:candidates"]))) == 24  # the paper's default


def test_value_prompt_with_unknown_value_is_an_error():
    with pytest.raises(ConfigError, match="unknown value 'Empathie'.*Empathy"):
        config(["none", "value_prompt:Empathie:+"], items={"values": ["Empathy", "Social"]})
    # without items.values the definitions file is the list of known values
    with pytest.raises(
        ConfigError, match=r"\['Kindness'\] have no definition in .*value_definitions\.tsv"
    ):
        config(["none", "value_prompt:Kindness:+"])
    cfg = config(["none", "value_prompt:Empathy:+", "value_prompt:Empathy:-"])
    assert expand_conditions(cfg)[1:] == ["value_prompt:Empathy:+", "value_prompt:Empathy:-"]


def test_sae_conditions_need_an_sae_block_with_its_keys():
    with pytest.raises(ConfigError, match="model 'm' has no 'sae' block"):
        config(["none", "sae:3"], models=[LOCAL])
    with pytest.raises(ConfigError, match="needs 'sae.hook'"):
        config(["none"], models=[{**LOCAL, "sae": {"source": "train"}}])
    with pytest.raises(ConfigError, match="needs 'sae.release'"):
        config(
            ["none"],
            models=[{**LOCAL, "sae": {"source": "release", "id": "blocks.1.hook_resid_post"}}],
        )
    with pytest.raises(ConfigError, match="sae.hook"):
        config(["none"], models=[{**LOCAL, "sae": {"source": "train", "hook": "layer.2"}}])
    cfg = config(["none", "sae:candidates"], steering={"n_candidates": 2})
    assert vg_config.sae_conditions(cfg) == ["sae:c01", "sae:c02"]
    assert cfg["steering"]["coefficient"] == 100  # the paper's
    assert cfg["models"][0]["sae"].get("coefficient") is None


def test_packaged_definitions_cover_the_paper_values():
    defs = read_definitions(vg_config.definitions_path({"steering": {}}))
    assert set(defs) == set(PAPER_VALUES)
    assert all(len(d) > 20 and "\t" not in d for d in defs.values())


def test_definitions_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "defs.tsv"
    bad.write_text("name\tmeaning\nEmpathy\tcaring\n")
    with pytest.raises(ConfigError, match="defs.tsv: the first non-comment line"):
        read_definitions(bad)
    bad.write_text("value\tdefinition\nEmpathy\n")
    with pytest.raises(ConfigError, match="defs.tsv: row 2"):
        read_definitions(bad)


def test_value_prompt_line_is_the_papers_text():
    trait = "Gender: female; Job: Civil engineer, MBTI: INTJ"
    assert value_prompt_line(trait, "Empathy", "Caring.", "+") == (
        "(FYI, here is your trait. Gender: female; Job: Civil engineer, MBTI: INTJ. "
        'You are inclined to the the value of Empathy, which means "Caring.")\n\n'
    )
    assert value_prompt_line(trait, "Empathy", "Caring.", "-").startswith(
        "(FYI, here is your trait. Gender: female; Job: Civil engineer, MBTI: INTJ. "
        "You are disinclined"
    )
    assert value_prompt_line("", "Social", "Kind.", "+") == (
        "(You are inclined to the the value of Social, which has the following meanings: "
        '"Kind.")\n\n'
    )
    with pytest.raises(ValueError):
        value_prompt_line("", "Social", "Kind.", "x")
