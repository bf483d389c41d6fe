"""The scoring engine: log-prob yes/no scoring (batched, optional shared-prefix KV cache) and
the paper's greedy generation with a configurable parser (``valuegraph.parsing``: strict or
the paper's). Both modes share prompt construction and return the same record per item.

Exactness: every path feeds the model ``tokenize(prefix) + tokenize(suffix)`` with the real
tokens at positions ``0 .. n-1``:

- uncached log-prob and generate: left padding, ``position_ids = cumsum(mask) - 1``;
- cached log-prob: the prefix KV cache (computed once, batch 1) is expanded over the batch and the
  suffixes are right-padded after it, so a pad never precedes a real token and positions simply
  continue from the prefix length.

The tests check batched == one-at-a-time and cached == uncached (max |d log p| <= 1e-4, fp32).

Logits are computed only where they are read: the last real position of each row (log-prob:
``logits_to_keep``; generate passes ``logits_to_keep=1`` itself, prompt pass included).
Generation stops a row as soon as its parsed answer is final (``valuegraph.parsing.final_answer``:
no continuation can change it), and the batch once every row has stopped;
``stop_when_parsed=False`` generates up to EOS or ``max_new_tokens`` as the paper did.
``counters`` counts the tokens run through the model and the LM-head rows computed, for
model-FLOP figures (``valuegraph.bench.collect``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache, StoppingCriteria, StoppingCriteriaList

from valuegraph.model.steering import ResidualSteering, marker_token_positions
from valuegraph.parsing import PARSERS, final_answer
from valuegraph.parsing import parse_strict as parse_answer  # noqa: F401 (the strict parser)
from valuegraph.prompts import MARKER, Prompt, build_prompt

log = logging.getLogger(__name__)

YES_WORDS = ("yes", "Yes", "YES")
NO_WORDS = ("no", "No", "NO")
AUTO_BATCH = {"cpu": 16, "cuda": 64}  # batch_size "auto": CUDA starts large, OOM halves it

Record = dict[str, Any]
PrefixState = tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]


def answer_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """Single-token ids of the case and leading-space variants of ``words``."""
    ids: list[int] = []
    for word in words:
        for variant in (word, " " + word):
            encoded = tokenizer.encode(variant, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] not in ids:
                ids.append(encoded[0])
    if not ids:
        raise ValueError(f"no single-token variant of {words} in the tokenizer")
    return ids


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def resolve_batch_size(batch_size: int | str, device: torch.device) -> int:
    """An integer batch size; ``auto`` is 16 on CPU and 64 on CUDA (then halved on OOM)."""
    if batch_size == "auto":
        return AUTO_BATCH.get(device.type, AUTO_BATCH["cpu"])
    size = int(batch_size)
    if size < 1:
        raise ValueError(f"batch_size must be >= 1 or 'auto', got {batch_size!r}")
    return size


@dataclass
class EngineSettings:
    template: str = "chat"
    mode: str = "logprob"
    batch_size: int | str = 16
    max_new_tokens: int = 100
    prefix_cache: bool = True
    parser: str = "strict"  # generate mode: valuegraph.parsing.PARSERS
    stop_when_parsed: bool = True  # generate mode: stop a row once its answer is final


class Engine:
    """Answers yes/no items in the voice of a persona, optionally under residual steering."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, settings: EngineSettings) -> None:
        if settings.mode not in ("logprob", "generate"):
            raise ValueError(f"mode must be logprob or generate, got {settings.mode!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.device = next(model.parameters()).device
        self.plan_size = resolve_batch_size(settings.batch_size, self.device)
        self.batch_size = self.plan_size  # the running size; halved on out-of-memory
        self.yes_ids = torch.tensor(answer_token_ids(tokenizer, YES_WORDS), device=self.device)
        self.no_ids = torch.tensor(answer_token_ids(tokenizer, NO_WORDS), device=self.device)
        eos = {tokenizer.eos_token_id}
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos |= set(gen_eos) if isinstance(gen_eos, list) else {gen_eos}
        self.eos_ids = sorted(i for i in eos if i is not None)
        # transformers >= 5.2x names the KV-cache argument ``cache`` (``past_key_values`` is
        # deprecated); older releases only know ``past_key_values``
        params = inspect.signature(type(model).forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        )
        # tokens run through the model (pads aside) and LM-head rows computed: model FLOPs
        self.counters = {"tokens": 0, "head_rows": 0}

    # ------------------------------------------------------------------ prompts
    def _render_chat(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def prompt(self, persona: str, question: str) -> Prompt:
        return build_prompt(
            self.settings.template, question, persona, self.settings.mode, self._render_chat
        )

    def encode(self, text: str, first: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=first)["input_ids"]

    # ------------------------------------------------------------------ public
    def plan(self, questions: Sequence[str], persona: str = "") -> list[list[int]]:
        """Length-sorted batches of question indices; fixed for a given input and batch size, so
        a resumed run recomputes exactly the batches it had not finished, with the same
        composition (the running size after an out-of-memory error does not change the plan)."""
        lengths = [len(self.encode(self.prompt(persona, q).suffix, first=False)) for q in questions]
        return self._plan(lengths)

    def _plan(self, lengths: Sequence[int]) -> list[list[int]]:
        order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
        size = self.plan_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def answer(
        self,
        persona: str,
        questions: Sequence[str],
        steering: ResidualSteering | None = None,
        skip: set[int] | frozenset[int] = frozenset(),
        on_batch: Callable[[int, list[int], list[Record]], None] | None = None,
    ) -> list[Record | None]:
        """Answer ``questions`` as ``persona``; one record per question, in input order.

        Records: prompt_hash, answer (yes/no/unparsed), p_yes, logp_yes, logp_no, raw_text,
        n_tokens (prompt tokens), n_new_tokens (generated tokens; 0 in log-prob mode).
        Batches whose index is in ``skip`` are not run (their records are None); ``on_batch``
        receives (batch index, question indices, records) after each batch, for checkpoints.
        """
        if not questions:
            return []
        prompts = [self.prompt(persona, q) for q in questions]
        if len({p.prefix for p in prompts}) != 1:
            raise ValueError("all prompts of one call must share the persona prefix")
        prefix_ids = self.encode(prompts[0].prefix, first=True)
        suffix_ids = [self.encode(p.suffix, first=False) for p in prompts]
        marker = None
        if steering is not None and steering.positions == "marker":
            marker = marker_token_positions(self.tokenizer, prompts[0].prefix, MARKER)
        batches = self._plan([len(s) for s in suffix_ids])
        todo = [b for b in range(len(batches)) if b not in skip]
        fn: Callable[[list[list[int]]], list[Record]]
        if self.settings.mode == "generate":
            fn = lambda batch: self._generate_batch(prefix_ids, batch, steering, marker)  # noqa: E731
        elif self.settings.prefix_cache and todo:
            prefix_state = self._prefix_state(prefix_ids, steering, marker)
            fn = lambda batch: self._cached_logprob_batch(prefix_state, batch, steering)  # noqa: E731
        else:
            fn = lambda batch: self._logprob_batch(prefix_ids, batch, steering, marker)  # noqa: E731
        out: list[Record | None] = [None] * len(questions)
        for b in todo:
            log.debug("batch %d/%d: %d items", b, len(batches), len(batches[b]))
            records = self._run_with_oom_retry([suffix_ids[i] for i in batches[b]], fn)
            for i, record in zip(batches[b], records, strict=True):
                record["prompt_hash"] = prompts[i].hash
                record["n_tokens"] = len(prefix_ids) + len(suffix_ids[i])
                out[i] = record
            if on_batch:
                on_batch(b, batches[b], records)
        return out

    # ------------------------------------------------------------------ batching
    def _run_with_oom_retry(
        self, batch: list[list[int]], fn: Callable[[list[list[int]]], list[Record]]
    ) -> list[Record]:
        """Run ``fn`` over ``batch`` in sub-batches of ``self.batch_size``, halving it on OOM."""
        records: list[Record] = []
        start = 0
        while start < len(batch):
            chunk = batch[start : start + self.batch_size]
            try:
                with torch.inference_mode():
                    records.extend(fn(chunk))
            except Exception as exc:
                if not is_out_of_memory(exc) or len(chunk) == 1:
                    raise
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                self.batch_size = max(1, len(chunk) // 2)
                log.warning(
                    "out of memory on a batch of %d; batch size halved to %d, retrying",
                    len(chunk),
                    self.batch_size,
                )
                continue
            start += len(chunk)
        return records

    def _scores(self, last_logits: torch.Tensor) -> list[Record]:
        logp = torch.log_softmax(last_logits.float(), dim=-1)
        logp_yes = torch.logsumexp(logp[:, self.yes_ids], dim=-1)
        logp_no = torch.logsumexp(logp[:, self.no_ids], dim=-1)
        p_yes = torch.sigmoid(logp_yes - logp_no)
        return [
            {
                "answer": "yes" if y > n else "no",
                "p_yes": float(p),
                "logp_yes": float(y),
                "logp_no": float(n),
                "raw_text": None,
                "n_new_tokens": 0,
            }
            for y, n, p in zip(logp_yes.tolist(), logp_no.tolist(), p_yes.tolist(), strict=True)
        ]

    def _left_padded(
        self, prefix_ids: list[int], batch: list[list[int]], marker: list[int] | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Left-padded ids, attention mask, position ids (0 at each row's first real token) and
        the marker mask (the marker's tokens, shifted by each row's padding)."""
        seqs = [prefix_ids + s for s in batch]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        steer = torch.zeros((len(seqs), width), dtype=torch.bool) if marker is not None else None
        for row, seq in enumerate(seqs):
            offset = width - len(seq)
            ids[row, offset:] = torch.tensor(seq)
            mask[row, offset:] = 1
            if steer is not None:
                steer[row, [offset + p for p in marker]] = True
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        to = self.device
        return (
            ids.to(to),
            mask.to(to),
            positions.to(to),
            steer.to(to) if steer is not None else None,
        )

    def _steer_mask(
        self,
        steering: ResidualSteering | None,
        marker_mask: torch.Tensor | None,
        attention: torch.Tensor,
    ) -> torch.Tensor | None:
        if steering is None:
            return None
        return attention.bool() if steering.positions == "all" else marker_mask

    def _forward(
        self, steering: ResidualSteering | None, mask: torch.Tensor | None, **kwargs: Any
    ) -> Any:
        if steering is None or mask is None:
            return self.model(**kwargs)
        with steering.active(mask):
            return self.model(**kwargs)

    # ------------------------------------------------------------------ log-prob
    def _logprob_batch(
        self,
        prefix_ids: list[int],
        batch: list[list[int]],
        steering: ResidualSteering | None,
        marker: list[int] | None,
    ) -> list[Record]:
        ids, mask, positions, marker_mask = self._left_padded(prefix_ids, batch, marker)
        out = self._forward(
            steering,
            self._steer_mask(steering, marker_mask, mask),
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=False,
            logits_to_keep=1,
        )
        self.counters["tokens"] += int(mask.sum())
        self.counters["head_rows"] += len(batch)
        return self._scores(out.logits[:, -1, :])

    def _prefix_state(
        self, prefix_ids: list[int], steering: ResidualSteering | None, marker: list[int] | None
    ) -> PrefixState:
        """Run the shared prefix once (steered if the condition touches it) and keep its KV
        cache; a steered condition therefore always gets its own cache."""
        ids = torch.tensor([prefix_ids], device=self.device)
        steer = None
        if steering is not None:
            steer = torch.zeros_like(ids, dtype=torch.bool)
            if steering.positions == "all":
                steer[:] = True
            else:
                steer[0, marker] = True
        with torch.inference_mode():
            out = self._forward(
                steering,
                steer,
                input_ids=ids,
                use_cache=True,
                logits_to_keep=1,
                **{self.cache_kw: DynamicCache()},
            )
        self.counters["tokens"] += len(prefix_ids)
        self.counters["head_rows"] += 1
        cache = out.cache if self.cache_kw == "cache" else out.past_key_values
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        return len(prefix_ids), layers

    def _cached_logprob_batch(
        self, prefix_state: PrefixState, batch: list[list[int]], steering: ResidualSteering | None
    ) -> list[Record]:
        prefix_len, layers = prefix_state
        n, width = len(batch), max(len(s) for s in batch)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        suffix_mask = torch.zeros((n, width), dtype=torch.long)
        for row, seq in enumerate(batch):  # right padding: pads come after every real token
            ids[row, : len(seq)] = torch.tensor(seq)
            suffix_mask[row, : len(seq)] = 1
        ids, suffix_mask = ids.to(self.device), suffix_mask.to(self.device)
        attention = torch.cat(
            [torch.ones((n, prefix_len), dtype=torch.long, device=self.device), suffix_mask], dim=1
        )
        positions = (prefix_len + torch.arange(width, device=self.device)).expand(n, width)
        cache = DynamicCache(
            [(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in layers],
            config=self.model.config,
        )
        # only the last real token of each row needs logits: keep the distinct last positions
        last = suffix_mask.sum(-1) - 1
        keep, column = torch.unique(last, return_inverse=True)
        steer = suffix_mask.bool() if steering is not None and steering.positions == "all" else None
        out = self._forward(
            steering,
            steer,
            input_ids=ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=keep,
            **{self.cache_kw: cache},
        )
        self.counters["tokens"] += int(suffix_mask.sum())
        self.counters["head_rows"] += n * len(keep)
        return self._scores(out.logits[torch.arange(n, device=self.device), column])

    # ------------------------------------------------------------------ generate
    def _generate_batch(
        self,
        prefix_ids: list[int],
        batch: list[list[int]],
        steering: ResidualSteering | None,
        marker: list[int] | None,
    ) -> list[Record]:
        ids, mask, _, marker_mask = self._left_padded(prefix_ids, batch, marker)
        kwargs = {
            "input_ids": ids,
            "attention_mask": mask,
            "max_new_tokens": self.settings.max_new_tokens,
            "do_sample": False,
            "temperature": None,
            "top_p": None,
            "top_k": None,
            "eos_token_id": self.eos_ids,
            "pad_token_id": self.pad_id,
        }
        stop = None
        if self.settings.stop_when_parsed:
            stop = AnswerFinal(self.tokenizer, self.settings.parser, ids.shape[1], self.eos_ids)
            kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
        steer = self._steer_mask(steering, marker_mask, mask)
        if steering is None or steer is None:
            generated = self.model.generate(**kwargs)
        else:
            with steering.active(steer):  # the prompt pass only: decode steps are never steered
                generated = self.model.generate(**kwargs)
        new_tokens = generated[:, ids.shape[1] :]  # slice by position, never by prompt text
        lengths = self._generated_lengths(new_tokens)
        if stop is not None:  # a row stopped early ends there (later positions are padding)
            lengths = [min(n, s) for n, s in zip(lengths, stop.lengths(len(batch)), strict=True)]
        texts = self.tokenizer.batch_decode(
            [row[:n] for row, n in zip(new_tokens.tolist(), lengths, strict=True)],
            skip_special_tokens=True,
        )
        self.counters["tokens"] += int(mask.sum()) + sum(lengths)
        self.counters["head_rows"] += len(batch) * max(1, new_tokens.shape[1])
        return [
            {
                "answer": PARSERS[self.settings.parser](t),
                "p_yes": None,
                "logp_yes": None,
                "logp_no": None,
                "raw_text": t,
                "n_new_tokens": n,
            }
            for t, n in zip(texts, lengths, strict=True)
        ]

    def _generated_lengths(self, new_tokens: torch.Tensor) -> list[int]:
        """Generated tokens per row, up to and including the first EOS."""
        eos = torch.isin(new_tokens, torch.tensor(self.eos_ids, device=new_tokens.device))
        width = new_tokens.shape[1]
        first = torch.where(
            eos.any(-1),
            eos.int().argmax(-1) + 1,
            torch.full_like(eos[:, 0], width, dtype=torch.long),
        )
        return [int(x) for x in first.tolist()]


class AnswerFinal(StoppingCriteria):
    """Per-row stop once the decoded new text's answer is final under ``parser``
    (``valuegraph.parsing.final_answer``), so stopping never changes the parsed answer."""

    def __init__(
        self, tokenizer: Any, parser: str, prompt_width: int, eos_ids: Sequence[int] = ()
    ) -> None:
        self.tokenizer = tokenizer
        self.parser = parser
        self.prompt_width = prompt_width
        self.eos_ids = set(eos_ids)
        self.stopped: dict[int, int] = {}  # row -> new tokens when it stopped (or ended: EOS)

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        width = input_ids.shape[1] - self.prompt_width
        rows = [r for r in range(input_ids.shape[0]) if r not in self.stopped]
        if rows:
            new = input_ids[rows, self.prompt_width :].tolist()
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for row, ids, text in zip(rows, new, texts, strict=True):
                if (ids and ids[-1] in self.eos_ids) or final_answer(self.parser, text) is not None:
                    self.stopped[row] = width
        for row in self.stopped:
            done[row] = True
        return done

    def lengths(self, n: int) -> list[int]:
        """New tokens per row at its stop (a large number where it never stopped)."""
        return [self.stopped.get(row, 1 << 30) for row in range(n)]
