"""Logits only where they are read, and generation that stops once the parsed answer is final:
the parser's finality rule against every continuation, and on the tiny model batched +
early-stopped answers equal unbatched full-length ones (fp32)."""

from __future__ import annotations

import random

import polars as pl
import pytest
import torch

from valuegraph.model.engine import Engine, EngineSettings
from valuegraph.parsing import PARSERS, SETTLE_CHARS, final_answer
from valuegraph.prompts import persona_line

PERSONA = persona_line("Gender: female; Job: Exhibition designer, MBTI: ISTP")
PIECES = [
    "Answer", "answer", ":", " ", "yes", "no", "Yes", "NO", "ne", "s", ".", ",", "\n", "*",
    "Thought", "maybe", "sure", "\ufffd", "é", "'t", " n't", "Σ", "**", "_", "nope", "yesterday",
]  # fmt: skip


@pytest.fixture(scope="module")
def questions(items_csv) -> list[str]:
    qs = sorted(set(pl.read_csv(items_csv)["question"].to_list()), key=len)
    return qs[:3] + qs[-3:] + qs[len(qs) // 2 : len(qs) // 2 + 3]


# ---------------------------------------------------------------- the finality rule


@pytest.mark.parametrize(
    ("text", "final"),
    [
        ("Thought: fine.\nAnswer: yes. Because it is.", "yes"),
        ("Answer: No, never at all", "no"),
        ("Answer: yes", None),  # "yes" may still become "yesterday"
        ("Answer: no        ", "no"),
        ("Answer: no n", None),  # within the last characters: " n" + "'t" may be cleaned up
        ("Answer: yes\ufffd and more text", None),  # U+FFFD: a partial character, maybe a letter
        ("Answer: none of these, really", None),
        ("Yes, I would. And I would again.", None),  # a later "Answer: no" would win
        ("Thought: no idea yet, thinking", None),
    ],
)
def test_final_strict_examples(text, final):
    assert final_answer("strict", text) == final
    if final is not None:
        assert PARSERS["strict"](text) == final


def test_final_paper_only_for_a_leading_yes():
    assert final_answer("paper", "Sure, I would help them.") == "yes"
    assert final_answer("paper", "No, I would not do that.") is None
    assert final_answer("paper", "Thought: x\nanswer: yes and so on") is None


@pytest.mark.parametrize("parser", ["strict", "paper"])
def test_finality_holds_for_every_continuation(parser):
    """Whenever ``final_answer`` commits on a text, no continuation changes the parse."""
    rng = random.Random(0)

    def junk(n: int) -> str:
        return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, n)))

    def reply() -> str:  # often an (almost) answer line, amid noise
        head = rng.choice(["", "Answer", "answer", "Sure", "Yes", "No", "\nanswer"])
        colon = rng.choice(["", ":", " :"])
        marks = "".join(rng.choice([" ", "*", "_", "'", "\n"]) for _ in range(rng.randint(0, 3)))
        word = rng.choice(["yes", "no", "Yes", "NO", "nope", "yesterday", "yes\ufffd", "n"])
        return junk(3) + head + colon + marks + word + junk(10)

    committed = 0
    for _ in range(3000):
        text = reply()
        final = final_answer(parser, text)
        if final is None:
            continue
        committed += 1
        assert PARSERS[parser](text) == final
        for _ in range(20):
            more = reply() if rng.random() < 0.5 else junk(8)
            assert PARSERS[parser](text + more) == final, (text, more)
    assert committed > 20


def test_settled_characters_decode_the_same_with_more_tokens(tiny):
    """The rule's premise: a token prefix decodes to the full decode's prefix, except for its
    last SETTLE_CHARS characters (partial UTF-8, space clean-up)."""
    _, tokenizer = tiny
    text = "Thought: café über naïve 😀 isn't it? Answer: yes . déjà vu 日本語 n't ."
    ids = tokenizer.encode(text, add_special_tokens=False)
    full = tokenizer.decode(ids, skip_special_tokens=True)
    for k in range(len(ids) + 1):
        part = tokenizer.decode(ids[:k], skip_special_tokens=True)
        settled = max(0, len(part) - SETTLE_CHARS)
        assert full[:settled] == part[:settled]


# ---------------------------------------------------------------- logits where they are read


def _full_logit_scores(engine, persona, questions):
    """Reference scores from full-sequence logits (no logits_to_keep), one item at a time."""
    out = []
    for q in questions:
        p = engine.prompt(persona, q)
        ids = engine.encode(p.prefix, first=True) + engine.encode(p.suffix, first=False)
        with torch.inference_mode():
            logits = engine.model(input_ids=torch.tensor([ids])).logits
        assert logits.shape[1] == len(ids)
        out.extend(engine._scores(logits[:, -1, :]))
    return out


@pytest.mark.parametrize("cache", [False, True])
def test_last_position_logits_equal_full_logits(tiny, questions, cache):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, EngineSettings(batch_size=4, prefix_cache=cache))
    seen = []
    forward = model.forward

    def spy(*args, **kwargs):
        out = forward(*args, **kwargs)
        seen.append((kwargs["input_ids"].shape, out.logits.shape))
        return out

    reference = _full_logit_scores(engine, PERSONA, questions)
    model.forward = spy
    try:
        got = engine.answer(PERSONA, questions)
    finally:
        del model.forward
    for a, b in zip(reference, got, strict=True):
        assert abs(a["logp_yes"] - b["logp_yes"]) <= 1e-4
        assert abs(a["logp_no"] - b["logp_no"]) <= 1e-4
        assert a["answer"] == b["answer"]
    # never a logit row per position: the cached path keeps the distinct last positions only
    assert all(logits[1] < ids[1] or ids[1] == 1 for ids, logits in seen)


def test_generate_computes_logits_for_the_last_position_only(tiny, questions):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, EngineSettings(mode="generate", max_new_tokens=5))
    widths = []
    hook = model.register_forward_hook(lambda m, a, out: widths.append(out.logits.shape[1]))
    try:
        engine.answer(PERSONA, questions[:3])
    finally:
        hook.remove()
    assert len(widths) > 1 and set(widths) == {1}  # the prompt pass and every decode step


# ---------------------------------------------------------------- early stopping on the model


def _scripted(model, tokenizer, script: str, after: int = 0):
    """Make greedy decoding emit ``script`` after ``after`` free steps, then continue freely."""
    target = tokenizer.encode(script, add_special_tokens=False)
    forward = model.forward
    state = {"step": 0}

    def scripted(*args, **kwargs):
        out = forward(*args, **kwargs)
        if kwargs["input_ids"].shape[1] > 1:  # the prompt pass starts a new generation
            state["step"] = 0
        k = state["step"] - after
        if 0 <= k < len(target):
            out.logits[:, -1, target[k]] = 1e4
        state["step"] += 1
        return out

    return scripted


@pytest.mark.parametrize(("after", "script"), [(0, "Answer: yes, of course."), (3, "Answer: no.")])
def test_early_stopped_batched_answers_equal_unbatched_full_length(tiny, questions, after, script):
    model, tokenizer = tiny
    settings = {"mode": "generate", "max_new_tokens": 30}
    model.forward = _scripted(model, tokenizer, script, after)
    try:
        full = Engine(
            model, tokenizer, EngineSettings(batch_size=1, stop_when_parsed=False, **settings)
        ).answer(PERSONA, questions)
        early = Engine(model, tokenizer, EngineSettings(batch_size=4, **settings)).answer(
            PERSONA, questions
        )
    finally:
        del model.forward
    expected = script.split()[1].strip(".,").lower()
    assert [r["answer"] for r in full] == [expected] * len(questions)
    assert [r["answer"] for r in early] == [r["answer"] for r in full]
    for f, e in zip(full, early, strict=True):
        assert f["raw_text"].startswith(e["raw_text"])
        assert e["n_new_tokens"] < f["n_new_tokens"] or f["n_new_tokens"] < 30
    assert sum(r["n_new_tokens"] for r in early) < sum(r["n_new_tokens"] for r in full)


def test_early_stop_never_changes_free_generation(tiny, questions, monkeypatch):
    """On free (random) text, with a parser rule that commits often, early-stopped batched
    answers equal full-length unbatched ones."""
    import valuegraph.parsing as parsing

    model, tokenizer = tiny

    def first_letter(text: str) -> str:
        letters = [c for c in text.lower() if c.isalpha()]
        return letters[0] if letters else "unparsed"

    def first_letter_final(text: str) -> str | None:
        settled = text[: max(0, len(text) - SETTLE_CHARS)]
        return first_letter(settled) if any(c.isalpha() for c in settled) else None

    monkeypatch.setitem(parsing.PARSERS, "toy", first_letter)
    monkeypatch.setitem(parsing.FINAL, "toy", first_letter_final)
    import valuegraph.model.engine as engine_mod

    monkeypatch.setitem(engine_mod.PARSERS, "toy", first_letter)
    settings = {"mode": "generate", "max_new_tokens": 40, "parser": "toy"}
    full = Engine(
        model, tokenizer, EngineSettings(batch_size=1, stop_when_parsed=False, **settings)
    ).answer(PERSONA, questions)
    early = Engine(model, tokenizer, EngineSettings(batch_size=4, **settings)).answer(
        PERSONA, questions
    )
    assert [r["answer"] for r in early] == [r["answer"] for r in full]
    assert any(r["answer"] != "unparsed" for r in full)
    assert sum(r["n_new_tokens"] for r in early) < sum(r["n_new_tokens"] for r in full)
