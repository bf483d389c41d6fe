"""Typed, validated configuration: the JSON schema (with defaults) plus frozen dataclasses."""

from __future__ import annotations

import copy
import dataclasses
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from valuegraph.errors import ConfigError

SCHEMA_RESOURCE = "data/config.schema.yaml"
CONDITION_SYNTAX = "none"


@cache
def schema() -> dict[str, Any]:
    """The config JSON schema shipped with the package (workflow/schemas links to it)."""
    text = resources.files("valuegraph").joinpath(SCHEMA_RESOURCE).read_text()
    return yaml.safe_load(text)


def _fill_defaults(instance: Any, node: dict[str, Any]) -> Any:
    """Fill schema defaults into ``instance`` recursively (objects and arrays of objects)."""
    if node.get("type") == "object" and isinstance(instance, dict):
        for key, sub in node.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                instance[key] = _fill_defaults(instance[key], sub)
    elif node.get("type") == "array" and isinstance(instance, list) and "items" in node:
        instance = [_fill_defaults(item, node["items"]) for item in instance]
    return instance


def _error_line(error: jsonschema.ValidationError, source: str) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        where = key if key != "(top level)" else "top level"
        return f"{source}: unknown key {extra} at {where}; allowed keys: {allowed}"
    if error.validator == "type":
        return (
            f"{source}: key '{key}' must be of type {error.validator_value}, "
            f"got {error.instance!r} ({type(error.instance).__name__})"
        )
    if error.validator == "enum":
        return f"{source}: key '{key}' must be one of {error.validator_value}, got {error.instance!r}"
    if error.validator == "required":
        return f"{source}: {error.message} (at '{key}')"
    return f"{source}: key '{key}': {error.message}"


def validate(raw: dict[str, Any] | None, source: str = "config") -> dict[str, Any]:
    """Validate a raw config dict against the schema, fill defaults and check cross-key rules."""
    config = copy.deepcopy(raw or {})
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys, got {type(raw).__name__}")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_error_line(errors[0], source))
    config = _fill_defaults(config, schema())
    names = [model["name"] for model in config["models"]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{source}: duplicate model names {duplicates} under 'models'; names must be unique")
    for model in config["models"]:
        if model["source"] in ("hub", "local", "gguf_package") and not model.get("id"):
            raise ConfigError(f"{source}: model '{model['name']}' (source {model['source']}) needs 'id'")
        if model["source"] == "gguf_package" and not model.get("gguf_file"):
            raise ConfigError(f"{source}: model '{model['name']}' (gguf_package) needs 'gguf_file'")
        if model["source"] == "simulated" and not model.get("simulated"):
            raise ConfigError(
                f"{source}: model '{model['name']}' (simulated) needs a 'simulated' block with 'graph'"
            )
    for condition in config["conditions"]:
        parse_condition(condition, source)
    return config


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a YAML config file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return validate(raw, str(path))


# ---------------------------------------------------------------- steering conditions


@dataclasses.dataclass(frozen=True)
class Condition:
    """A steering condition parsed from its config string."""

    spec: str
    kind: str  # none | ...
    args: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """A path-safe identifier used as the {condition} wildcard."""
        return condition_id(self.spec)


def condition_id(spec: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", spec.replace("+", "pos").replace("-", "neg")).strip("_")
    return slug.lower()


def parse_condition(spec: str, source: str = "config") -> Condition:
    """Parse a condition string; unknown syntax names the allowed forms."""
    if spec == "none":
        return Condition(spec=spec, kind="none")
    raise ConfigError(
        f"{source}: unknown steering condition {spec!r} under 'conditions'; allowed forms: {CONDITION_SYNTAX}"
    )


# ---------------------------------------------------------------- typed records


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model's identity: everything that changes its answers (used as rule params)."""

    name: str
    source: str
    id: str | None = None
    revision: str | None = None
    gguf_file: str | None = None
    template: str = "chat"
    dtype: str = "auto"
    simulated: dict[str, Any] | None = None  # source 'simulated' only (valuegraph.simulated)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def model_specs(config: dict[str, Any]) -> dict[str, ModelSpec]:
    return {m["name"]: ModelSpec.from_dict(m) for m in config["models"]}


# ---------------------------------------------------------------- documentation


def schema_markdown() -> str:
    """A Markdown table of every config key (path, type, default, description) from the schema."""
    rows: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, sub in node.get("properties", {}).items():
            path = f"{prefix}{key}"
            kind = sub.get("type", "")
            kind = " or ".join(kind) if isinstance(kind, list) else kind
            if "enum" in sub:
                kind = " \\| ".join(f"`{v}`" for v in sub["enum"])
            default = f"`{yaml.safe_dump(sub['default'], default_flow_style=True).strip()}`" if "default" in sub else "required"
            if default.endswith("...`"):
                default = default[:-5] + "`"
            description = " ".join(str(sub.get("description", "")).split())
            rows.append(f"| `{path}` | {kind} | {default} | {description} |")
            walk(sub, f"{path}.")
            if isinstance(sub.get("items"), dict):
                walk(sub["items"], f"{path}[].")

    walk(schema(), "")
    header = "| key | type | default | description |\n|---|---|---|---|\n"
    return header + "\n".join(rows) + "\n"
