"""Residual steering hooks on the tiny model: where they act, when, and that they go away."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from valuegraph.errors import ConfigError
from valuegraph.model.engine import Engine, EngineSettings
from valuegraph.model.loading import decoder_layers
from valuegraph.model.steering import (
    ResidualSteering,
    hook_layer,
    load_direction,
    marker_token_positions,
)
from valuegraph.prompts import MARKER, persona_line

PERSONA = persona_line("Gender: male; Job: Sailor, MBTI: ENTP")


@pytest.fixture(scope="module")
def questions(items_csv) -> list[str]:
    qs = sorted(set(pl.read_csv(items_csv)["question"].to_list()), key=len)
    return [qs[0], qs[len(qs) // 2], qs[-1]]  # three lengths: the short rows get padding


def direction(model) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(model.config.hidden_size, generator=g)
    return v / v.norm()


def steer(model, coefficient=6.0, positions="marker", layer=0) -> ResidualSteering:
    return ResidualSteering(model, layer, direction(model), coefficient, positions)


def run(tiny, questions, steering=None, **settings):
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, EngineSettings(**settings))
    return engine.answer(PERSONA, questions, steering=steering)


def logps(records) -> list[tuple[float, float]]:
    return [(r["logp_yes"], r["logp_no"]) for r in records]


class Capture:
    """Records resid_post of ``layer`` as the next module sees it (after any steering hook)
    and, with ``before=True``, also as the layer returned it (before the steering hook)."""

    def __init__(self, model, layer: int, before: bool = False) -> None:
        layers = decoder_layers(model)
        nxt = layers[layer + 1] if layer + 1 < len(layers) else model.model.norm
        self.after: list[torch.Tensor] = []
        self.before: list[torch.Tensor] = []
        self.handles = [nxt.register_forward_pre_hook(self._pre, with_kwargs=True)]
        if before:  # registered before the steering hook, so it runs first
            self.handles.append(layers[layer].register_forward_hook(self._post))

    def _pre(self, module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        self.after.append(hidden.detach().clone())

    def _post(self, module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        self.before.append(hidden.detach().clone())

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def marker_mask(tiny, questions, settings) -> torch.Tensor:
    """Where the marker's tokens sit in the left-padded batch, computed from the prompt text."""
    model, tokenizer = tiny
    engine = Engine(model, tokenizer, EngineSettings(**settings))
    prompts = [engine.prompt(PERSONA, q) for q in questions]
    marker = marker_token_positions(tokenizer, prompts[0].prefix, MARKER)
    pieces = tokenizer.convert_ids_to_tokens(engine.encode(prompts[0].prefix, first=True))
    assert "yourvalues" in "".join(pieces[i] for i in marker).replace("Ġ", "")
    prefix = engine.encode(prompts[0].prefix, first=True)
    _, _, _, mask = engine._left_padded(
        prefix, [engine.encode(p.suffix, False) for p in prompts], marker
    )
    return mask


# ---------------------------------------------------------------- exact no-ops


@pytest.mark.parametrize("cache", [True, False])
def test_coefficient_zero_is_identical_to_no_steering(tiny, questions, cache):
    model, _ = tiny
    plain = run(tiny, questions, batch_size=3, prefix_cache=cache)
    for positions in ("marker", "all"):
        zero = run(tiny, questions, steer(model, 0.0, positions), batch_size=3, prefix_cache=cache)
        assert logps(zero) == logps(plain)


def test_coefficient_zero_generate_is_identical(tiny, questions):
    model, _ = tiny
    settings = {"mode": "generate", "max_new_tokens": 8, "batch_size": 3}
    plain = run(tiny, questions, **settings)
    zero = run(tiny, questions, steer(model, 0.0), **settings)
    assert [r["raw_text"] for r in zero] == [r["raw_text"] for r in plain]


# ---------------------------------------------------------------- where it acts


@pytest.mark.parametrize("layer", [0, 1])
def test_only_marker_positions_change(tiny, questions, layer):
    model, _ = tiny
    settings = {"batch_size": 3, "prefix_cache": False}
    steering = steer(model, 6.0, "marker", layer)
    plain_cap = Capture(model, layer)
    run(tiny, questions, **settings)
    plain_cap.close()
    steered_cap = Capture(model, layer)
    run(tiny, questions, steering, **settings)
    steered_cap.close()
    (plain,), (steered,) = plain_cap.after, steered_cap.after
    mask = marker_mask(tiny, questions, settings)
    assert mask.sum(-1).tolist() == [mask[0].sum().item()] * 3 and mask[0].sum() >= 2
    delta = steered - plain
    expected = mask.float().unsqueeze(-1) * steering.vector
    torch.testing.assert_close(delta, expected, atol=1e-5, rtol=0)
    assert torch.equal(steered[~mask], plain[~mask])  # every other position bit-identical
    assert steering.calls == 1


def test_later_layers_change_only_after_the_marker(tiny, questions):
    model, _ = tiny
    settings = {"batch_size": 3, "prefix_cache": False}
    plain_cap, steered_cap = Capture(model, 1), None
    run(tiny, questions, **settings)
    plain_cap.close()
    steered_cap = Capture(model, 1)
    run(tiny, questions, steer(model, 6.0, "marker", 0), **settings)
    steered_cap.close()
    mask = marker_mask(tiny, questions, settings)
    first = int(mask[0].nonzero()[0])
    changed = (steered_cap.after[0] - plain_cap.after[0]).abs().amax(-1)[0] > 1e-6
    assert not changed[:first].any()
    assert changed[first:].all()


def test_all_positions_steers_every_real_token_not_padding(tiny, questions):
    model, _ = tiny
    settings = {"batch_size": 3, "prefix_cache": False}
    steering = steer(model, 6.0, "all")
    cap = Capture(model, 0, before=True)
    run(tiny, questions, steering, **settings)
    cap.close()
    delta = cap.after[0] - cap.before[0]
    real = marker_mask(tiny, questions, settings).new_zeros(delta.shape[:2])
    model_, tokenizer = tiny
    engine = Engine(model_, tokenizer, EngineSettings(**settings))
    lengths = [len(engine.encode(engine.prompt(PERSONA, q).text, first=True)) for q in questions]
    for row, n in enumerate(lengths):
        real[row, delta.shape[1] - n :] = True
    assert (~real).any(), "the batch must contain padding for this test to mean anything"
    torch.testing.assert_close(
        delta[real], steering.vector.expand(int(real.sum()), -1), atol=1e-5, rtol=0
    )
    assert torch.equal(delta[~real], torch.zeros_like(delta[~real]))


# ---------------------------------------------------------------- cache and generate


@pytest.mark.parametrize("positions", ["marker", "all"])
def test_cached_steered_equals_uncached_steered(tiny, questions, positions):
    model, _ = tiny
    steering = steer(model, 8.0, positions)
    uncached = run(tiny, questions, steering, batch_size=3, prefix_cache=False)
    cached = run(tiny, questions, steering, batch_size=3, prefix_cache=True)
    plain = run(tiny, questions, batch_size=3, prefix_cache=True)
    a, b, c = (np.array(logps(x)) for x in (uncached, cached, plain))
    assert np.abs(a - b).max() <= 1e-4
    assert np.abs(b - c).max() > 1e-3, "steering must change the answers (else the test is void)"


def test_generate_steers_the_prompt_pass_only(tiny, questions):
    model, _ = tiny
    steering = steer(model, 6.0, "marker")
    settings = {"mode": "generate", "max_new_tokens": 6, "batch_size": 3}
    cap = Capture(model, 0, before=True)
    run(tiny, questions, steering, **settings)
    cap.close()
    assert len(cap.after) == len(cap.before) >= 2
    mask = marker_mask(tiny, questions, settings)
    prompt_delta = cap.after[0] - cap.before[0]
    torch.testing.assert_close(
        prompt_delta, mask.float().unsqueeze(-1) * steering.vector, atol=1e-5, rtol=0
    )
    for after, before in zip(cap.after[1:], cap.before[1:], strict=True):
        assert after.shape[1] == 1
        assert torch.equal(after, before), "a decode step was steered"
    assert steering.calls == 1


# ---------------------------------------------------------------- lifecycle


def test_hook_removed_after_use_even_on_error(tiny, questions, monkeypatch):
    model, tokenizer = tiny
    layer = decoder_layers(model)[0]
    assert len(layer._forward_hooks) == 0
    steering = steer(model)
    with pytest.raises(ValueError, match="boom"), steering.active(None):
        assert len(layer._forward_hooks) == 1
        raise ValueError("boom")
    assert len(layer._forward_hooks) == 0

    def broken(*args, **kwargs):
        assert len(layer._forward_hooks) == 1  # the hook is in place during the call
        raise RuntimeError("forward failed")

    monkeypatch.setattr(model, "forward", broken)
    for cache in (True, False):
        engine = Engine(model, tokenizer, EngineSettings(batch_size=3, prefix_cache=cache))
        with pytest.raises(RuntimeError, match="forward failed"):
            engine.answer(PERSONA, questions, steering=steering)
        assert len(layer._forward_hooks) == 0
    monkeypatch.undo()
    after = run(tiny, questions, batch_size=3)
    assert logps(after) == logps(run(tiny, questions, batch_size=3))


def test_hook_layer_and_direction_checks(tiny, tmp_path):
    model, _ = tiny
    assert hook_layer("blocks.1.hook_resid_post", model) == 1
    with pytest.raises(ConfigError, match="beyond the model's depth"):
        hook_layer("blocks.2.hook_resid_post", model)
    with pytest.raises(ConfigError, match="blocks.L.hook_resid_post"):
        hook_layer("blocks.1.hook_resid_pre", model)
    with pytest.raises(ConfigError, match="'marker' or 'all'"):
        ResidualSteering(model, 0, direction(model), 1.0, "suffix")
    vec = direction(model).numpy()
    np.save(tmp_path / "d.npy", vec)
    (tmp_path / "d.txt").write_text(" ".join(map(str, vec.tolist())))
    for name in ("d.npy", "d.txt"):
        loaded = load_direction(tmp_path / name, model.config.hidden_size)
        torch.testing.assert_close(loaded, torch.from_numpy(vec))
    with pytest.raises(ConfigError, match="64"):
        load_direction(tmp_path / "d.npy", 128)
    with pytest.raises(ConfigError, match="does not exist"):
        load_direction(tmp_path / "missing.npy")
