"""The one seeding scheme: every random stream is seeded by valuegraph.seeding from the master seed
and the labels naming the stream."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

from valuegraph import seeding

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "valuegraph"
# Ways to seed a generator other than valuegraph.seeding's (torch generators are seeded from
# derive_seed on the model side and are not matched here).
OTHER_SCHEMES = re.compile(r"SeedSequence|\brandom\.seed\(|np\.random\.seed\(|RandomState\(|crc32")


def test_derive_seed_is_pinned():
    """Items, roles and the simulated respondent depend on these exact numbers."""
    assert seeding.derive_seed(0, "split", "Achievement") == 5559334390506224518
    assert seeding.derive_seed(7, "bootstrap", "3") != seeding.derive_seed(7, "bootstrap", "4")
    assert 0 <= seeding.derive_seed(2**70, "x") < 2**63


def test_generators_follow_derive_seed():
    seed = seeding.derive_seed(3, "a", "b")
    assert np.array_equal(seeding.rng(3, "a", "b").random(5), np.random.default_rng(seed).random(5))
    assert np.array_equal(
        seeding.random_state(3, "a", "b").rand(5), np.random.RandomState(seed % 2**32).rand(5)
    )
    assert not np.array_equal(seeding.rng(3, "a").random(5), seeding.rng(3, "b").random(5))


def test_global_rngs_seed_and_restore():
    random.seed(123)
    np.random.seed(123)
    before = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    with seeding.global_rngs(5, "search"):
        inside = (random.random(), np.random.random())
    assert (random.random(), np.random.random()) == before  # restored, as if never entered
    with seeding.global_rngs(5, "search"):
        assert (random.random(), np.random.random()) == inside
    with seeding.global_rngs(6, "search"):
        assert (random.random(), np.random.random()) != inside


def test_no_other_seeding_scheme():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "seeding.py"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if OTHER_SCHEMES.search(line)
    ]
    assert not offenders, offenders
