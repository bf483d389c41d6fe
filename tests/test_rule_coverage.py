"""Every rule is reached by a test config: the README's ``--directory .test...`` commands, each
dry-run on a copy of its working directory without results, together plan every rule of
``snakemake --list-rules``. A new rule that no test config reaches fails here, in seconds, before
the slow test (tests/test_readme_command.py) runs the same commands for real."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, snakemake_env
from test_readme_command import MAIN_COMMAND, Command, parse, readme_test_commands


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=snakemake_env(),
        cwd=cwd,
    )


def planned_rules(output: str) -> set[str]:
    """The rules of a dry run's 'Job stats' table."""
    assert "Job stats:" in output, output[-3000:]
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1] for m in re.finditer(r"^(\w+)\s+\d+$", table, re.M)} - {"total"}


def dry_run(command: Command, workdir: Path) -> set[str]:
    """The rules the command would run from scratch: its working directory (config and the
    files the config names) copied to ``workdir`` without results, dry-run with the same options
    and targets."""
    shutil.copytree(
        REPO / command.directory,
        workdir,
        symlinks=True,
        ignore=shutil.ignore_patterns("results", ".snakemake"),
    )
    result = snakemake(
        "-n", *command.options, "--directory", str(workdir), *command.targets, cwd=workdir
    )
    assert result.returncode == 0, f"{command.line!r}:\n{result.stdout[-2000:]}{result.stderr}"
    return planned_rules(result.stdout)


@pytest.fixture(scope="module")
def commands() -> list[Command]:
    lines = readme_test_commands()
    assert MAIN_COMMAND in lines, f"README Quick start lacks the line {MAIN_COMMAND!r}"
    return [parse(line) for line in lines]


def test_readme_commands_name_test_configs(commands):
    for command in commands:
        assert command.directory.split("/")[0] == ".test", command.line
        config = REPO / command.directory / "config" / "config.yaml"
        assert config.exists(), f"{command.line!r}: no {config.relative_to(REPO)}"


def test_test_configs_reach_every_rule(commands, tmp_path):
    listed = snakemake("--list-rules", cwd=REPO)
    assert listed.returncode == 0, listed.stderr[-3000:]
    rules = set(listed.stdout.split())
    assert {"all", "collect", "discover", "prepare_model"} <= rules
    planned = {c.line: dry_run(c, tmp_path / f"run{i}") for i, c in enumerate(commands)}
    assert "all" in planned[MAIN_COMMAND]
    reached = set().union(*planned.values())
    assert rules - reached == set(), (
        "rules no test config reaches: add them to a .test config (and its README line)"
    )
    assert reached <= rules
