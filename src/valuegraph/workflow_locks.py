"""Snakemake's directory locks after a hard kill: pure Python, for the workflow's DAG build.

Snakemake writes ``.snakemake/locks/*.lock`` when a run starts and removes them when it ends. A
run killed outright (SIGKILL to its process group on a cluster pre-emption, the OOM killer, a
power loss) leaves them behind, and every later run stops with ``LockException`` until someone
runs ``snakemake --unlock``. The locks name no owner, so they cannot tell a dead run from a live
one; this workflow keeps an owner of its own: the main Snakemake process takes an exclusive
``flock`` on ``.snakemake/valuegraph.owner`` and holds it until it exits (the kernel releases it
however the process ends). A run that gets it knows no other run of this workflow is alive in
this directory, so any locks left are stale and are removed; a run that cannot get it leaves
them to Snakemake's own check, which then reports the live run as before.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

OWNER_FILE = "valuegraph.owner"
_held: list[IO[str]] = []  # the owner file stays open (and locked) for the process's life


def clear_stale_locks(snakemake_dir: str | Path = ".snakemake") -> list[Path]:
    """Take this directory's owner lock; when it is free, remove Snakemake's leftover locks.

    Returns the lock files removed (none while another run of the workflow is alive, or
    when this process already holds the owner lock)."""
    base = Path(snakemake_dir)
    if _held:
        return []
    base.mkdir(parents=True, exist_ok=True)
    owner = open(base / OWNER_FILE, "a")  # noqa: SIM115 -- held open until the process exits
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another live run of this workflow holds it
        owner.close()
        return []
    _held.append(owner)
    stale = sorted((base / "locks").glob("*.lock"))
    for lock in stale:
        lock.unlink(missing_ok=True)
    if stale:
        log.warning("removed %d stale Snakemake lock(s) left by a killed run", len(stale))
    return stale
