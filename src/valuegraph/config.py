"""Typed, validated configuration: the JSON schema (with defaults) plus frozen dataclasses."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from valuegraph.errors import ConfigError

SCHEMA_RESOURCE = "data/config.schema.yaml"
DEFINITIONS_RESOURCE = "data/value_definitions.tsv"
CONDITION_SYNTAX = (
    "none | sae:<feature index> | sae:candidates (expands to sae:c01..sae:cK) | sae:c<rank> | "
    "value_prompt:<value>:<+|->"
)
SAE_CANDIDATES = "sae:candidates"


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


def _error_line(error: Any, source: str) -> str:
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
        return (
            f"{source}: key '{key}' must be one of {error.validator_value}, got {error.instance!r}"
        )
    if error.validator == "required":
        return f"{source}: {error.message} (at '{key}')"
    return f"{source}: key '{key}': {error.message}"


def validate(raw: dict[str, Any] | None, source: str = "config") -> dict[str, Any]:
    """Validate a raw config dict against the schema, fill defaults and check cross-key rules."""
    config = copy.deepcopy(raw or {})
    if not isinstance(config, dict):
        raise ConfigError(
            f"{source}: the config must be a mapping of keys, got {type(raw).__name__}"
        )
    import jsonschema  # lazily: the model side runs on machines without it

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_error_line(errors[0], source))
    config = _fill_defaults(config, schema())
    names = [model["name"] for model in config["models"]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(
            f"{source}: duplicate model names {duplicates} under 'models'; names must be unique"
        )
    for model in config["models"]:
        if model["source"] in ("hub", "local", "gguf_package", "gguf_chunks") and not model.get(
            "id"
        ):
            raise ConfigError(
                f"{source}: model '{model['name']}' (source {model['source']}) needs 'id'"
            )
        if model["source"] in ("gguf_package", "gguf_chunks") and not model.get("gguf_file"):
            raise ConfigError(
                f"{source}: model '{model['name']}' ({model['source']}) needs 'gguf_file'"
            )
        if model["source"] == "simulated" and not model.get("simulated"):
            raise ConfigError(
                f"{source}: model '{model['name']}' (simulated) needs a 'simulated' block "
                "with 'graph'"
            )
    _check_conditions(config, source)
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
    kind: str  # none | sae | sae_candidate | value_prompt | (simulated) shift
    args: tuple[str, ...] = ()

    @property
    def feature(self) -> int:
        """The SAE feature index (kind sae)."""
        return int(self.args[0])

    @property
    def rank(self) -> int:
        """The 1-based candidate rank (kind sae_candidate)."""
        return int(self.args[0])

    @property
    def id(self) -> str:
        """A path-safe identifier used as the {condition} wildcard."""
        return condition_id(self.spec)


def condition_id(spec: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", spec.replace("+", "pos").replace("-", "neg")).strip("_")
    return slug.lower()


def parse_condition(
    spec: str, source: str = "config", values: Sequence[str] | None = None
) -> Condition:
    """Parse a condition string; unknown syntax names the allowed forms.

    :param values: the known value names; a ``value_prompt`` naming another value is an error.
    """
    if spec == "none":
        return Condition(spec=spec, kind="none")
    parts = spec.split(":")
    if parts[0] == "sae" and len(parts) == 2:
        if re.fullmatch(r"\d+", parts[1]):
            return Condition(spec=spec, kind="sae", args=(str(int(parts[1])),))
        match = re.fullmatch(r"c(\d+)", parts[1])
        if match and int(match.group(1)) >= 1:
            return Condition(spec=spec, kind="sae_candidate", args=(str(int(match.group(1))),))
    if parts[0] == "value_prompt" and len(parts) == 3 and parts[2] in ("+", "-"):
        if values is not None and parts[1] not in values:
            raise ConfigError(
                f"{source}: condition {spec!r} names unknown value {parts[1]!r}; "
                f"known values: {', '.join(sorted(values))}"
            )
        return Condition(spec=spec, kind="value_prompt", args=(parts[1], parts[2]))
    raise ConfigError(
        f"{source}: unknown steering condition {spec!r} under 'conditions'; "
        f"allowed forms: {CONDITION_SYNTAX}"
    )


def candidate_spec(rank: int) -> str:
    """The condition string of the ``rank``-th (1-based) SAE candidate: ``sae:c01``."""
    return f"sae:c{rank:02d}"


def expand_conditions(config: dict[str, Any], specs: list[str] | None = None) -> list[str]:
    """The config's condition strings (or ``specs``) with ``sae:candidates`` expanded to
    ``sae:c01..sae:cK`` (K = steering.n_candidates), so the workflow's DAG is static while
    feature ids are resolved from the candidates file at run time."""
    out: list[str] = []
    for spec in config["conditions"] if specs is None else specs:
        if spec == SAE_CANDIDATES:
            k = config.get("steering", {}).get("n_candidates", 24)
            out += [candidate_spec(r) for r in range(1, k + 1)]
        else:
            out.append(spec)
    return list(dict.fromkeys(out))


def _model_entry(config: dict[str, Any], model: str) -> dict[str, Any]:
    return next((m for m in config["models"] if m["name"] == model), {})


def own_conditions(config: dict[str, Any], model: str) -> list[str]:
    """The model's expanded condition strings before pinning: its models[].conditions, else
    the top-level list."""
    return expand_conditions(config, _model_entry(config, model).get("conditions"))


def pinned_features(config: dict[str, Any], model: str) -> list[int] | None:
    """The SAE features pinned for ``model`` (models[].sae.features), or None."""
    sae = _model_entry(config, model).get("sae") or {}
    features = sae.get("features")
    return [int(f) for f in features] if features else None


def model_conditions(config: dict[str, Any], model: str) -> list[str]:
    """The expanded condition strings of one model: :func:`own_conditions`, except that a
    model with pinned features (models[].sae.features) steers with exactly those features:
    its SAE conditions (``sae:candidates``, ``sae:<id>``, ``sae:c<rank>``) are replaced, where
    the first of them stood, by ``sae:<id>`` for each pinned id in the listed order."""
    pinned = pinned_features(config, model)
    expanded = own_conditions(config, model)
    if pinned is None:
        return expanded
    out: list[str] = []
    for spec in expanded:
        if parse_condition(spec).kind in ("sae", "sae_candidate"):
            out += [f"sae:{f}" for f in pinned]
        else:
            out.append(spec)
    return list(dict.fromkeys(out))


def definitions_path(config: dict[str, Any]) -> Path:
    """The value-definitions TSV of value_prompt conditions (default: the packaged one)."""
    path = config.get("steering", {}).get("definitions")
    if path:
        return Path(path)
    return Path(str(resources.files("valuegraph").joinpath(DEFINITIONS_RESOURCE)))


def read_definitions(path: str | Path) -> dict[str, str]:
    """{value: definition} from a TSV with header ``value<TAB>definition`` (``#`` = comment)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: value definitions file not found (steering.definitions)")
    rows = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows or rows[0].split("\t")[:2] != ["value", "definition"]:
        raise ConfigError(f"{path}: the first non-comment line must be 'value<TAB>definition'")
    width = len(rows[0].split("\t"))  # further columns (e.g. the definitions rule's source)
    out: dict[str, str] = {}
    for lineno, line in enumerate(rows[1:], start=2):
        fields = line.split("\t")
        if len(fields) != width or not fields[0].strip() or not fields[1].strip():
            raise ConfigError(f"{path}: row {lineno} needs 'value<TAB>definition', got {line!r}")
        out[fields[0].strip()] = fields[1].strip()
    return out


def sae_conditions(config: dict[str, Any]) -> list[str]:
    """The expanded condition strings that steer with an SAE."""
    kinds = ("sae", "sae_candidate")
    return [c for c in expand_conditions(config) if parse_condition(c).kind in kinds]


def _check_conditions(config: dict[str, Any], source: str) -> None:
    """Parse every condition (top-level and models[].conditions); value_prompt values must have
    a definition (and be among items.values when that is set); an LLM model whose conditions
    use an SAE needs models[].sae."""
    explicit = config["items"].get("values")
    by_model = {
        m["name"]: [parse_condition(c, source, explicit) for c in own_conditions(config, m["name"])]
        for m in config["models"]
    }
    top = [parse_condition(c, source, explicit) for c in expand_conditions(config)]
    parsed = [*top, *(c for conds in by_model.values() for c in conds)]
    prompted = sorted({c.args[0] for c in parsed if c.kind == "value_prompt"})
    # checked against steering.definitions (with definitions.source valuebench, the fallback)
    if prompted:
        path = definitions_path(config)
        known = read_definitions(path)
        missing = [v for v in prompted if v not in known]
        if missing:
            raise ConfigError(
                f"{source}: value_prompt value(s) {missing} have no definition in {path}; "
                "add a 'value<TAB>definition' row or set steering.definitions"
            )
    for model in config["models"]:
        sae = model.get("sae")
        steers = any(c.kind in ("sae", "sae_candidate") for c in by_model[model["name"]])
        where = "its models[].conditions" if model.get("conditions") else "'conditions'"
        if steers and model["source"] != "simulated" and not sae:
            raise ConfigError(
                f"{source}: {where} use an SAE but model '{model['name']}' has no 'sae' "
                "block; add models[].sae (source release, local or train), or give the model "
                "its own models[].conditions without SAE conditions"
            )
        if not sae:
            continue
        if sae.get("features") and not steers:
            raise ConfigError(
                f"{source}: model '{model['name']}': sae.features pins SAE features but "
                f"{where} has no SAE condition; add sae:candidates (the pinned features "
                "replace it) or drop sae.features"
            )
        need = {"release": ("release", "id"), "local": ("path",), "train": ("hook",)}
        for key in need[sae["source"]]:
            if not sae.get(key):
                raise ConfigError(
                    f"{source}: model '{model['name']}': sae.source {sae['source']} needs "
                    f"'sae.{key}'"
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
    simulated: dict[str, Any] | None = None  # source 'simulated' only (valuegraph.causal.simulated)

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
            default = (
                f"`{yaml.safe_dump(sub['default'], default_flow_style=True).strip()}`"
                if "default" in sub
                else "required"
            )
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
