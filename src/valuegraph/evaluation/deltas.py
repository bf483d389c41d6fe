"""Score matrices as the steering evaluation reads them, and paired deltas.

A matrix has one row per (role, condition): a string column ``role`` (``role_id``, the workflow's
name, is an alias; ``role`` wins when both exist), a string column ``condition`` and one numeric
column per value, in column order. The workflow's bookkeeping columns ``n_answered`` and
``n_unparsed`` are not values. Conditions are read in either spelling: the config string
(``none``, ``sae:1975``, ``value_prompt:Empathy:+``) or the workflow's path-safe id
(``sae_1975``, ``value_prompt_empathy_pos``); both name the same condition.

A condition's effect on a role is ``delta = V(role, condition) - V(role, none)`` (roles matched by
name). With threshold t a delta is *up* when ``delta > t``, *down* when ``delta < -t`` and *same*
when ``|delta| <= t`` (t = 0, the paper's: exactly equal); a missing (NaN) delta is none of them
and is not counted in N.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from valuegraph.config import condition_id
from valuegraph.errors import DataError

NONE = "none"
NO_ROLE = "none"
ROLE_COLUMNS = ("role", "role_id")
CONDITION_COLUMN = "condition"
BOOKKEEPING = ("n_answered", "n_unparsed")
SIGNS = ("+", "-")

_SAE = re.compile(r"sae[:_](c?)(\d+)")
_PROMPT = re.compile(r"value_prompt:(.+):([+-])")


def role_column(frame: pl.DataFrame, source: str) -> str:
    """``role`` if the matrix has it, else ``role_id``; neither is an error naming the file."""
    for name in ROLE_COLUMNS:
        if name in frame.columns:
            return name
    raise DataError(
        f"{source}: no 'role' column (nor its alias 'role_id'); columns: {frame.columns}"
    )


def value_columns(frame: pl.DataFrame) -> list[str]:
    """The numeric columns, in column order, except identifiers and bookkeeping."""
    skip = {*ROLE_COLUMNS, CONDITION_COLUMN, *BOOKKEEPING}
    return [
        c for c, t in frame.schema.items() if c not in skip and t.is_numeric() and t != pl.Boolean
    ]


def prompt_ids(values: Iterable[str]) -> dict[str, str]:
    """{workflow id: config string} of the value_prompt conditions on ``values``."""
    out = {}
    for value in values:
        for sign in SIGNS:
            spec = f"value_prompt:{value}:{sign}"
            out[condition_id(spec)] = spec
    return out


def canonical_condition(raw: str, prompts: Mapping[str, str] | None = None) -> str:
    """The config spelling of a condition: ``sae_1975`` -> ``sae:1975``, ``sae_c01`` ->
    ``sae:c01``, a value-prompt id (``prompts``: :func:`prompt_ids`) -> ``value_prompt:V:+``;
    anything else is returned unchanged."""
    raw = str(raw)
    match = _SAE.fullmatch(raw)
    if match:
        cand, number = match.groups()
        return f"sae:c{int(number):02d}" if cand else f"sae:{int(number)}"
    if prompts and raw in prompts:
        return prompts[raw]
    return raw


def sae_feature(condition: str) -> str | None:
    """The id after ``sae:`` of an SAE condition (``1975``, ``c01``), else None."""
    return condition[4:] if condition.startswith("sae:") else None


def value_prompt(condition: str) -> tuple[str, str] | None:
    """(value, sign) of a ``value_prompt:V:+`` condition, else None."""
    match = _PROMPT.fullmatch(condition)
    return (match.group(1), match.group(2)) if match else None


class ScoreMatrix:
    """One score matrix, indexed by (condition, role); ``values`` are the columns read.

    :param values: the value columns to read (each must be a numeric column; an error names the
        missing one and the file); default: every numeric column in column order.
    :param source: how errors name the matrix (its path).
    """

    def __init__(
        self, frame: pl.DataFrame, values: Sequence[str] | None = None, source: str = "matrix"
    ) -> None:
        self.source = str(source)
        self.frame = frame
        role = role_column(frame, self.source)
        if CONDITION_COLUMN not in frame.columns:
            raise DataError(f"{self.source}: no 'condition' column; columns: {frame.columns}")
        numeric = value_columns(frame)
        if values is None:
            values = numeric
        for v in values:
            if v not in frame.columns:
                raise DataError(
                    f"{self.source}: value column {v!r} is missing (value columns: {numeric})"
                )
            if v not in numeric:
                raise DataError(f"{self.source}: value column {v!r} is not numeric")
        if not values:
            raise DataError(f"{self.source}: no numeric value columns")
        self.values = list(values)
        self.all_values = numeric
        for column in (role, CONDITION_COLUMN):
            if frame[column].null_count():
                raise DataError(f"{self.source}: column {column!r} has empty cells")
        prompts = prompt_ids([*numeric, *self.values])
        roles = frame[role].cast(pl.String).to_list()
        raw = frame[CONDITION_COLUMN].cast(pl.String).to_list()
        scores = (
            frame.select([pl.col(v).cast(pl.Float64) for v in self.values])
            .fill_null(float("nan"))
            .to_numpy()
        )
        self.rows: dict[str, dict[str, np.ndarray]] = {}
        self.roles: list[str] = list(dict.fromkeys(roles))
        self.raw: dict[str, str] = {}
        for r, c, x in zip(roles, raw, scores, strict=True):
            cond = canonical_condition(c, prompts)
            self.raw.setdefault(cond, c)
            by_role = self.rows.setdefault(cond, {})
            if r in by_role:
                raise DataError(f"{self.source}: two rows for role {r!r} under condition {c!r}")
            by_role[r] = x
        self.conditions: list[str] = list(self.rows)
        self._prompts = prompts

    def key(self, condition: str) -> str:
        return canonical_condition(condition, self._prompts)

    def has(self, condition: str) -> bool:
        return self.key(condition) in self.rows

    def scores(self, condition: str) -> dict[str, np.ndarray]:
        """{role: scores on ``values``} under one condition (missing = NaN); {} if absent."""
        return self.rows.get(self.key(condition), {})

    def personas(self) -> list[str]:
        """Roles with an unsteered row, except the no-persona role, in file order."""
        return [r for r in self.roles if r != NO_ROLE and r in self.scores(NONE)]

    def sae_conditions(self) -> list[str]:
        """The ``sae:`` conditions present, in file order."""
        return [c for c in self.conditions if sae_feature(c) is not None]

    def prompt_conditions(self) -> dict[tuple[str, str], str]:
        """{(value, sign): condition} of the value_prompt conditions present on ``values``."""
        out = {}
        for c in self.conditions:
            key = value_prompt(c)
            if key and key[0] in self.values:
                out[key] = c
        return out

    def deltas(
        self, condition: str, reference: str = NONE, roles: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Roles and ``V(role, condition) - V(role, reference)`` ([n_roles, n_values]) for the
        roles that have both rows, in ``roles`` order when given, else in file order."""
        a, b = self.scores(condition), self.scores(reference)
        ids = [r for r in (roles if roles is not None else self.roles) if r in a and r in b]
        if not ids:
            return [], np.zeros((0, len(self.values)))
        return ids, np.stack([a[r] - b[r] for r in ids])

    def require(
        self,
        conditions: Iterable[str],
        roles: Sequence[str] | None = None,
        reference: str = NONE,
        every_role: bool = True,
    ) -> None:
        """Every condition is present, and every role (of ``roles``, default: the roles of the
        condition and of the reference) has a row under both; errors name the role, the
        condition and the file. ``every_role=False`` lets a condition cover a subset of the
        unsteered roles (the workflow steers only roles.n_train_steered train roles); its own
        roles still need an unsteered row."""
        base = self.scores(reference)
        if not base:
            raise DataError(f"{self.source}: no unsteered rows (condition {reference!r})")
        for cond in conditions:
            rows = self.scores(cond)
            if not rows:
                raise DataError(f"{self.source}: no rows of condition {cond!r}")
            default = [*base, *rows] if every_role else list(rows)
            for r in roles if roles is not None else default:
                if r not in rows:
                    raise DataError(
                        f"{self.source}: role {r!r} has no row under condition {cond!r}"
                        + (f" (it has one under {reference!r})" if r in base else "")
                    )
                if r not in base:
                    raise DataError(
                        f"{self.source}: role {r!r} has a row under condition {cond!r} but no "
                        f"unsteered ({reference!r}) row"
                    )


def as_scores(matrix: pl.DataFrame | ScoreMatrix, values: Sequence[str]) -> ScoreMatrix:
    """``matrix`` as a :class:`ScoreMatrix` on ``values``."""
    if isinstance(matrix, ScoreMatrix):
        if matrix.values == list(values):
            return matrix
        return ScoreMatrix(matrix.frame, values, matrix.source)
    return ScoreMatrix(matrix, values)


def scores_by_role(
    matrix: pl.DataFrame | ScoreMatrix, condition: str, values: Sequence[str]
) -> dict[str, np.ndarray]:
    """{role: the role's scores on ``values``} for the rows of one condition (null = NaN)."""
    return as_scores(matrix, values).scores(condition)


def paired_deltas(
    matrix: pl.DataFrame | ScoreMatrix,
    values: Sequence[str],
    condition: str,
    reference: str = NONE,
    roles: Sequence[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Roles and ``V(role, condition) - V(role, reference)`` for the roles with both rows
    (:meth:`ScoreMatrix.deltas`)."""
    return as_scores(matrix, values).deltas(condition, reference, roles)


def directions(delta: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean up (``delta > t``) / down (``delta < -t``) / same (``|delta| <= t``) arrays; a
    NaN delta is none of them."""
    finite = np.isfinite(delta)
    d = np.where(finite, delta, 0.0)
    up, down = finite & (d > threshold), finite & (d < -threshold)
    return up, down, finite & ~up & ~down


def direction_counts(delta: np.ndarray, threshold: float) -> np.ndarray:
    """[3, n_values] counts of up / down / same per column (their sum is the column's N)."""
    return np.stack([x.sum(0) for x in directions(delta, threshold)]).astype(int)


def changed(delta: np.ndarray, threshold: float) -> np.ndarray:
    """``|delta| > threshold`` with NaN = not changed."""
    return np.isfinite(delta) & (np.abs(np.nan_to_num(delta)) > threshold)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two vectors; NaN when either is zero."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na and nb else math.nan
