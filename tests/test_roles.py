"""Roles stage: seeded Faker personas with the paper's mini_trait."""

import re

from valuegraph.roles import MBTI_TYPES, make_roles


def test_roles_are_seeded_unique_and_formatted():
    roles = make_roles(20, 5, seed=3)
    assert [r["role_id"] for r in roles["train"][:2]] == ["none", "train-000"]
    assert len(roles["train"]) == 21 and len(roles["test"]) == 6
    people = roles["train"][1:] + roles["test"][1:]
    assert len({p["name"] for p in people}) == 25
    for person in people:
        assert person["gender"] in ("male", "female") and person["mbti"] in MBTI_TYPES
        assert re.fullmatch(
            r"Gender: (male|female); Job: .+, MBTI: [EI][SN][TF][JP]", person["mini_trait"]
        )
    assert roles == make_roles(20, 5, seed=3)
    assert roles["train"][1]["name"] != make_roles(20, 5, seed=4)["train"][1]["name"]
    assert roles["train"][0]["mini_trait"] == ""
