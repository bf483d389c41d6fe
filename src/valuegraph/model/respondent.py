"""The LLM respondent: a loaded model + engine answering items as a persona under a condition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from valuegraph.collect import BatchCallback
from valuegraph.config import Condition, ModelSpec
from valuegraph.model.engine import Engine, EngineSettings
from valuegraph.model.loading import load_model
from valuegraph.model.steering import ResidualSteering
from valuegraph.prompts import persona_line


class LLMRespondent:
    """Answers through :class:`Engine`; conditions map to a persona line and a steering hook."""

    def __init__(
        self,
        spec: ModelSpec,
        settings: EngineSettings,
        materialised: str | Path | None = None,
        device: Any = None,
    ) -> None:
        self.spec = spec
        self.mode = settings.mode
        self.model, self.tokenizer = load_model(spec, materialised, device)
        self.engine = Engine(self.model, self.tokenizer, settings)

    def persona(self, role: dict[str, Any], condition: Condition) -> str:
        return persona_line(role["mini_trait"])

    def steering(self, condition: Condition) -> ResidualSteering | None:
        if condition.kind == "none":
            return None
        raise NotImplementedError(f"condition kind {condition.kind!r}")

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
