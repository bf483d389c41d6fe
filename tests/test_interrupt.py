"""A workflow killed mid-collection and started again with the same command ends with the outputs
of an uninterrupted run.

The kill is SIGKILL to Snakemake's whole process group (Snakemake and the job it is running), as
a cluster pre-emption or an out-of-memory cgroup kill does: nothing gets to clean up. What is
left is a shard's per-batch checkpoints (``<shard>.partial/``), Snakemake's incomplete-job marker
and its directory locks. The same command, run again as a user would, must carry on from there
(profiles/default's rerun-incomplete, collect's resume) and end with every output equal, byte for
byte, to conftest's ``tiny_workflow`` (the same config, run without interruption). The command
asks for the spine of the DAG (collect -> matrix -> graph, DoWhy effects), not the figures and
nulls after it, which the kill cannot reach: the whole DAG would double the test's time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import make_workdir, snakemake_command, snakemake_env, tiny_config

# Results that describe the run, not its outputs: logs and timings.
RUN_RECORDS = ("logs", "benchmarks")
# What the killed command asks for: both splits' matrices, the graph and the DoWhy effects.
TARGETS = (
    "results/tiny/matrix/test.parquet",
    "results/tiny/graph/pc.json",
    "results/tiny/effects/role.csv",
)


def outputs(workdir: Path) -> dict[str, bytes]:
    """Every output file under results/ (relative path -> bytes), logs and benchmarks aside."""
    root = workdir / "results"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in RUN_RECORDS
    }


def wait_for_checkpoints(
    workdir: Path, proc: subprocess.Popen, n_batches: int, timeout: float
) -> Path:
    """Wait until a collect shard has ``n_batches`` checkpointed batches and is not finished;
    return its ``.partial`` folder."""
    responses = workdir / "results" / "tiny" / "responses"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the workflow ended before collection could be interrupted"
        for partial in responses.glob("*/*/*.partial"):
            shard = partial.with_name(partial.name.removesuffix(".partial"))
            if len(list(partial.glob("*.parquet"))) >= n_batches and not shard.exists():
                return partial
        time.sleep(0.05)
    raise AssertionError(f"no collect shard checkpointed {n_batches} batches in {timeout} s")


def wait_until_gone(pgid: int, timeout: float = 30) -> None:
    """Wait until no process of the group is left (killed children are reaped by init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes of group {pgid} still running {timeout} s after SIGKILL")


@pytest.mark.slow
def test_sigkill_mid_collection_then_the_same_command_gives_the_uninterrupted_outputs(
    tiny_workflow, tiny_model, items_csv, tmp_path
):
    workdir = make_workdir(tmp_path / "run", tiny_config(tiny_model, items_csv))
    reference_config = yaml.safe_load((tiny_workflow / "config.yaml").read_text())
    assert yaml.safe_load((workdir / "config.yaml").read_text()) == reference_config
    command = [*snakemake_command(workdir), "--", *TARGETS]  # "--": not more --configfile

    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=snakemake_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Snakemake and its jobs
        )
        try:
            partial = wait_for_checkpoints(workdir, proc, n_batches=2, timeout=600)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    wait_until_gone(proc.pid)
    shard = partial.with_name(partial.name.removesuffix(".partial"))
    n_done = len(list(partial.glob("*.parquet")))
    assert n_done >= 2 and not shard.exists(), "the kill came mid-shard"
    assert list((workdir / ".snakemake" / "incomplete").iterdir()), "a job was left incomplete"

    second = subprocess.run(
        command, cwd=workdir, env=snakemake_env(), capture_output=True, text=True, timeout=900
    )
    assert second.returncode == 0, (
        "the same command after the kill failed:\n" + second.stdout[-2000:] + second.stderr[-4000:]
    )
    # the killed shard resumed from its checkpoints (collect logs it) instead of starting over
    split, condition = shard.parent.parent.name, shard.parent.name
    group = shard.stem.removeprefix("group")
    shard_log = workdir / f"results/logs/tiny/collect/{split}_{condition}_{group}.log"
    assert f"resuming results/tiny/responses/{split}/{condition}/{shard.name}" in (
        shard_log.read_text()
    )
    assert not list((workdir / "results").rglob("*.partial")), "checkpoints left behind"

    got, want = outputs(workdir), outputs(tiny_workflow)
    assert set(got) <= set(want), sorted(set(got) - set(want))
    assert {
        "tiny/responses/train.parquet",
        "tiny/responses/test.parquet",
        "tiny/matrix/train.parquet",
        *(t.removeprefix("results/") for t in TARGETS),
    } <= set(got)
    differ = [name for name in got if got[name] != want[name]]
    assert not differ, f"outputs differ from the uninterrupted run: {differ}"


# ------------------------------------------------------------------ stale Snakemake locks


HOLD_OWNER = """
import fcntl, sys, time
owner = open(sys.argv[1], "a")
fcntl.flock(owner, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_stale_locks_are_cleared_only_when_no_run_is_alive(tmp_path):
    from valuegraph import workflow_locks

    base = tmp_path / ".snakemake"
    (base / "locks").mkdir(parents=True)
    locks = [base / "locks/0.input.lock", base / "locks/0.output.lock"]
    for lock in locks:
        lock.write_text("results/x.parquet\n")

    # another live run holds the owner lock: its locks are not touched
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OWNER, str(base / workflow_locks.OWNER_FILE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert workflow_locks.clear_stale_locks(base) == []
        assert all(lock.exists() for lock in locks)
    finally:
        holder.kill()
        holder.wait()
    # that run died (SIGKILL): the next one takes the owner lock and clears what it left
    try:
        assert workflow_locks.clear_stale_locks(base) == sorted(locks)
        assert not any(lock.exists() for lock in locks)
    finally:
        for owner in workflow_locks._held:
            owner.close()
        workflow_locks._held.clear()
