"""Stage 2, roles: seeded Faker personas (name, gender, job, MBTI) plus the no-role baseline.

``results/roles/{split}.json`` is a list of records with keys role_id, name, gender, job, mbti
and mini_trait (the paper's ``Gender: ...; Job: ..., MBTI: ...``; only it enters the prompt).
The baseline has role_id ``none`` and an empty mini_trait.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from faker import Faker

from valuegraph.errors import DataError
from valuegraph.io import read_records
from valuegraph.seeding import derive_seed

MBTI_TYPES = [a + b + c + d for a in "EI" for b in "SN" for c in "TF" for d in "JP"]
BASELINE_ID = "none"
# What the later stages read from a role (the other keys describe the persona).
ROLE_KEYS = ("role_id", "mini_trait")


def baseline() -> dict[str, Any]:
    return {
        "role_id": BASELINE_ID,
        "name": "",
        "gender": "",
        "job": "",
        "mbti": "",
        "mini_trait": "",
    }


def make_roles(
    n_train: int, n_test: int, seed: int, locale: str = "en_US", with_baseline: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """Draw n_train + n_test personas with unique names; the baseline comes first in each split."""
    fake = Faker(locale)
    fake.seed_instance(derive_seed(seed, "roles") % (2**32))
    rng = np.random.default_rng(derive_seed(seed, "mbti"))
    people: list[dict[str, Any]] = []
    names: set[str] = set()
    while len(people) < n_train + n_test:
        profile = fake.profile(fields=["name", "sex", "job"])
        if profile["name"] in names:
            continue  # the paper rejects duplicate names
        names.add(profile["name"])
        gender = "male" if profile["sex"] == "M" else "female"
        mbti = MBTI_TYPES[int(rng.integers(len(MBTI_TYPES)))]
        people.append(
            {
                "name": profile["name"],
                "gender": gender,
                "job": profile["job"],
                "mbti": mbti,
                "mini_trait": f"Gender: {gender}; Job: {profile['job']}, MBTI: {mbti}",
            }
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for split, chunk in (("train", people[:n_train]), ("test", people[n_train:])):
        records = [{"role_id": f"{split}-{i:03d}", **p} for i, p in enumerate(chunk)]
        out[split] = ([baseline()] if with_baseline else []) + records
    return out


def read_roles(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a roles JSON: a non-empty list of records with a unique string ``role_id`` and a
    string ``mini_trait`` (errors name the file, the record and the key)."""
    roles = read_records(path, ROLE_KEYS, "roles file")
    seen: dict[str, int] = {}
    for n, role in enumerate(roles, 1):
        for key in ROLE_KEYS:
            if not isinstance(role[key], str):
                raise DataError(
                    f"{path}: record {n} of {len(roles)}, key {key!r}: expected a string, got "
                    f"{json.dumps(role[key])}"
                )
        role_id = role["role_id"]
        if not role_id.strip():
            raise DataError(f"{path}: record {n} of {len(roles)}, key 'role_id': empty value")
        if role_id in seen:
            raise DataError(
                f"{path}: records {seen[role_id]} and {n}, key 'role_id': duplicate "
                f"{role_id!r}; role ids must be unique"
            )
        seen[role_id] = n
    return roles
