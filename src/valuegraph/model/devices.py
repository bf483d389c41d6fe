"""One model job per GPU on a multi-GPU machine.

``snakemake --resources gpu=N`` lets N model jobs (``gpu=1`` each) run at once, but Snakemake's
local executor does not say which card a job should use (snakemake/snakemake#281, open; 9.27
has no GPU-id assignment, and no executor plugin adds one for local runs), so every job would
take ``cuda:0``. Instead, a job claims a card itself: an exclusive, non-blocking ``flock`` on
one lock file per card under ``$VALUEGRAPH_GPU_LOCKS`` (default: a per-user folder in the
temp dir). The kernel drops a flock when its process ends, crashed or killed, so a claim never
outlives its job and there is nothing to clean up. A job that finds every card claimed waits
for one (``$VALUEGRAPH_GPU_WAIT_S`` bounds the wait; default: no bound).

Claims are made only when more than one card is visible: a scheduler that hands each job its
own card (SLURM's ``--gpus=1`` sets CUDA_VISIBLE_DEVICES to it) leaves one visible, and nothing
is claimed. Cards are named by their UUID where torch reports it, so jobs whose
CUDA_VISIBLE_DEVICES number the same physical card differently still exclude each other.
``VALUEGRAPH_GPU_CLAIM=0`` turns claiming off. This module's core is torch-free (tested with
fake card lists and concurrent processes); ``cuda_device`` is the torch side.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from valuegraph.errors import ValuegraphError

log = logging.getLogger(__name__)

ENV_LOCKS = "VALUEGRAPH_GPU_LOCKS"
ENV_WAIT = "VALUEGRAPH_GPU_WAIT_S"
ENV_CLAIM = "VALUEGRAPH_GPU_CLAIM"
LOG_EVERY_S = 60.0


class NoFreeCardError(ValuegraphError):
    """Every card stayed claimed for the whole allowed wait."""


@dataclass
class Claim:
    index: int  # the torch device index (position among the visible cards)
    card: str  # the card's name (UUID, CUDA_VISIBLE_DEVICES entry or index)
    path: Path  # its lock file
    fd: int  # open and flocked until the process ends (or release())

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)  # closing the descriptor drops the flock


_HELD: Claim | None = None  # this process's claim, held for its lifetime


def lock_folder(env: Mapping[str, str] = os.environ) -> Path:
    folder = env.get(ENV_LOCKS)
    if folder:
        return Path(folder)
    return Path(tempfile.gettempdir()) / f"valuegraph-gpu-locks-{os.getuid()}"


def _lock_name(card: str) -> str:
    return "card-" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", card) or "_") + ".lock"


def try_claim(cards: Sequence[str], folder: str | Path, start: int | None = None) -> Claim | None:
    """Claim the first free card (trying from ``start``, default pid mod n), or None."""
    if not cards:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first = os.getpid() % len(cards) if start is None else start
    for k in range(len(cards)):
        index = (first + k) % len(cards)
        path = folder / _lock_name(cards[index])
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return Claim(index, cards[index], path, fd)
    return None


def claim_card(
    cards: Sequence[str],
    folder: str | Path,
    wait_s: float | None = None,
    poll_s: float = 0.5,
) -> Claim:
    """Claim a free card, waiting (up to ``wait_s``, None: no bound) while all are claimed."""
    started, next_log = time.monotonic(), 0.0
    while True:
        claim = try_claim(cards, folder)
        if claim is not None:
            return claim
        waited = time.monotonic() - started
        if wait_s is not None and waited >= wait_s:
            raise NoFreeCardError(
                f"all {len(cards)} GPUs stayed claimed by other jobs for {wait_s:g} s (locks in "
                f"{folder}); run fewer GPU jobs at once (--resources gpu=N) or raise {ENV_WAIT}"
            )
        if waited >= next_log:
            log.info("all %d GPUs are claimed by other jobs; waiting for one", len(cards))
            next_log = waited + LOG_EVERY_S
        time.sleep(poll_s)


def claim_for_process(cards: Sequence[str], env: Mapping[str, str] = os.environ) -> Claim | None:
    """This process's card among ``cards`` (claimed once, then kept): None when one card or
    none is visible, or claiming is off."""
    global _HELD
    if _HELD is not None:
        return _HELD
    if len(cards) <= 1 or env.get(ENV_CLAIM, "1") == "0":
        return None
    wait = env.get(ENV_WAIT)
    _HELD = claim_card(cards, lock_folder(env), float(wait) if wait else None)
    log.info("claimed GPU %d (%s) of %d visible", _HELD.index, _HELD.card, len(cards))
    return _HELD


def visible_card_names(count: int, env: Mapping[str, str] = os.environ) -> list[str]:
    """Names of the ``count`` visible cards: CUDA_VISIBLE_DEVICES' entries, else indices."""
    listed = [c.strip() for c in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if c.strip()]
    if len(listed) >= count:
        return listed[:count]
    return [str(i) for i in range(count)]


def cuda_device() -> int | None:
    """The CUDA device index this process should use (claimed when several cards are visible),
    or None when there is no choice to make."""
    import torch

    count = torch.cuda.device_count()
    if count <= 1:
        return None
    names = visible_card_names(count)
    with contextlib.suppress(AttributeError, RuntimeError):  # UUIDs name the physical card,
        # whatever CUDA_VISIBLE_DEVICES calls it
        names = [str(torch.cuda.get_device_properties(i).uuid) for i in range(count)]
    claim = claim_for_process(names)
    if claim is None:
        return None
    torch.cuda.set_device(claim.index)
    return claim.index
