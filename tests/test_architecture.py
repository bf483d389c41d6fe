"""The wall between the model side and the analysis side, and the library/CLI direction."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "valuegraph"
ANALYSIS = [
    "items",
    "roles",
    "matrix",
    "discovery",
    "graphs",
    "effects",
    "report",
    "collect",
    "config",
    "prompts",
    "io",
]


def test_analysis_modules_never_import_torch():
    code = (
        "import sys\n"
        + "".join(f"import valuegraph.{m}\n" for m in ANALYSIS if (PACKAGE / f"{m}.py").exists())
        + "bad = [m for m in ('torch', 'transformers', 'sae_lens') if m in sys.modules]\n"
        + "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_library_never_imports_the_cli():
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("valuegraph.cli")
            ):
                raise AssertionError(f"{path} imports {node.module}")
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("valuegraph.cli") for a in node.names), path
