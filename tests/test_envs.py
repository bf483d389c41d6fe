"""Conda env files: each rule's env exists, parses, and pins what pyproject.toml pins."""

import re
import tomllib

import yaml
from conftest import REPO


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(re.fullmatch(r"([\w.-]+)==([\w.+-]+)", d).groups() for d in deps)


def test_every_rule_env_exists_and_matches_pyproject():
    pins = {k.lower(): v for k, v in pyproject_pins().items()}
    referenced = set()
    for rule_file in (REPO / "workflow" / "rules").glob("*.smk"):
        referenced |= set(re.findall(r'conda:\s*\n\s*"([^"]+)"', rule_file.read_text()))
    assert referenced, "no conda: directives found"
    for rel in referenced:
        path = (REPO / "workflow" / "rules" / rel).resolve()
        assert path.exists(), f"{rel} missing"
        env = yaml.safe_load(path.read_text())
        assert "python=3.11" in env["dependencies"]
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        for line in pip:
            match = re.fullmatch(r"(?:--no-deps )?([\w.-]+)==([\w.+-]+)", line)
            if not match:
                continue
            name, version = match[1].lower(), match[2]
            if name in pins:
                assert pins[name] == version, f"{path.name}: {name}=={version}, pyproject {pins[name]}"
