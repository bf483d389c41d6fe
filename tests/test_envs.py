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
                assert pins[name] == version, (
                    f"{path.name}: {name}=={version}, pyproject {pins[name]}"
                )


def test_every_rule_names_an_env_and_every_env_line_is_pinned():
    rule_files = list((REPO / "workflow" / "rules").glob("*.smk"))
    for rule_file in rule_files:
        for block in re.split(r"^(?=rule \w+:)", rule_file.read_text(), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block)[1]
            assert re.search(r'conda:\s*\n\s*"\.\./\.\./envs/\w+\.yaml"', block), (
                f"{rule_file.name}: rule {name} has no conda: env file"
            )
    for path in (REPO / "envs").glob("*.yaml"):
        env = yaml.safe_load(path.read_text())
        for dep in env["dependencies"]:
            if isinstance(dep, dict):
                for line in dep["pip"]:
                    if line.startswith("--") and "==" not in line:
                        continue  # an index option
                    assert re.fullmatch(r"(?:--no-deps )?[\w.-]+==[\w.+-]+", line), (
                        f"{path.name}: pip line {line!r} is not pinned with =="
                    )
            else:
                assert dep == "pip" or re.fullmatch(r"[\w.-]+=[\w.]+", dep), (
                    f"{path.name}: conda dependency {dep!r} is not pinned"
                )
