"""Stage 2, roles: seeded Faker personas (name, gender, job, MBTI) plus the no-role baseline,
or the authors' own persona files (``roles.source: file``, :func:`read_persona_file`).

``results/roles/{split}.json`` is a list of records with keys role_id, name, gender, job, mbti
and mini_trait (the paper's ``Gender: ...; Job: ..., MBTI: ...``; only it enters the prompt).
The baseline has role_id ``none`` and an empty mini_trait. Generated roles are
``{split}-{index:03d}``; file roles ``{split}-{index:03d}-{name}`` (index in the file, name
with non-alphanumerics as ``-``), with ``name`` the file's key.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from faker import Faker

from valuegraph.errors import ConfigError, DataError
from valuegraph.io import check_pinned, json_type, read_records
from valuegraph.seeding import derive_seed

MBTI_TYPES = [a + b + c + d for a in "EI" for b in "SN" for c in "TF" for d in "JP"]
BASELINE_ID = "none"
# What the later stages read from a role (the other keys describe the persona).
ROLE_KEYS = ("role_id", "mini_trait")
# The authors' mini_trait: "Gender: male; Job: Engineer, maintenance (IT), MBTI: ENFJ"
MINI_TRAIT_RE = re.compile(r"^Gender: (?P<gender>[^;]*); Job: (?P<job>.*), MBTI: (?P<mbti>\w+)$")


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


def first_roles(roles: list[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    """The first ``n`` roles in file order (baseline first); all of them when ``n`` is None."""
    if n is None:
        return roles
    if n < 1:
        raise ConfigError(f"--n-roles must be >= 1, got {n}")
    return roles[:n]


def read_persona_file(
    path: str | os.PathLike[str], sha256: str | None = None
) -> list[dict[str, Any]]:
    """The personas of an authors' file (a JSON object keyed by name, each value with a string
    ``mini_trait``), in file order, as {name, gender, job, mbti, mini_trait} records (gender, job
    and MBTI parsed from the mini_trait, empty when it has another shape). One-line errors."""
    path = Path(path)
    check_pinned(
        path, sha256, "persona file not found; check roles.files / roles.local_copies",
        "the pinned", "roles.files.<split>.sha256",
    )  # fmt: skip
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: expected a JSON object keyed by persona name, got {json_type(data)}"
        )
    if not data:
        raise DataError(f"{path}: the persona file has no personas")
    people = []
    for n, (name, persona) in enumerate(data.items(), 1):
        where = f"{path}: persona {n} of {len(data)} ({name!r})"
        if not name.strip():
            raise DataError(f"{where}: empty name")
        if not isinstance(persona, dict):
            raise DataError(f"{where}: expected an object, got {json_type(persona)}")
        trait = persona.get("mini_trait")
        if not isinstance(trait, str) or not trait.strip():
            got = "missing" if "mini_trait" not in persona else json.dumps(trait)
            raise DataError(f"{where}, key 'mini_trait': expected a non-empty string, got {got}")
        match = MINI_TRAIT_RE.match(trait)
        fields = match.groupdict() if match else {"gender": "", "job": "", "mbti": ""}
        people.append({"name": name, **fields, "mini_trait": trait})
    return people


def file_role_id(split: str, index: int, name: str) -> str:
    """A stable, readable role id: split, index in the file and the name (e.g.
    ``test-015-Mary-Holt``)."""
    slug = re.sub(r"[^0-9A-Za-z]+", "-", name).strip("-")
    return f"{split}-{index:03d}-{slug}"


def roles_from_files(
    train: str | os.PathLike[str],
    test: str | os.PathLike[str],
    n_train: int,
    n_test: int,
    with_baseline: bool = True,
    sha256: dict[str, str | None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The first n_train / n_test personas of the authors' files; the baseline first in each."""
    sha256 = sha256 or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for split, path, n in (("train", train, n_train), ("test", test, n_test)):
        people = read_persona_file(path, sha256.get(split))
        if n > len(people):
            raise DataError(
                f"{path}: roles.n_{split} is {n} but the file has {len(people)} personas"
            )
        records = [
            {"role_id": file_role_id(split, i, p["name"]), **p} for i, p in enumerate(people[:n])
        ]
        out[split] = ([baseline()] if with_baseline else []) + records
    return out
