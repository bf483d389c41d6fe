"""Residual-stream steering with plain forward hooks on the Hugging Face model.

``blocks.L.hook_resid_post`` (TransformerLens / SAELens naming) is the output of decoder layer L.
A :class:`ResidualSteering` adds ``coefficient * direction`` there at selected token positions
during the prompt pass only (forward calls with more than one position); generated tokens are
not steered, as in the paper.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from valuegraph.errors import ConfigError
from valuegraph.model.loading import decoder_layers

HOOK_PATTERN = re.compile(r"^blocks\.(\d+)\.hook_resid_post$")


def hook_layer(hook_name: str, model: torch.nn.Module) -> int:
    """The decoder layer of a ``blocks.L.hook_resid_post`` hook name, checked against depth."""
    match = HOOK_PATTERN.match(hook_name)
    if not match:
        raise ConfigError(f"hook {hook_name!r} is not of the form blocks.L.hook_resid_post")
    layer = int(match.group(1))
    depth = len(decoder_layers(model))
    if layer >= depth:
        raise ConfigError(
            f"hook {hook_name!r}: layer {layer} is beyond the model's depth ({depth} layers, "
            f"0..{depth - 1}); choose a smaller layer"
        )
    return layer


def resid_post_module(model: torch.nn.Module, layer: int) -> torch.nn.Module:
    """The module whose output is ``blocks.{layer}.hook_resid_post``."""
    return decoder_layers(model)[layer]


class ResidualSteering:
    """Add ``coefficient * direction`` to the residual after decoder layer ``layer``.

    :param positions: ``marker`` (the tokens of the marker phrase) or ``all`` (every prompt token).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        layer: int,
        direction: torch.Tensor,
        coefficient: float,
        positions: str = "marker",
    ) -> None:
        if positions not in ("marker", "all"):
            raise ConfigError(f"steering positions must be 'marker' or 'all', got {positions!r}")
        self.model = model
        self.layer = layer
        self.direction = direction.detach().flatten()
        self.coefficient = float(coefficient)
        self.positions = positions
        self._mask: torch.Tensor | None = None
        self.calls = 0  # prompt passes steered so far (for tests and logs)

    @property
    def vector(self) -> torch.Tensor:
        return self.coefficient * self.direction

    def _hook(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        mask = self._mask
        if mask is None or hidden.shape[1] == 1:  # decode steps are never steered
            return output
        if mask.shape != hidden.shape[:2]:
            raise RuntimeError(
                f"steering mask {tuple(mask.shape)} != hidden {tuple(hidden.shape[:2])}"
            )
        self._mask = None  # one prompt pass per activation: later calls (decode) pass through
        self.calls += 1
        delta = mask.to(hidden.dtype).unsqueeze(-1) * self.vector.to(hidden.device, hidden.dtype)
        hidden = hidden + delta
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    @contextmanager
    def active(self, mask: torch.Tensor | None) -> Iterator[None]:
        """Steer the next prompt pass at ``mask`` (bool [batch, seq]) and nothing after it;
        the hook is removed on exit, also on error."""
        self._mask = mask
        handle = resid_post_module(self.model, self.layer).register_forward_hook(self._hook)
        try:
            yield
        finally:
            handle.remove()
            self._mask = None


def marker_token_positions(tokenizer: Any, text: str, marker: str) -> list[int]:
    """Token indices (within ``tokenizer(text)``) overlapping the first occurrence of ``marker``."""
    start = text.find(marker)
    if start < 0:
        raise ConfigError(f"steering marker {marker!r} does not occur in the prompt")
    end = start + len(marker)
    encoded = tokenizer(text, return_offsets_mapping=True)
    return [
        i for i, (a, b) in enumerate(encoded["offset_mapping"]) if b > a and a < end and b > start
    ]


def load_direction(path: str | Path, d_model: int | None = None) -> torch.Tensor:
    """A steering direction from a plain vector file (``.npy``, ``.pt`` or whitespace text).

    The direction is used as given (not normalised); its length is checked against ``d_model``.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"steering direction file {path} does not exist")
    if path.suffix == ".npy":
        import numpy as np

        vector = torch.from_numpy(np.load(path))
    elif path.suffix in (".pt", ".pth"):
        vector = torch.load(path, map_location="cpu", weights_only=True)
    else:
        vector = torch.tensor([float(x) for x in path.read_text().split()])
    vector = vector.detach().float().flatten()
    if d_model is not None and vector.numel() != d_model:
        raise ConfigError(
            f"steering direction {path}: {vector.numel()} values, but the model's residual "
            f"stream has {d_model}; use a direction of the model's width"
        )
    return vector
