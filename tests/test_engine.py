"""The response engine on the tiny model: exact batching and prefix cache, generation, OOM."""

from __future__ import annotations

import logging

import polars as pl
import pytest
import torch

from valuegraph.model.engine import (
    Engine,
    EngineSettings,
    answer_token_ids,
    parse_answer,
    resolve_batch_size,
)
from valuegraph.prompts import persona_line

PERSONA = persona_line("Gender: female; Job: Exhibition designer, MBTI: ISTP")
TOL = 1e-4


@pytest.fixture(scope="module")
def questions(items_csv) -> list[str]:
    """Items of very different lengths, so batches need real padding."""
    qs = pl.read_csv(items_csv)["question"].to_list()
    by_len = sorted(set(qs), key=len)
    return by_len[:4] + by_len[-4:] + by_len[len(by_len) // 2 : len(by_len) // 2 + 5]


def answers(tiny, questions, persona=PERSONA, **settings):
    model, tokenizer = tiny
    return Engine(model, tokenizer, EngineSettings(**settings)).answer(persona, questions)


def max_diff(a, b) -> float:
    return max(
        max(abs(x["logp_yes"] - y["logp_yes"]), abs(x["logp_no"] - y["logp_no"]))
        for x, y in zip(a, b, strict=True)
    )


# ---------------------------------------------------------------- parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thought: being kind helps.\nAnswer: yes", "yes"),
        ("Thought: no, never.\nAnswer: No.", "no"),
        ("answer:yes", "yes"),
        ("Answer: **Yes**", "yes"),
        ("Yes, I should.", "yes"),
        ("  no.", "no"),
        ("Thought: I would say no.\nAnswer: no", "no"),
        ("Thought: it depends.\nAnswer: not really", "unparsed"),
        ("Answer: none of the above", "unparsed"),
        ("Answer: nope", "unparsed"),
        ("Answer: maybe", "unparsed"),
        ("Thought: hard to say, it depends on the situation.", "unparsed"),
        ("Nobody knows.", "unparsed"),
        ("yesterday was fine", "unparsed"),
        ("", "unparsed"),
    ],
)
def test_parse_answer(text, expected):
    assert parse_answer(text) == expected


def test_answer_tokens_cover_case_and_space_variants(tiny):
    _, tokenizer = tiny
    ids = answer_token_ids(tokenizer, ("yes", "Yes"))
    decoded = {tokenizer.decode([i]) for i in ids}
    assert {"yes", " yes", " Yes"} <= decoded  # "Yes" is two tokens in this vocabulary
    assert all(d.strip() in ("yes", "Yes") for d in decoded)
    with pytest.raises(ValueError, match="no single-token variant"):
        answer_token_ids(tokenizer, ("Supercalifragilistic",))


def test_auto_batch_size():
    assert resolve_batch_size("auto", torch.device("cpu")) == 16
    assert resolve_batch_size("auto", torch.device("cuda")) == 64
    assert resolve_batch_size(3, torch.device("cpu")) == 3
    with pytest.raises(ValueError):
        resolve_batch_size(0, torch.device("cpu"))


# ---------------------------------------------------------------- exactness


def test_batched_and_cached_equal_one_at_a_time(tiny, questions):
    one = answers(tiny, questions, batch_size=1, prefix_cache=False)
    batched = answers(tiny, questions, batch_size=5, prefix_cache=False)
    cached = answers(tiny, questions, batch_size=5, prefix_cache=True)
    cached_one = answers(tiny, questions, batch_size=1, prefix_cache=True)
    assert max_diff(one, batched) <= TOL
    assert max_diff(one, cached) <= TOL
    assert max_diff(one, cached_one) <= TOL
    for rec in cached:
        assert rec["answer"] == ("yes" if rec["logp_yes"] > rec["logp_no"] else "no")
        assert rec["p_yes"] == pytest.approx(
            1 / (1 + torch.tensor(rec["logp_no"] - rec["logp_yes"]).exp().item())
        )
    assert [r["prompt_hash"] for r in one] == [r["prompt_hash"] for r in cached]


def test_different_personas_give_different_answers(tiny, questions):
    """Guards the equality tests: the prefix actually reaches the answer."""
    a = answers(tiny, questions[:4], persona=PERSONA, batch_size=4)
    b = answers(tiny, questions[:4], persona="", batch_size=4)
    assert max_diff(a, b) > 1e-4


def test_left_padding_positions(tiny):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, EngineSettings())
    ids, mask, positions, marker = engine._left_padded([7, 8], [[1, 2, 3], [4]], [1])
    assert mask.tolist() == [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]
    assert positions.tolist() == [[0, 1, 2, 3, 4], [0, 0, 0, 1, 2]]
    assert ids[1, 2:].tolist() == [7, 8, 4]
    assert marker.tolist() == [
        [False, True, False, False, False],
        [False, False, False, True, False],
    ]


def test_skip_and_on_batch(tiny, questions):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, EngineSettings(batch_size=4))
    plan = engine.plan(questions, PERSONA)
    assert sorted(i for b in plan for i in b) == list(range(len(questions)))
    seen = []
    out = engine.answer(
        PERSONA, questions, skip={0, 2}, on_batch=lambda b, idx, recs: seen.append((b, idx))
    )
    assert [b for b, _ in seen] == [b for b in range(len(plan)) if b not in (0, 2)]
    assert [idx for _, idx in seen] == [plan[b] for b, _ in seen]
    skipped = set(plan[0]) | set(plan[2])
    assert all((rec is None) == (i in skipped) for i, rec in enumerate(out))


# ---------------------------------------------------------------- generate


def test_generate_batched_equals_one_at_a_time(tiny, questions):
    settings = {"mode": "generate", "max_new_tokens": 12}
    one = answers(tiny, questions[:6], batch_size=1, **settings)
    batched = answers(tiny, questions[:6], batch_size=6, **settings)
    assert [r["raw_text"] for r in one] == [r["raw_text"] for r in batched]
    for rec in batched:
        assert rec["answer"] == parse_answer(rec["raw_text"])
        assert rec["p_yes"] is None and rec["logp_yes"] is None
        assert 1 <= rec["n_new_tokens"] <= 12


def test_generate_stops_at_eos(tiny, questions, monkeypatch):
    """With EOS forced as the first token, the answer is empty and unparsed."""
    model, tokenizer = tiny
    engine = Engine(
        model, tokenizer, EngineSettings(mode="generate", max_new_tokens=20, batch_size=3)
    )
    forward = model.forward

    def eos_first(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.logits[..., tokenizer.eos_token_id] = 1e4
        return out

    monkeypatch.setattr(model, "forward", eos_first)
    out = engine.answer(PERSONA, questions[:3])
    assert [r["raw_text"] for r in out] == ["", "", ""]
    assert [r["answer"] for r in out] == ["unparsed"] * 3
    assert [r["n_new_tokens"] for r in out] == [1, 1, 1]


# ---------------------------------------------------------------- out of memory


def test_oom_halves_batch_and_keeps_results(tiny, questions, monkeypatch, caplog):
    model, tokenizer = tiny
    reference = answers(tiny, questions, batch_size=8, prefix_cache=False)
    engine = Engine(model, tokenizer, EngineSettings(batch_size=8, prefix_cache=False))
    forward = model.forward
    calls = {"n": 0, "sizes": []}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        calls["sizes"].append(kwargs["input_ids"].shape[0])
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", flaky)
    with caplog.at_level(logging.WARNING, logger="valuegraph.model.engine"):
        out = engine.answer(PERSONA, questions)
    assert calls["sizes"][:3] == [8, 4, 4]
    assert max(calls["sizes"][1:]) == 4
    assert engine.batch_size == 4 and engine.plan_size == 8
    assert any("batch size halved to 4" in r.getMessage() for r in caplog.records)
    assert max_diff(reference, out) <= TOL


def test_other_errors_are_not_retried(tiny, questions, monkeypatch):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, EngineSettings(batch_size=4, prefix_cache=False))

    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(model, "forward", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        engine.answer(PERSONA, questions[:4])
    assert engine.batch_size == 4


# ---------------------------------------------------------------- benchmark


def test_bench_collect_cli(tiny_model, items_csv, tmp_path, capsys):
    """`valuegraph bench collect` on a random toy Gemma with the tiny tokenizer: every mode,
    the headline numbers, the table and the committed record."""
    import json

    from valuegraph.bench.records import load_records, table
    from valuegraph.cli import main

    roles = tmp_path / "roles.json"
    roles.write_text(
        json.dumps(
            [{"role_id": "none", "mini_trait": ""}, {"role_id": "r1", "mini_trait": "Gender: male"}]
        )
    )
    out = tmp_path / "bench" / "collect.json"
    code = main(
        [
            "bench", "collect", "--model-path", str(tiny_model), "--random-arch", "gemma-tiny",
            "--items", str(items_csv), "--roles", str(roles), "--n-items", "6", "--gen-items", "4",
            "--unbatched-items", "0", "--gen-batch-size", "2", "--batch-size", "4",
            "--max-new-tokens", "4", "--device", "cpu", "--dtype", "float32",
            "--peak-gflops", "100", "--out", str(out), "--record-dir", str(tmp_path / "records"),
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    modes = result["modes"]
    assert set(modes) == {"generate", "logprob_unbatched", "logprob_batched", "logprob_cached"}
    assert modes["generate"]["n_items"] == 8 and modes["logprob_cached"]["n_items"] == 12
    assert modes["generate"]["new_tokens"] <= 8 * 4
    assert result["max_abs_logp_diff"] <= 1e-4 and result["answers_equal"] is True
    assert result["exactness_reference"] == "logprob_batched"
    assert result["speedup"] == pytest.approx(
        modes["logprob_cached"]["items_per_s"] / modes["generate"]["items_per_s"]
    )
    assert result["machine"]["model_class"] == "GemmaForCausalLM"
    assert result["agreement"]["n_pairs"] == 8
    # model FLOPs: the cached mode runs the prefix once per persona, so it costs less per item
    assert (
        0
        < modes["logprob_cached"]["model_flops_per_item"]
        < (modes["logprob_batched"]["model_flops_per_item"])
    )
    assert modes["logprob_batched"]["head_rows"] == 12
    for m in modes.values():
        assert m["items_per_s"] == pytest.approx(m["n_items"] / m["seconds"])
    assert all(0 < m["mfu"] < 1 for m in modes.values())
    printed = capsys.readouterr().out
    assert "| logprob_cached | 12 | 4 |" in printed and "answers equal: True" in printed
    (record,) = load_records(tmp_path / "records")
    assert record["random_weights"] and record["dtype"] == "float32"
    assert record["modes"]["logprob_cached"]["mfu"] == modes["logprob_cached"]["mfu"]
    assert record["peak_flops"] == 100e9 and record["shape"]["n_roles"] == 2
    assert "random gemma-tiny" in table([record])


def test_bench_collect_samples_like_a_train_shard(tiny_model, items_csv, tmp_path):
    """Without --n-items every role answers its own train-like sample (rate x items per value)."""
    import json

    import polars as pl

    from valuegraph.cli import main
    from valuegraph.items import sample_for_role

    roles = [{"role_id": "none", "mini_trait": ""}] + [
        {"role_id": f"train-{i:03d}", "mini_trait": f"Gender: male; Job: J{i}"} for i in range(3)
    ]
    (tmp_path / "roles.json").write_text(json.dumps(roles))
    frame = pl.read_csv(items_csv).head(60).with_row_index("n")
    frame = frame.with_columns(item_id=pl.format("vb{}", "n")).drop("n")
    frame.write_parquet(tmp_path / "items.parquet")
    out = tmp_path / "collect.json"
    code = main(
        [
            "bench", "collect", "--model-path", str(tiny_model), "--random-arch", "gemma-tiny",
            "--items", str(tmp_path / "items.parquet"), "--roles", str(tmp_path / "roles.json"),
            "--rate", "0.1", "--modes", "logprob_batched", "logprob_cached",
            "--device", "cpu", "--dtype", "float32", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    expected = sum(
        sample_for_role(frame.sort("item_id"), r["role_id"], 0.1, 0).height for r in roles
    )
    assert result["settings"]["n_roles"] == 4 and result["settings"]["n_items"] == expected
    assert result["modes"]["logprob_cached"]["n_items"] == expected
    assert result["answers_equal"] is True
