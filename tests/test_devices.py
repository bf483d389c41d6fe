"""One model job per card: the flock claim on CPU, with fake card lists and concurrent
processes (distinct cards, waiting, release on exit and on SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from valuegraph.model import devices

SRC = Path(__file__).resolve().parents[1] / "src"
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from valuegraph.model.devices import claim_card, NoFreeCardError
    folder, out, wait = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    try:
        claim = claim_card(["GPU-a", "GPU-b"], folder, wait_s=wait, poll_s=0.05)
    except NoFreeCardError:
        out.write_text("none")
        sys.exit(0)
    out.write_text(str(claim.index))
    release = out.with_suffix(".release")
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    """
)


@pytest.fixture(autouse=True)
def no_held_claim(monkeypatch):
    monkeypatch.setattr(devices, "_HELD", None)
    yield
    if devices._HELD is not None:
        devices._HELD.release()


def start_holder(folder: Path, out: Path, wait: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), str(out), str(wait)], env=env
    )


def result(out: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not out.exists() or not out.read_text():
        assert time.monotonic() < deadline, f"no result in {out}"
        time.sleep(0.05)
    return out.read_text()


def test_claims_in_one_process_take_distinct_cards(tmp_path):
    cards = ["GPU-0", "GPU-1", "GPU-2"]
    claims = [devices.try_claim(cards, tmp_path, start=0) for _ in range(3)]
    assert sorted(c.index for c in claims) == [0, 1, 2]
    assert devices.try_claim(cards, tmp_path) is None
    claims[1].release()
    again = devices.try_claim(cards, tmp_path, start=0)
    assert again is not None and again.index == 1
    for c in (claims[0], claims[2], again):
        c.release()


def test_concurrent_processes_get_distinct_cards_and_the_third_waits(tmp_path):
    outs = [tmp_path / f"job{k}.txt" for k in range(3)]
    first = [start_holder(tmp_path / "locks", out) for out in outs[:2]]
    got = sorted(result(out) for out in outs[:2])
    assert got == ["0", "1"]
    waiter = start_holder(tmp_path / "locks", outs[2], wait=60)
    time.sleep(0.5)
    assert not outs[2].exists() or not outs[2].read_text()  # both cards are claimed: it waits
    outs[0].with_suffix(".release").touch()  # job 0 ends; its card goes to the waiter
    first[0].wait(30)
    assert result(outs[2]) == result(outs[0])  # the card job 0 held
    for out in outs[1:]:
        out.with_suffix(".release").touch()
    for p in (first[1], waiter):
        p.wait(30)


def test_a_killed_job_frees_its_card(tmp_path):
    out = tmp_path / "job.txt"
    holder = start_holder(tmp_path / "locks", out)
    index = int(result(out))
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    claims = [devices.try_claim(["GPU-a", "GPU-b"], tmp_path / "locks") for _ in range(2)]
    assert sorted(c.index for c in claims) == [0, 1]  # including the killed job's card
    assert index in (0, 1)
    for c in claims:
        c.release()


def test_a_bounded_wait_fails_with_a_clear_error(tmp_path):
    held = devices.try_claim(["only"], tmp_path)
    with pytest.raises(devices.NoFreeCardError, match="stayed claimed"):
        devices.claim_card(["only"], tmp_path, wait_s=0.2, poll_s=0.05)
    held.release()


def test_claim_for_process_only_with_several_cards(tmp_path):
    env = {devices.ENV_LOCKS: str(tmp_path)}
    assert devices.claim_for_process(["GPU-a"], env) is None
    assert devices.claim_for_process(["a", "b"], {**env, devices.ENV_CLAIM: "0"}) is None
    claim = devices.claim_for_process(["a", "b"], env)
    assert claim is not None and devices.claim_for_process(["a", "b"], env) is claim
    assert claim.path.parent == tmp_path


def test_visible_card_names():
    assert devices.visible_card_names(2, {}) == ["0", "1"]
    assert devices.visible_card_names(2, {"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert devices.visible_card_names(2, {"CUDA_VISIBLE_DEVICES": ""}) == ["0", "1"]


def test_resolve_device_claims_a_card_when_several_are_visible(tmp_path, monkeypatch):
    import torch

    from valuegraph.model.loading import resolve_device

    monkeypatch.setenv(devices.ENV_LOCKS, str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)

    def no_properties(index):
        raise RuntimeError("no CUDA here")

    monkeypatch.setattr(torch.cuda, "get_device_properties", no_properties)
    other = devices.try_claim(["0", "1"], tmp_path, start=0)  # another job holds card 0
    assert resolve_device() == torch.device("cuda:1")
    assert resolve_device("cuda") == torch.device("cuda:1")  # the same claim, kept
    assert resolve_device("cuda:0") == torch.device("cuda:0")  # explicit: as given
    assert resolve_device("cpu") == torch.device("cpu")
    other.release()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(devices, "_HELD", None)
    assert resolve_device() == torch.device("cuda")
