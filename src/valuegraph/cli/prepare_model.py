"""``valuegraph prepare-model``: make a model loadable offline and record its identity."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from valuegraph.config import ModelSpec
from valuegraph.errors import ModelUnavailableError
from valuegraph.io import write_json
from valuegraph.model_source import GGUF_SOURCES, describe, fingerprint

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare-model", help="materialise a GGUF model or check a hub/local model")
    p.add_argument("--model", required=True, help="the model record as JSON (from the config)")
    p.add_argument("--checkpoint", help="folder for a materialised GGUF checkpoint")
    p.add_argument("--out", required=True, help="resolved model record (JSON)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    given = json.loads(args.model)
    spec = ModelSpec.from_dict(given)
    if spec.source == "simulated":  # nothing to load: record the planted SEM (no torch)
        from valuegraph.causal.simulated import record

        write_json(record(spec.to_dict()), args.out)
        log.info("simulated model %s ready", spec.name)
        return
    from valuegraph.model.loading import check_available, materialise_gguf

    materialised = found = None
    if spec.source in GGUF_SOURCES:
        if not args.checkpoint:
            raise ModelUnavailableError(f"model '{spec.name}': {spec.source} needs --checkpoint")
        found = checked_fingerprint(spec, given.get("fingerprint"))
        materialised = materialise_gguf(spec, args.checkpoint, found)
    shape = check_available(spec, materialised)
    record = {
        "spec": spec.to_dict(),
        "materialised": str(Path(materialised).resolve()) if materialised else None,
        "fingerprint": found,
        **shape,
    }
    write_json(record, args.out)
    log.info("model %s ready: %s", spec.name, shape)


def checked_fingerprint(spec: ModelSpec, planned: dict | None) -> dict:
    """The packaged GGUF's fingerprint, verified (a ``gguf_package`` file is hashed and must
    match the package's RECORD; a ``gguf_chunks`` package must have its chunks).

    ``planned`` is the fingerprint the workflow planned with (the model record's
    ``fingerprint``, from the Snakemake process's environment); this job must see the same
    package, or its output would be recorded under the wrong identity.
    """
    found = fingerprint(spec.source, spec.id, spec.gguf_file, spec.name, verify=True)
    if planned is not None and planned != found:
        raise ModelUnavailableError(
            f"model '{spec.name}': the workflow was planned with package {spec.id} from "
            f"{describe(planned)} but this job sees {describe(found)}; run Snakemake with "
            "the Python environment its jobs use"
        )
    return found
