"""Sparse autoencoders on the residual stream: load (sae-lens release or folder), train here
(sae-lens ``StandardTrainingSAE`` + ``SAETrainer`` on activations captured from the workflow's
own train prompts), evaluate, and rank candidate steering features at the marker tokens.

Hook names follow TransformerLens / SAELens: ``blocks.L.hook_resid_post`` is the output of
decoder layer L of the Hugging Face model (:func:`valuegraph.model.steering.resid_post_module`),
which equals ``output_hidden_states[L + 1]`` for every layer but the last, where Hugging Face
applies the final norm to ``hidden_states[-1]`` (the hook still sees the un-normed residual).

An SAE *record* (``results/{model}/sae/sae.json``) says where the SAE comes from (release + id,
or a folder), its hook, layer and shape, and, for trained ones, the training metrics.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from tqdm import tqdm
from transformers import DynamicCache

from valuegraph.errors import ConfigError, ModelUnavailableError
from valuegraph.io import atomic_dir
from valuegraph.model.engine import Engine, EngineSettings
from valuegraph.model.steering import marker_token_positions, resid_post_module
from valuegraph.prompts import MARKER, persona_line
from valuegraph.seeding import derive_seed

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- loading


def load_release(release: str, sae_id: str, device: str = "cpu") -> Any:
    """A released SAE through sae-lens; offline and uncached gives one line naming it."""
    from sae_lens import SAE

    try:
        return SAE.from_pretrained(release, sae_id, device=device)
    except (OSError, ValueError, KeyError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        state = (
            "offline (HF_HUB_OFFLINE=1) and not in the local cache" if offline else "not loadable"
        )
        raise ModelUnavailableError(
            f"SAE {release} / {sae_id} is {state}: download it once on a machine with network "
            f"access (SAE.from_pretrained('{release}', '{sae_id}') into the same HF_HOME), or "
            f"use models[].sae.source local with a folder [{type(exc).__name__}]"
        ) from None


def load_folder(path: str | Path, device: str = "cpu") -> Any:
    """An SAE saved by sae-lens (``cfg.json`` + ``sae_weights.safetensors``)."""
    from sae_lens import SAE

    path = Path(path)
    if not (path / "cfg.json").exists():
        raise ModelUnavailableError(
            f"SAE folder {path} has no cfg.json; point models[].sae.path at a folder written by "
            "sae-lens (SAE.save_model)"
        )
    return SAE.load_from_disk(path, device=device)


def load_sae(record: dict[str, Any], device: str = "cpu") -> Any:
    """The SAE an SAE record describes (see module docstring)."""
    if record["source"] == "release":
        return load_release(record["release"], record["id"], device)
    return load_folder(record["path"], device)


def sae_hook(sae: Any, configured: str | None, where: str) -> str:
    """The SAE's hook name, checked against the configured one."""
    own = getattr(sae.cfg.metadata, "hook_name", None)
    if configured and own and configured != own:
        raise ConfigError(
            f"{where}: models[].sae.hook is {configured!r} but the SAE was trained at {own!r}; "
            "remove the key or fix it"
        )
    hook = configured or own
    if not hook:
        raise ConfigError(f"{where}: the SAE names no hook; set models[].sae.hook")
    return hook


def check_width(sae: Any, d_model: int, where: str) -> None:
    """The SAE's input width must be the model's hidden size."""
    if int(sae.cfg.d_in) != int(d_model):
        raise ModelUnavailableError(
            f"{where}: SAE d_in {sae.cfg.d_in} != the model's hidden size {d_model}; "
            "use an SAE trained on this model"
        )


def decoder_row(sae: Any, feature: int) -> torch.Tensor:
    """The raw (unnormalised) decoder row ``W_dec[feature]``, as the paper adds it."""
    d_sae = int(sae.cfg.d_sae)
    if not 0 <= feature < d_sae:
        raise ConfigError(f"SAE feature {feature} is out of range (the SAE has {d_sae} features)")
    return sae.W_dec[feature].detach().float().clone()


# --------------------------------------------------------------------------- capture


def _prompt_engine(model: torch.nn.Module, tokenizer: Any, template: str, mode: str) -> Engine:
    return Engine(model, tokenizer, EngineSettings(template=template, mode=mode, batch_size=16))


class _Capture:
    """A forward hook that keeps decoder layer ``layer``'s output (resid_post) of each call."""

    def __init__(self, model: torch.nn.Module, layer: int) -> None:
        self.module = resid_post_module(model, layer)
        self.outputs: list[torch.Tensor] = []

    def _hook(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        self.outputs.append(hidden.detach())

    def __enter__(self) -> _Capture:
        self.handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.remove()

    def pop(self) -> torch.Tensor:
        out = self.outputs.pop()
        self.outputs.clear()
        return out


def capture_activations(
    model: torch.nn.Module,
    tokenizer: Any,
    template: str,
    mode: str,
    roles: Sequence[dict[str, Any]],
    questions: Sequence[Sequence[str]],
    layer: int,
    max_tokens: int,
    seed: int,
    batch_size: int = 16,
) -> torch.Tensor:
    """Residual vectors at ``blocks.{layer}.hook_resid_post`` from the workflow's prompts.

    For each role (seeded order), its persona prefix is run once (all its positions are kept) and
    then its questions' suffixes are run on the prefix's KV cache (their real positions are kept),
    until ``max_tokens`` vectors are collected. ``questions[i]`` are role i's questions.
    """
    engine = _prompt_engine(model, tokenizer, template, mode)
    device = engine.device
    rng = np.random.default_rng(derive_seed(seed, "sae-capture"))
    order = rng.permutation(len(roles))
    chunks: list[torch.Tensor] = []
    total = 0
    bar = tqdm(total=max_tokens, desc="capture activations", unit="tok")
    with _Capture(model, layer) as cap, torch.inference_mode():
        for r in order:
            if total >= max_tokens:
                break
            persona = persona_line(roles[r]["mini_trait"])
            qs = list(questions[r])
            qs = [qs[i] for i in rng.permutation(len(qs))]
            prompts = [engine.prompt(persona, q) for q in qs]
            prefix = engine.encode(
                prompts[0].prefix if prompts else engine.prompt(persona, "").prefix, first=True
            )
            ids = torch.tensor([prefix], device=device)
            out = model(input_ids=ids, cache=DynamicCache(), use_cache=True, logits_to_keep=1)
            acts = cap.pop()[0]
            chunks.append(acts.float().cpu())
            total += acts.shape[0]
            bar.update(acts.shape[0])
            layers = [(lay.keys, lay.values) for lay in out.cache.layers]
            suffixes = [engine.encode(p.suffix, first=False) for p in prompts]
            for start in range(0, len(suffixes), batch_size):
                if total >= max_tokens:
                    break
                batch = suffixes[start : start + batch_size]
                n, width = len(batch), max(len(s) for s in batch)
                sids = torch.full((n, width), engine.pad_id, dtype=torch.long)
                smask = torch.zeros((n, width), dtype=torch.bool)
                for row, seq in enumerate(batch):
                    sids[row, : len(seq)] = torch.tensor(seq)
                    smask[row, : len(seq)] = True
                attention = torch.cat(
                    [torch.ones((n, len(prefix)), dtype=torch.long), smask.long()], dim=1
                )
                positions = (len(prefix) + torch.arange(width)).expand(n, width)
                cache = DynamicCache(
                    [(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in layers],
                    config=model.config,
                )
                model(
                    input_ids=sids.to(device),
                    attention_mask=attention.to(device),
                    position_ids=positions.to(device),
                    cache=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
                acts = cap.pop()[smask.to(device)]
                chunks.append(acts.float().cpu())
                total += acts.shape[0]
                bar.update(acts.shape[0])
    bar.close()
    return torch.cat(chunks)[:max_tokens]


# --------------------------------------------------------------------------- training


def _batches(acts: torch.Tensor, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """An endless, seeded stream of shuffled activation batches (sae-lens DataProvider)."""
    gen = torch.Generator().manual_seed(seed % (2**63))
    while True:
        perm = torch.randperm(acts.shape[0], generator=gen)
        for start in range(0, acts.shape[0] - batch_size + 1, batch_size):
            yield acts[perm[start : start + batch_size]]


def train_sae(
    acts: torch.Tensor,
    hook: str,
    model_name: str,
    seed: int,
    expansion: int = 8,
    l1_coefficient: float = 5.0,
    lr: float = 3e-4,
    batch_size: int = 1024,
    epochs: float = 10.0,
) -> tuple[Any, dict[str, Any]]:
    """Train a standard (ReLU + L1) SAE with sae-lens's ``SAETrainer`` on ``acts`` [n, d].

    Inputs are normalised by sae-lens (``expected_average_only_in``, folded back at the end);
    the returned inference SAE then has its decoder rows scaled to unit norm (``fold_W_dec_norm``,
    reconstructions unchanged), so ``coefficient x W_dec[f]`` has norm ``coefficient``.
    """
    from sae_lens import SAE, LoggingConfig, StandardTrainingSAE, StandardTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.sae import SAEMetadata
    from sae_lens.training.sae_trainer import SAETrainer

    n, d_in = acts.shape
    batch_size = min(batch_size, n)
    torch.manual_seed(derive_seed(seed, "sae-init", model_name) % (2**63))
    cfg = StandardTrainingSAEConfig(
        d_in=d_in,
        d_sae=expansion * d_in,
        l1_coefficient=l1_coefficient,
        l1_warm_up_steps=0,
        normalize_activations="expected_average_only_in",
        metadata=SAEMetadata(model_name=model_name, hook_name=hook),
    )
    sae = StandardTrainingSAE(cfg)
    total = max(batch_size, int(epochs * n) // batch_size * batch_size)
    steps = total // batch_size
    trainer_cfg = SAETrainerConfig(
        total_training_samples=total,
        train_batch_size_samples=batch_size,
        lr=lr,
        lr_end=lr / 10,
        lr_scheduler_name="cosineannealing",
        lr_warm_up_steps=max(1, steps // 20),
        device="cpu",
        dead_feature_window=max(1, steps // 4),
        feature_sampling_window=max(1, steps + 1),
        n_batches_for_norm_estimate=max(1, min(50, n // batch_size)),
        logger=LoggingConfig(log_to_wandb=False),
    )
    data = _batches(acts, batch_size, derive_seed(seed, "sae-batches", model_name))
    trainer = SAETrainer(trainer_cfg, sae, data)
    trained = trainer.fit()
    with tempfile.TemporaryDirectory() as tmp:
        trained.save_inference_model(tmp)
        inference = SAE.load_from_disk(tmp)
    inference.fold_W_dec_norm()
    metrics = sae_metrics(inference, acts)
    metrics.update(
        {
            "n_tokens": n,
            "d_in": d_in,
            "d_sae": int(inference.cfg.d_sae),
            "training_samples": total,
            "training_steps": steps,
            "l1_coefficient": l1_coefficient,
            "lr": lr,
            "batch_size": batch_size,
            "epochs": epochs,
            "seed": seed,
            "sae_lens_architecture": "standard",
        }
    )
    return inference, metrics


@torch.no_grad()
def sae_metrics(sae: Any, acts: torch.Tensor, batch_size: int = 4096) -> dict[str, float]:
    """Explained variance (1 - SSE / total SS about the mean), mean L0 (active features per
    token) and the dead-feature fraction (never active on ``acts``)."""
    sse, l0, fired = 0.0, 0.0, torch.zeros(int(sae.cfg.d_sae), dtype=torch.bool)
    mean = acts.mean(0)
    sst = float(((acts - mean) ** 2).sum())
    for start in range(0, acts.shape[0], batch_size):
        x = acts[start : start + batch_size]
        feats = sae.encode(x)
        recon = sae.decode(feats)
        sse += float(((x - recon) ** 2).sum())
        active = feats > 0
        l0 += float(active.sum())
        fired |= active.any(0)
    return {
        "explained_variance": 1.0 - sse / sst if sst > 0 else float("nan"),
        "l0": l0 / acts.shape[0],
        "dead_fraction": float((~fired).float().mean()),
        "mse": sse / acts.numel(),
    }


def save_sae(sae: Any, folder: str | Path) -> Path:
    """Save with sae-lens (``SAE.save_model``) into ``folder``, atomically."""
    with atomic_dir(folder) as tmp:
        sae.save_model(tmp)
    return Path(folder)


# --------------------------------------------------------------------------- candidates


@torch.no_grad()
def marker_feature_activations(
    model: torch.nn.Module,
    tokenizer: Any,
    template: str,
    mode: str,
    sae: Any,
    layer: int,
    roles: Sequence[dict[str, Any]],
    reduce: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Per role, the SAE feature activations over the marker tokens of its prompt prefix,
    reduced by :func:`reduce_marker` (``mean`` or ``max``) ([n_roles, d_sae]), and the residual
    norms there ([n_roles])."""
    engine = _prompt_engine(model, tokenizer, template, mode)
    feats, norms = [], []
    with _Capture(model, layer) as cap:
        for role in tqdm(roles, desc="marker activations", unit="role"):
            prefix = engine.prompt(persona_line(role["mini_trait"]), "").prefix
            ids = engine.encode(prefix, first=True)
            marker = marker_token_positions(tokenizer, prefix, MARKER)
            model(input_ids=torch.tensor([ids], device=engine.device), logits_to_keep=1)
            resid = cap.pop()[0, marker].float().cpu()
            encoded = sae.encode(resid.to(sae.W_dec.dtype)).float().detach().cpu().numpy()
            feats.append(reduce_marker(encoded, reduce))
            norms.append(float(resid.norm(dim=-1).mean()))
    return np.stack(feats), np.array(norms)


def reduce_marker(activations: np.ndarray, how: str = "mean") -> np.ndarray:
    """One role's feature activations over its marker tokens ([n_tokens, d_sae]) reduced over
    the tokens: ``mean`` (the average) or ``max`` (the maximum, as the paper ranks)."""
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim != 2 or activations.shape[0] == 0:
        raise ValueError(f"need [n_tokens >= 1, d_sae] activations, got {activations.shape}")
    if how == "mean":
        return activations.mean(0)
    if how == "max":
        return activations.max(0)
    raise ValueError(f"unknown marker reduction {how!r}; use mean or max")


def rank_candidates(
    activations: np.ndarray, k: int, decoder_norms: np.ndarray | None = None
) -> pl.DataFrame:
    """The top ``k`` features by mean activation across roles (ties: lower index first)."""
    mean = activations.mean(0)
    order = np.lexsort((np.arange(mean.size), -mean))[:k]
    if mean[order].min(initial=np.inf) <= 0:
        log.warning(
            "fewer than %d features are active at the marker; zero-activation ones fill the list", k
        )
    frame = pl.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1, dtype=np.int64),
            "feature": order.astype(np.int64),
            "mean_activation": mean[order],
            "share_roles_active": (activations[:, order] > 0).mean(0),
        }
    )
    if decoder_norms is not None:
        frame = frame.with_columns(pl.Series("decoder_norm", decoder_norms[order]))
    return frame
