"""The CLI: every command is registered by the module the dispatch table names."""

import argparse
import importlib
import subprocess
import sys

from valuegraph import cli


def registered(module: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module).register(sub)
    return set(sub.choices)


def test_dispatch_table_matches_registrations():
    for module in cli.COMMAND_MODULES:
        assert registered(module) == {c for c, m in cli.COMMANDS.items() if m == module}, module


def test_a_command_imports_only_its_module():
    code = (
        "import sys; from valuegraph.cli import main\n"
        "try:\n    main(['--log', '/dev/null', 'roles', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'causallearn', 'dowhy', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
