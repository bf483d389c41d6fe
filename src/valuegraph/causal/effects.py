"""Stage 6, effects: DoWhy estimates of role-prompt and steering effects (graph-implied effects:
:mod:`valuegraph.causal.ida`).

Tidy polars tables, one row per (treatment, outcome):

* :func:`role_effects` -- persona prompt (treatment 1) versus the no-role baseline (``role_id``
  ``"none"``, treatment 0) on each value. Only the unsteered condition by default; when the matrix
  holds several conditions, every condition's baseline row is used, with the condition as a common
  cause (fixed effects). **Limitation:** a matrix has one baseline row per (split, condition), so
  the control arm is a single row per condition: the CI rests on the spread across personas
  (homoskedastic OLS) and says nothing about how noisy the baseline row itself is.
* :func:`steering_effects` -- each steering condition versus ``"none"``, paired within role: rows
  of roles with both conditions, the role as a categorical common cause (role fixed effects; the
  estimate equals the mean within-role difference and its OLS CI the paired-t CI).

Columns of the role and steering tables:

``treatment``, ``control`` (the contrast; ``role_prompt`` vs ``no_role``, or a condition id vs
``none``), ``outcome`` (a value), ``estimate`` (difference in value score, treated - control),
``ci_low``, ``ci_high`` (OLS CI, default 95 %), ``p_value`` (estimate's t-test), ``n`` (rows in
the regression), ``n_treated``, ``n_control``, ``adjustment`` (common causes: ``role``,
``condition`` or empty), then for each refuter R: ``refute_R_effect`` (mean re-estimated effect
over the simulations) and ``refute_R_p`` (DoWhy's p-value of the original estimate under the
simulated distribution). Refuters: ``placebo`` (permuted treatment; the new effect should be
near 0 and, for a real effect, p small), ``random_common_cause`` (an added N(0, 1) confounder)
and ``data_subset`` (80 % row subsets): these two should leave the estimate unchanged (p large).
Refuters run ``refute_simulations`` times each (default 20; DoWhy's default is 100): one
regression per simulation, so cost grows as conditions x values x refuters x simulations.
Contrasts with fewer than two paired roles get NaN CI and refutations.

All randomness comes from ``seed``; DoWhy's logging and warnings go to the log at DEBUG level
(the DoWhy boundary is :mod:`valuegraph.causal.estimation`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import polars as pl

from valuegraph.causal.estimation import (
    check_matrix,
    check_refuters,
    dowhy_estimate,
    nan_result,
)
from valuegraph.errors import DataError

log = logging.getLogger(__name__)

BASELINE = "none"
ROLE_REFUTERS = ("placebo", "random_common_cause")
STEERING_REFUTERS = ("placebo", "random_common_cause", "data_subset")


def effect_schema(refuters: Sequence[str]) -> dict[str, pl.DataType]:
    """Column schema of the role and steering tables for the given refuters."""
    schema: dict[str, pl.DataType] = {
        "treatment": pl.String(),
        "control": pl.String(),
        "outcome": pl.String(),
        "estimate": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "p_value": pl.Float64(),
        "n": pl.Int64(),
        "n_treated": pl.Int64(),
        "n_control": pl.Int64(),
        "adjustment": pl.String(),
    }
    for name in refuters:
        schema[f"refute_{name}_effect"] = pl.Float64()
        schema[f"refute_{name}_p"] = pl.Float64()
    return schema


# --------------------------------------------------------------------------- role prompt


def role_effects(
    matrix: pl.DataFrame,
    values: Sequence[str] | None = None,
    *,
    seed: int = 0,
    refute_simulations: int = 20,
    refuters: Sequence[str] = ROLE_REFUTERS,
    pool_conditions: bool = True,
    confidence_level: float = 0.95,
) -> pl.DataFrame:
    """Effect of a persona prompt versus no role on each value (see module docstring).

    :param pool_conditions: use every condition that has a baseline row and persona rows, with
        the condition as a common cause; ``False`` uses the unsteered condition only.
    """
    values = check_matrix(matrix, values)
    refuters = check_refuters(refuters)
    is_base = pl.col("role_id") == BASELINE
    usable = (
        matrix.group_by("condition")
        .agg(is_base.any().alias("base"), (~is_base).any().alias("persona"))
        .filter(pl.col("base") & pl.col("persona"))
        .get_column("condition")
        .sort()
        .to_list()
    )
    if not matrix.filter(is_base).height:
        raise DataError(
            f"matrix has no baseline rows (role_id {BASELINE!r}); the role effect needs the "
            "no-role baseline -- build the matrix with the baseline role included"
        )
    conditions = usable if pool_conditions else [c for c in usable if c == BASELINE]
    if not conditions:
        raise DataError(
            f"no condition has both a baseline row (role_id {BASELINE!r}) and persona rows"
            + ("" if pool_conditions else f" in condition {BASELINE!r}")
        )
    rows = matrix.filter(pl.col("condition").is_in(conditions))
    treated = (rows.get_column("role_id") != BASELINE).to_numpy()
    adjust = len(conditions) > 1
    log.info(
        "role effects: %d persona rows vs %d baseline rows over condition(s) %s",
        int(treated.sum()),
        int((~treated).sum()),
        conditions,
    )
    records = []
    for v in values:
        frame = pd.DataFrame({"t": treated, "y": rows.get_column(v).to_numpy()})
        if adjust:
            frame["c0"] = pd.Categorical(rows.get_column("condition").to_list())
        result = dowhy_estimate(
            frame,
            refuters=refuters,
            simulations=refute_simulations,
            seed=seed,
            key=("role", v),
            confidence_level=confidence_level,
        )
        records.append(
            {
                "treatment": "role_prompt",
                "control": "no_role",
                "outcome": v,
                **result,
                "n": rows.height,
                "n_treated": int(treated.sum()),
                "n_control": int((~treated).sum()),
                "adjustment": "condition" if adjust else "",
            }
        )
    return pl.DataFrame(records, schema=effect_schema(refuters), orient="row")


# --------------------------------------------------------------------------- steering


def steering_effects(
    matrix: pl.DataFrame,
    values: Sequence[str] | None = None,
    *,
    seed: int = 0,
    refute_simulations: int = 20,
    refuters: Sequence[str] = STEERING_REFUTERS,
    confidence_level: float = 0.95,
) -> pl.DataFrame:
    """Effect of each steering condition versus ``none`` on each value, paired within role.

    Roles lacking either row of a contrast are dropped from it; with fewer than two pairs the
    estimate is the single difference and CI and refutations are NaN.
    """
    values = check_matrix(matrix, values)
    refuters = check_refuters(refuters)
    schema = effect_schema(refuters)
    conditions = sorted(set(matrix.get_column("condition").to_list()) - {BASELINE})
    if not conditions:
        log.info("steering effects: no steering conditions in the matrix; empty table")
        return pl.DataFrame(schema=schema)
    if BASELINE not in matrix.get_column("condition").to_list():
        raise DataError(
            f"matrix has steering conditions {conditions} but no unsteered rows "
            f"(condition {BASELINE!r}) to compare them with"
        )
    dup = matrix.group_by("role_id", "condition").len().filter(pl.col("len") > 1)
    if dup.height:
        first = dup.row(0, named=True)
        raise DataError(
            f"matrix has {dup.height} repeated (role_id, condition) pair(s), e.g. "
            f"({first['role_id']!r}, {first['condition']!r}); one row per pair is expected"
        )
    base = matrix.filter(pl.col("condition") == BASELINE)
    records = []
    for cond in conditions:
        steered = matrix.filter(pl.col("condition") == cond)
        roles = sorted(set(steered.get_column("role_id")) & set(base.get_column("role_id")))
        if not roles:
            log.warning("steering effects: condition %r shares no role with %r", cond, BASELINE)
            continue
        pair = (
            pl.concat([base, steered])
            .filter(pl.col("role_id").is_in(roles))
            .sort("role_id", "condition")
        )
        treated = (pair.get_column("condition") == cond).to_numpy()
        role = pd.Categorical(pair.get_column("role_id").to_list())
        log.info("steering effects: %r vs %r on %d paired roles", cond, BASELINE, len(roles))
        for v in values:
            y = pair.get_column(v).to_numpy()
            if len(roles) < 2:
                result = nan_result(float(y[treated].mean() - y[~treated].mean()), refuters)
            else:
                frame = pd.DataFrame({"t": treated, "y": y, "c0": role})
                result = dowhy_estimate(
                    frame,
                    refuters=refuters,
                    simulations=refute_simulations,
                    seed=seed,
                    key=("steering", cond, v),
                    confidence_level=confidence_level,
                )
            records.append(
                {
                    "treatment": cond,
                    "control": BASELINE,
                    "outcome": v,
                    **result,
                    "n": pair.height,
                    "n_treated": int(treated.sum()),
                    "n_control": int((~treated).sum()),
                    "adjustment": "role",
                }
            )
    return pl.DataFrame(records, schema=schema, orient="row")
