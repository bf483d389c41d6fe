"""Snakemake workflow catalog conventions: a LICENSE matching pyproject, the catalog's usage
file, localrules for the download, and snakefmt-formatted Snakefiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SNAKEFILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]

# SPDX id -> the first line and a sentence of the licence's standard text
LICENSE_TEXTS = {
    "MIT": (
        "MIT License",
        "Permission is hereby granted, free of charge, to any person obtaining a copy",
    ),
}


def test_license_file_matches_pyproject():
    spdx = PYPROJECT["project"]["license"]
    assert spdx in LICENSE_TEXTS, f"pyproject license {spdx!r}: add its text to LICENSE_TEXTS"
    heading, sentence = LICENSE_TEXTS[spdx]
    text = (REPO / "LICENSE").read_text()
    assert text.splitlines()[0] == heading
    assert sentence in text
    assert re.search(r"^Copyright \(c\) \d{4} The valuegraph authors$", text, re.M)
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_catalog_file_has_the_usage_keys():
    path = REPO / ".snakemake-workflow-catalog.yml"
    settings = yaml.safe_load(path.read_text())
    usage = settings["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    flags = usage["mandatory-flags"]
    assert set(flags) == {"desc", "flags"}
    assert isinstance(flags["desc"], str) and flags["desc"].strip()
    assert isinstance(flags["flags"], str | list)
    deployment = usage["software-stack-deployment"]
    assert deployment["conda"] is True
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda"}
    # the catalog reads usage.report; the workflow declares a report
    assert usage["report"] is True
    assert re.search(r"^report:", (REPO / "Snakefile").read_text(), re.M)
    # the licence is named, the same as pyproject's
    assert f"{PYPROJECT['project']['license']}-licensed" in path.read_text()


def test_download_and_target_rules_run_on_the_submitting_host():
    text = (REPO / "Snakefile").read_text()
    block = re.search(r"^localrules:\n((?:    \w+,\n)+)", text, re.M)
    assert block, "no localrules: block in the Snakefile"
    local = set(re.findall(r"(\w+),", block[1]))
    defined = set(re.findall(r"^rule (\w+):", "\n".join(p.read_text() for p in SNAKEFILES), re.M))
    downloads = {rule for rule in defined if rule.startswith("fetch_")}
    assert {"fetch_items", "fetch_roles", "fetch_definitions"} <= downloads
    assert local == {"all"} | downloads


def _snakefmt() -> list[str]:
    exe = Path(sys.executable).parent / "snakefmt"
    found = str(exe) if exe.exists() else shutil.which("snakefmt")
    assert found, "snakefmt is missing: pip install -e '.[test]'"
    return [found]


def test_snakefmt_pin_is_installed():
    pins = dict(d.split("==") for d in PYPROJECT["project"]["optional-dependencies"]["test"])
    assert "snakefmt" in pins, "pin snakefmt in pyproject's test extra"
    out = subprocess.run(
        [*_snakefmt(), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split()[-1] == pins["snakefmt"], out.stdout


def test_snakefiles_are_snakefmt_formatted():
    # As the catalog checks it (snakefmt --check from the repository root, which reads
    # [tool.snakefmt] in pyproject.toml); without that table, the project's ruff line length.
    args = [*_snakefmt(), "--check"]
    if "snakefmt" not in PYPROJECT.get("tool", {}):
        args += ["--line-length", str(PYPROJECT["tool"]["ruff"]["line-length"])]
    out = subprocess.run(
        [*args, *map(str, SNAKEFILES)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, (
        f"run `snakefmt {' '.join(args[2:])} Snakefile workflow/rules/`:\n"
        + (out.stdout + out.stderr)[-3000:]
    )
