"""``valuegraph prepare-model``: make a model loadable offline and record its identity."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from valuegraph.config import ModelSpec
from valuegraph.io import write_json

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare-model", help="materialise a GGUF model or check a hub/local model")
    p.add_argument("--model", required=True, help="the model record as JSON (from the config)")
    p.add_argument("--checkpoint", help="folder for a materialised GGUF checkpoint")
    p.add_argument("--out", required=True, help="resolved model record (JSON)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    spec = ModelSpec.from_dict(json.loads(args.model))
    if spec.source == "simulated":  # nothing to load: record the planted SEM (no torch)
        from valuegraph.simulated import record

        write_json(record(spec.to_dict()), args.out)
        log.info("simulated model %s ready", spec.name)
        return
    from valuegraph.model.loading import check_available, materialise_gguf

    materialised = None
    if spec.source == "gguf_package":
        materialised = materialise_gguf(spec, args.checkpoint)
    shape = check_available(spec, materialised)
    record = {
        "spec": spec.to_dict(),
        "materialised": str(Path(materialised).resolve()) if materialised else None,
        **shape,
    }
    write_json(record, args.out)
    log.info("model %s ready: %s", spec.name, shape)
