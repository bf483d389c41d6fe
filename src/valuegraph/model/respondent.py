"""The LLM respondent: a loaded model + engine answering items as a persona under a condition.

Conditions map to a persona line and an optional steering hook:

- ``none``: the paper's persona line, no hook;
- ``value_prompt:<value>:<+|->``: the paper's explicit "inclined / disinclined to the the value of"
  persona line (:func:`valuegraph.prompts.value_prompt_line`), no hook;
- ``sae:<feature>`` / ``sae:c<rank>``: the persona line plus a :class:`ResidualSteering` that adds
  ``coefficient x W_dec[feature]`` at the SAE's hook (the rank is resolved in the candidates file).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import polars as pl

from valuegraph.collect import BatchCallback
from valuegraph.config import Condition, ModelSpec, read_definitions
from valuegraph.errors import ConfigError, DataError
from valuegraph.io import read_json
from valuegraph.model.engine import Engine, EngineSettings
from valuegraph.model.loading import load_model
from valuegraph.model.steering import ResidualSteering, hook_layer
from valuegraph.prompts import persona_line, value_prompt_line

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SteeringSetup:
    """What steered conditions need: the SAE record, the candidates file, the coefficient and
    positions, and the value definitions of value prompts."""

    sae_record: str | Path | None = None
    candidates: str | Path | None = None
    coefficient: float = 100.0
    positions: str = "marker"
    definitions: str | Path | None = None


class LLMRespondent:
    """Answers through :class:`Engine`; conditions map to a persona line and a steering hook."""

    def __init__(
        self,
        spec: ModelSpec,
        settings: EngineSettings,
        materialised: str | Path | None = None,
        device: Any = None,
        steering: SteeringSetup | None = None,
    ) -> None:
        self.spec = spec
        self.mode = settings.mode
        self.model, self.tokenizer = load_model(spec, materialised, device)
        self.engine = Engine(self.model, self.tokenizer, settings)
        self.setup = steering or SteeringSetup()
        self._sae: Any = None
        self._layer: int | None = None
        self._definitions: dict[str, str] | None = None
        self._hooks: dict[str, ResidualSteering | None] = {}

    # ------------------------------------------------------------------ persona
    def persona(self, role: dict[str, Any], condition: Condition) -> str:
        if condition.kind == "value_prompt":
            value, sign = condition.args
            return value_prompt_line(role["mini_trait"], value, self.definition(value), sign)
        return persona_line(role["mini_trait"])

    def definition(self, value: str) -> str:
        if self._definitions is None:
            if self.setup.definitions is None:
                raise ConfigError("value_prompt conditions need a definitions file (--definitions)")
            self._definitions = read_definitions(self.setup.definitions)
        if value not in self._definitions:
            raise ConfigError(
                f"{self.setup.definitions}: no definition for value {value!r}; add a row"
            )
        return self._definitions[value]

    # ------------------------------------------------------------------ steering
    def feature(self, condition: Condition) -> int:
        """The SAE feature a sae / sae_candidate condition adds."""
        if condition.kind == "sae":
            return condition.feature
        if self.setup.candidates is None:
            raise ConfigError(f"condition {condition.spec!r} needs the candidates file")
        features = [c["feature"] for c in read_json(self.setup.candidates)["candidates"]]
        if condition.rank > len(features):
            raise DataError(
                f"{self.setup.candidates}: condition {condition.spec!r} asks for candidate "
                f"{condition.rank}, but only {len(features)} were ranked"
            )
        return int(features[condition.rank - 1])

    def sae(self) -> tuple[Any, int]:
        """The SAE (loaded once) and the decoder layer it hooks."""
        if self._sae is None:
            from valuegraph.model.sae import check_width, load_sae

            if self.setup.sae_record is None:
                raise ConfigError("sae conditions need the SAE record (--sae-record)")
            record = read_json(self.setup.sae_record)
            self._sae = load_sae(record)
            check_width(self._sae, self.model.config.hidden_size, f"model '{self.spec.name}'")
            self._layer = hook_layer(record["hook"], self.model)
        return self._sae, self._layer  # type: ignore[return-value]

    def steering(self, condition: Condition) -> ResidualSteering | None:
        if condition.kind in ("none", "value_prompt"):
            return None
        if condition.kind not in ("sae", "sae_candidate"):
            raise ConfigError(f"the LLM respondent cannot run condition {condition.spec!r}")
        if condition.spec not in self._hooks:
            from valuegraph.model.sae import decoder_row

            sae, layer = self.sae()
            feature = self.feature(condition)
            direction = decoder_row(sae, feature).to(next(self.model.parameters()).device)
            hook = ResidualSteering(
                self.model, layer, direction, self.setup.coefficient, self.setup.positions
            )
            log.info(
                "%s: feature %d at layer %d, coefficient %g, |W_dec[f]| %.4g, |added| %.4g",
                condition.spec,
                feature,
                layer,
                self.setup.coefficient,
                float(direction.norm()),
                float(hook.vector.norm()),
            )
            self._hooks[condition.spec] = hook
        return self._hooks[condition.spec]

    def answer(
        self,
        role: dict[str, Any],
        items: pl.DataFrame,
        condition: Condition,
        skip: set[int],
        on_batch: BatchCallback,
    ) -> None:
        self.engine.answer(
            self.persona(role, condition),
            items["question"].to_list(),
            steering=self.steering(condition),
            skip=skip,
            on_batch=on_batch,
        )
