"""The engine on the real default model (SmolLM2-135M-Instruct, fp32 CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from valuegraph.model.engine import Engine, EngineSettings
from valuegraph.prompts import persona_line

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # the real model: about 2 minutes on 2 cores

PERSONAS = [
    "",
    persona_line("Gender: female; Job: Merchant navy officer, MBTI: INFJ"),
    persona_line("Gender: male; Job: Professional gambler, MBTI: ESTP"),
]


@pytest.fixture(scope="module")
def smollm2(default_checkpoint):
    tokenizer = AutoTokenizer.from_pretrained(default_checkpoint)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(default_checkpoint, dtype=torch.float32).eval()
    return model, tokenizer


@pytest.fixture(scope="module")
def questions(items_csv) -> list[str]:
    qs = sorted(set(pl.read_csv(items_csv)["question"].to_list()), key=len)
    step = len(qs) // 16
    return qs[::step][:16]  # 16 items from the shortest to the longest


def run(smollm2, persona, questions, **settings):
    model, tokenizer = smollm2
    return Engine(model, tokenizer, EngineSettings(**settings)).answer(persona, questions)


def logps(records) -> np.ndarray:
    return np.array([(r["logp_yes"], r["logp_no"]) for r in records])


def test_batched_and_cached_equal_one_at_a_time(smollm2, questions):
    qs = questions[::3]  # 6 items of different lengths
    one = logps(run(smollm2, PERSONAS[1], qs, batch_size=1, prefix_cache=False))
    batched = logps(run(smollm2, PERSONAS[1], qs, batch_size=6, prefix_cache=False))
    cached = logps(run(smollm2, PERSONAS[1], qs, batch_size=6, prefix_cache=True))
    assert np.abs(one - batched).max() <= 1e-4
    assert np.abs(one - cached).max() <= 1e-4


def test_logprob_answers(smollm2, questions):
    """SmolLM2 leans to "no": over these 2 personas x 16 items every argmax answer is "no"
    (p_yes 0.02 to 0.3). What the test holds it to: the answer cue works (most next-token mass
    is on yes/no), p_yes varies across items and personas, and both answers are reachable."""
    per_persona = [run(smollm2, p, questions, batch_size=16) for p in PERSONAS[:2]]
    records = [r for rs in per_persona for r in rs]
    assert {r["answer"] for r in records} <= {"yes", "no"}
    assert "no" in {r["answer"] for r in records}
    p_yes = np.array([[r["p_yes"] for r in rs] for rs in per_persona])
    mass = np.exp(logps(records)).sum(-1)
    assert np.median(mass) > 0.5, "after 'Answer:' most probability should be on yes/no"
    assert p_yes.std() > 0.02 and p_yes.max() - p_yes.min() > 0.1
    assert np.abs(p_yes[1] - p_yes[0]).max() > 0.01, "the persona changes the answers"
    assert p_yes.max() > 0.1, "yes is a live option, not a vanishing one"


def test_generate_parses(smollm2, questions):
    """The paper setting (greedy, 100 new tokens, 'Thought: ... Answer:') gives parseable
    answers; SmolLM2 writes 'Answer: no' to these items too."""
    out = run(
        smollm2, PERSONAS[0], questions[:2], mode="generate", batch_size=2, max_new_tokens=100
    )
    for rec in out:
        assert rec["raw_text"] and rec["n_new_tokens"] <= 100
    parsed = [r["answer"] for r in out if r["answer"] != "unparsed"]
    assert parsed and set(parsed) <= {"yes", "no"}
    assert any("answer:" in r["raw_text"].lower() for r in out)
