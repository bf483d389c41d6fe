"""Config validation: schema defaults, one-line errors naming the key."""

import pytest

from valuegraph import config
from valuegraph.errors import ConfigError

MODEL = {"name": "m", "source": "local", "id": "/x"}


def test_defaults_filled_for_every_key():
    cfg = config.validate({"models": [MODEL]})
    assert cfg["discovery"]["alpha"] == 0.05 and cfg["items"]["min_items"] == 20
    assert cfg["models"][0]["template"] == "chat"


def test_every_schema_key_has_description_and_default():
    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            if key not in node.get("required", []) and key != "id":
                assert "default" in sub, f"{path}{key} has no default (and is not required)"
            walk(sub, f"{path}{key}.")
            if "items" in sub and isinstance(sub["items"], dict):
                walk(sub["items"], f"{path}{key}[].")

    walk(config.schema(), "")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"seed": "one"}, r"key 'seed' must be of type integer, got 'one'"),
        ({"colour": 1}, r"unknown key \['colour'\] at top level"),
        ({"discovery": {"alpha": 1.5}}, r"key 'discovery.alpha'"),
        ({"discovery": {"alpha": 0}}, r"key 'discovery.alpha'"),
        ({"models": [MODEL, MODEL]}, r"duplicate model names \['m'\]"),
        ({"conditions": ["steer:x"]}, r"unknown steering condition 'steer:x'"),
        ({"collect": {"mode": "sample"}}, r"key 'collect.mode' must be one of"),
    ],
)
def test_bad_config_names_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        config.validate({"models": [MODEL], **raw})


def test_shipped_configs_are_valid(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    for name in ("config.yaml", "paper.yaml"):
        cfg = config.load(repo / "config" / name)
        assert cfg["models"]


def test_config_readme_documents_every_key():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    expected = (repo / "config/README.md.in").read_text() + config.schema_markdown()
    assert (repo / "config/README.md").read_text() == expected, "run `valuegraph config-docs`"
