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
    "report",
    "aggregate",
    "collect",
    "config",
    "prompts",
    "io",
    "seeding",
    "bench.discovery",
    "centring",
    "summary_text",
]
# Every module of these subpackages is analysis side (stages after the matrix, and figures).
ANALYSIS_PACKAGES = ["causal", "evaluation", "figures"]
MODEL_SIDE = ("torch", "transformers", "sae_lens", "transformer_lens", "valuegraph.model")


def analysis_modules() -> list[str]:
    modules = [m for m in ANALYSIS if (PACKAGE / f"{m.replace('.', '/')}.py").exists()]
    for package in ANALYSIS_PACKAGES:
        assert (PACKAGE / package / "__init__.py").exists(), package
        modules += [
            package if path.stem == "__init__" else f"{package}.{path.stem}"
            for path in sorted((PACKAGE / package).glob("*.py"))
        ]
    return modules


def test_analysis_modules_never_import_torch():
    code = (
        "import sys\n"
        + "".join(f"import valuegraph.{m}\n" for m in analysis_modules())
        + "bad = [m for m in ('torch', 'transformers', 'sae_lens') if m in sys.modules]\n"
        + "assert not bad, bad\n"
        # figures draw with matplotlib, imported when a figure is drawn, not at import time
        + "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_analysis_packages_name_no_model_side_module():
    """Not even inside a function: causal/, evaluation/ and figures/ never import torch, its
    libraries or valuegraph.model (an import-time check cannot see a function-level import)."""
    for package in ANALYSIS_PACKAGES:
        for path in (PACKAGE / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    bad = [m for m in MODEL_SIDE if name == m or name.startswith(f"{m}.")]
                    assert not bad, f"{path} imports {name}"


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
