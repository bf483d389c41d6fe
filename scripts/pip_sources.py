"""pip's configured package sources as uv options, one per line.

uv does not read pip's configuration. scripts/setup and tests/test_envs.py pass on what pip is
configured with (pip.conf, then PIP_* variables, which win): index-url, extra-index-url,
find-links and constraint as the uv options of the same names, and cert as ``--cert FILE``,
which the caller exports as SSL_CERT_FILE (uv's way to trust a certificate bundle).
"""

import ast
import subprocess
import sys

OPTIONS = ("index-url", "extra-index-url", "find-links", "constraint", "cert")


def pip_sources() -> list[str]:
    """``[option, value, option, value, ...]`` from ``pip config list``."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    found: dict[str, list[str]] = {}
    for line in listed.splitlines():  # files first (global < install), then :env: (PIP_*)
        key, _, value = line.partition("=")
        section, _, name = key.rpartition(".")
        if section in ("global", "install", ":env:") and value:
            found[name] = ast.literal_eval(value).split()
    found["cert"] = found.get("cert", [])[:1]
    pairs = [(f"--{name}", value) for name in OPTIONS for value in found.get(name, [])]
    return [arg for pair in pairs for arg in pair]


if __name__ == "__main__":
    print(*pip_sources(), sep="\n")
