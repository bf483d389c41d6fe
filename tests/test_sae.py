"""SAEs and steering on the model side: hook-name mapping (tiny and default model), SAE training,
save/load round trip, width and offline errors, candidate ranking, and steering through the
respondent (a zero coefficient changes nothing; steering touches only the marker tokens)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from valuegraph.config import ModelSpec, parse_condition
from valuegraph.errors import ConfigError, ModelUnavailableError
from valuegraph.io import write_json
from valuegraph.model import sae as vg_sae
from valuegraph.model.engine import EngineSettings
from valuegraph.model.loading import decoder_layers, load_model
from valuegraph.model.respondent import LLMRespondent, SteeringSetup
from valuegraph.model.steering import hook_layer, marker_token_positions, resid_post_module
from valuegraph.prompts import MARKER, persona_line

HOOK = "blocks.0.hook_resid_post"
TRAIN = {"expansion": 2, "l1_coefficient": 1.0, "lr": 1e-2, "batch_size": 250, "epochs": 8}
ROLE = {"role_id": "train-000", "mini_trait": "Gender: female; Job: Nurse, MBTI: INFP"}


def resid_post_equals_hidden_states(model, layers):
    """Compare the hooked decoder-layer outputs with HF ``output_hidden_states``."""
    captured = {}
    handles = [
        resid_post_module(model, layer).register_forward_hook(
            lambda m, a, o, layer=layer: captured.__setitem__(
                layer, o[0] if isinstance(o, tuple) else o
            )
        )
        for layer in layers
    ]
    ids = torch.arange(3, 15).unsqueeze(0)
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    for h in handles:
        h.remove()
    last = len(decoder_layers(model)) - 1
    for layer in layers:
        hidden = out.hidden_states[layer + 1]
        if layer == last:  # HF applies the final norm to the last hidden state
            torch.testing.assert_close(hidden, model.model.norm(captured[layer]))
            assert not torch.allclose(hidden, captured[layer])
        else:
            torch.testing.assert_close(hidden, captured[layer], rtol=0, atol=0)


@pytest.fixture(scope="module")
def tiny(tiny_model):
    spec = ModelSpec(name="tiny", source="local", id=str(tiny_model))
    model, tokenizer = load_model(spec, device=torch.device("cpu"))
    return spec, model, tokenizer


def test_hook_names_map_to_decoder_layer_outputs_on_the_tiny_model(tiny):
    _, model, _ = tiny
    assert hook_layer("blocks.1.hook_resid_post", model) == 1
    with pytest.raises(ConfigError, match="beyond the model's depth"):
        hook_layer("blocks.2.hook_resid_post", model)
    resid_post_equals_hidden_states(model, [0, 1])


@pytest.mark.slow
def test_hook_names_map_to_decoder_layer_outputs_on_the_default_model(default_checkpoint):
    spec = ModelSpec(name="smollm2", source="local", id=str(default_checkpoint))
    model, _ = load_model(spec, device=torch.device("cpu"))
    depth = len(decoder_layers(model))
    assert depth == 30 and model.config.hidden_size == 576
    assert hook_layer("blocks.20.hook_resid_post", model) == 20  # config/config.yaml's hook
    resid_post_equals_hidden_states(model, [0, 20, depth - 1])


# --------------------------------------------------------------------------- SAE


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny SAE (d_in 64, the tiny model's width) trained with sae-lens on planted sparse data."""
    gen = torch.Generator().manual_seed(0)
    dictionary = torch.randn(96, 64, generator=gen)
    codes = (
        (torch.rand(3000, 96, generator=gen) < 0.03).float()
        * torch.rand(3000, 96, generator=gen)
        * 3
    )
    acts = codes @ dictionary + 0.05 * torch.randn(3000, 64, generator=gen)
    sae, metrics = vg_sae.train_sae(acts, HOOK, "tiny", seed=0, **TRAIN)
    folder = vg_sae.save_sae(sae, tmp_path_factory.mktemp("sae") / "trained")
    return sae, metrics, folder, acts


def test_training_reports_metrics_and_is_seeded(trained):
    sae, metrics, _, acts = trained
    assert metrics["d_in"] == 64 and metrics["d_sae"] == 128 and metrics["n_tokens"] == 3000
    assert 0.7 < metrics["explained_variance"] <= 1.0
    assert 0 < metrics["l0"] < 128 and 0 <= metrics["dead_fraction"] < 1
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(128))  # unit decoder rows
    again, _ = vg_sae.train_sae(acts, HOOK, "tiny", seed=0, **TRAIN)
    torch.testing.assert_close(again.W_dec, sae.W_dec)


def test_save_load_round_trip(trained):
    sae, _, folder, acts = trained
    loaded = vg_sae.load_sae({"source": "local", "path": str(folder)})
    assert torch.equal(loaded.W_dec, sae.W_dec) and torch.equal(loaded.W_enc, sae.W_enc)
    torch.testing.assert_close(loaded.encode(acts[:50]), sae.encode(acts[:50]), rtol=0, atol=0)
    assert vg_sae.sae_hook(loaded, None, "x") == HOOK
    with pytest.raises(ConfigError, match="trained at 'blocks.0.hook_resid_post'"):
        vg_sae.sae_hook(loaded, "blocks.1.hook_resid_post", "x")
    with pytest.raises(ModelUnavailableError, match="no cfg.json"):
        vg_sae.load_folder(folder.parent / "missing")


def test_width_mismatch_and_offline_release_give_one_line(trained):
    sae = trained[0]
    with pytest.raises(
        ModelUnavailableError, match="d_in 64 != the model's hidden size 576"
    ) as err:
        vg_sae.check_width(sae, 576, "model 'smollm2' sae")
    assert "\n" not in str(err.value)
    with pytest.raises(ModelUnavailableError) as err:
        vg_sae.load_release("gemma-2b-it-res-jb", "blocks.12.hook_resid_post")
    message = str(err.value)
    assert "gemma-2b-it-res-jb / blocks.12.hook_resid_post" in message and "offline" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="out of range"):
        vg_sae.decoder_row(sae, 128)


def test_candidates_rank_by_mean_marker_activation(tiny, trained):
    spec, model, tokenizer = tiny
    sae = trained[0]
    roles = [{"role_id": "none", "mini_trait": ""}, ROLE]
    acts, norms = vg_sae.marker_feature_activations(
        model, tokenizer, "chat", "logprob", sae, 0, roles
    )
    assert acts.shape == (2, 128) and (norms > 0).all()
    ranked = vg_sae.rank_candidates(acts, 5, sae.W_dec.norm(dim=1).detach().numpy())
    mean = acts.mean(0)
    assert ranked["feature"].to_list() == list(np.argsort(-mean, kind="stable")[:5])
    assert ranked["rank"].to_list() == [1, 2, 3, 4, 5]
    assert np.all(np.diff(ranked["mean_activation"].to_numpy()) <= 0)


def test_capture_keeps_prefix_and_suffix_positions(tiny):
    spec, model, tokenizer = tiny
    questions = [["Should I help others?", "Should I plan ahead?"]]
    acts = vg_sae.capture_activations(
        model, tokenizer, "chat", "logprob", [ROLE], questions, 0, 10_000, 0
    )
    from valuegraph.model.engine import Engine

    engine = Engine(model, tokenizer, EngineSettings(template="chat"))
    prompts = [engine.prompt(persona_line(ROLE["mini_trait"]), q) for q in questions[0]]
    n_prefix = len(engine.encode(prompts[0].prefix, first=True))
    n_suffix = sum(len(engine.encode(p.suffix, first=False)) for p in prompts)
    assert acts.shape == (n_prefix + n_suffix, 64)
    # the cached suffix pass gives the same residuals as the full prompt
    ids = engine.encode(prompts[0].prefix, first=True) + engine.encode(
        prompts[0].suffix, first=False
    )
    with torch.no_grad():
        full = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[1][0]
    torch.testing.assert_close(acts[:n_prefix], full[:n_prefix], rtol=1e-4, atol=1e-4)
    # suffixes are captured in a seeded order; one of them is the first question's
    k = len(engine.encode(prompts[0].suffix, first=False))
    tail = full[n_prefix:]
    blocks = [acts[n_prefix : n_prefix + k], acts[-k:]]
    assert any(torch.allclose(b, tail, rtol=1e-4, atol=1e-4) for b in blocks)


# --------------------------------------------------------------------------- steering


@pytest.fixture(scope="module")
def record(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "sae.json"
    write_json({"source": "local", "path": str(trained[2]), "hook": HOOK}, path)
    return path


def respondent(tiny_model, record, coefficient):
    spec = ModelSpec(name="tiny", source="local", id=str(tiny_model))
    settings = EngineSettings(template="chat", mode="logprob", batch_size=4)
    setup = SteeringSetup(sae_record=record, coefficient=coefficient)
    return LLMRespondent(spec, settings, device=torch.device("cpu"), steering=setup)


def answers(resp, condition):
    import polars as pl

    items = pl.DataFrame(
        {"question": ["Should I help others?", "Should I plan my week?", "Should I rest?"]}
    )
    got = {}
    resp.answer(
        ROLE,
        items,
        parse_condition(condition),
        set(),
        lambda b, idx, recs: got.update({i: r["p_yes"] for i, r in zip(idx, recs, strict=True)}),
    )
    return np.array([got[i] for i in range(items.height)])


def test_zero_coefficient_changes_nothing_end_to_end(tiny_model, record):
    zero = respondent(tiny_model, record, 0.0)
    np.testing.assert_array_equal(answers(zero, "sae:5"), answers(zero, "none"))
    strong = respondent(tiny_model, record, 200.0)
    assert np.abs(answers(strong, "sae:5") - answers(strong, "none")).max() > 1e-4


def test_steering_changes_the_residual_only_at_the_marker_tokens(tiny_model, record, tiny):
    resp = respondent(tiny_model, record, 50.0)
    prefix = resp.engine.prompt(persona_line(ROLE["mini_trait"]), "x").prefix
    marker = marker_token_positions(resp.tokenizer, prefix, MARKER)
    assert marker
    seen = []
    # the input of decoder layer 1 is the (steered) resid_post of layer 0
    handle = decoder_layers(resp.model)[1].register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs.get("hidden_states", args[0] if args else None)),
        with_kwargs=True,
    )
    try:
        answers(resp, "none")
        plain = seen[0][0].clone()  # the prefix pass (batch 1)
        seen.clear()
        answers(resp, "sae:5")
        steered = seen[0][0].clone()
    finally:
        handle.remove()
    assert plain.shape == steered.shape
    diff = (steered - plain).norm(dim=-1)
    changed = sorted(torch.nonzero(diff > 1e-5).flatten().tolist())
    assert changed == marker
    vector = 50.0 * vg_sae.decoder_row(resp.sae()[0], 5)
    torch.testing.assert_close(
        steered[marker] - plain[marker], vector.expand(len(marker), -1), rtol=1e-4, atol=1e-4
    )


def test_value_prompt_changes_only_the_persona_line(tiny_model, record):
    resp = respondent(tiny_model, record, 1.0)
    with pytest.raises(ConfigError, match="definitions"):
        resp.persona(ROLE, parse_condition("value_prompt:Empathy:+"))
    resp = LLMRespondent.__new__(LLMRespondent)
    resp.setup = SteeringSetup(definitions=Path(REPO / "config/value_definitions.tsv"))
    resp._definitions = None
    line = resp.persona(ROLE, parse_condition("value_prompt:Empathy:-"))
    assert line.startswith(
        f"(FYI, here is your trait. {ROLE['mini_trait']}. "
        "You are disinclined to the the value of Empathy"
    )
    assert resp.steering(parse_condition("value_prompt:Empathy:-")) is None
    assert resp.persona(ROLE, parse_condition("none")) == persona_line(ROLE["mini_trait"])
