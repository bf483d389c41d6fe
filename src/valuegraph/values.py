"""Named value sets and their orders. Pure Python: the workflow's DAG build imports it."""

from __future__ import annotations

# Schwartz (1992) circular order; adjacent values are compatible, opposite ones conflict.
SCHWARTZ_ORDER = (
    "Self-Direction",
    "Stimulation",
    "Hedonism",
    "Achievement",
    "Power",
    "Security",
    "Conformity",
    "Tradition",
    "Benevolence",
    "Universalism",
)
