"""The SLURM path on a real single-node cluster (slurmctld + slurmd from Debian packages).

The module-scoped fixture ``slurm_cluster`` starts the cluster with ``tests/slurm/cluster.sh up``
and always stops it again (``down``, by recorded PID).  ``run_workflow_via_slurm`` submits a
workflow through ``profiles/slurm`` exactly as a user would (``snakemake --profile
profiles/slurm``) plus a few CI overrides, and returns what is needed to check that every job
went through ``sbatch``.  Facts behind the settings: ../shared/spec/slurm.md.

The tests skip, saying why, only where they cannot be root or cannot install packages; with
``CI=true`` in the environment those cases fail instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import SYSTEM_PATH, make_workdir
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
# python -m snakemake, with the plugin's status polls every --seconds-between-status-checks
# (its back-off, +10 s per poll, was most of a CI run's time; see the script)
SNAKEMAKE_STEADY_POLLS = REPO / "tests" / "slurm" / "snakemake_polling_every_check.py"
SLURM_PROFILE = REPO / "profiles" / "slurm"
DEFAULT_PROFILE = REPO / "profiles" / "default"

# cluster.sh exit statuses that mean "this machine cannot host the cluster" (see its header).
EXIT_CANNOT_INSTALL = 3
EXIT_NOT_ROOT = 4

# Command-line overrides of profiles/slurm for the CI cluster: poll soon after submitting
# (the plugin waits 40 s by default, the profile 20 s) and every 2 s after that (with
# SNAKEMAKE_STEADY_POLLS: on a DAG of short jobs most of the run would be waiting), fail fast
# instead of retrying, and keep the SLURM logs of successful jobs for inspection.
CI_OVERRIDES = (
    "--slurm-init-seconds-before-status-checks",
    "3",
    "--seconds-between-status-checks",
    "2",
    "--retries",
    "0",
    "--slurm-keep-successful-logs",
)

WORKFLOW_TIMEOUT_S = 600
# One cluster per machine (fixed ports, /etc/slurm): a second test session waits this long for
# the first one to finish instead of colliding with its daemons.
LOCK_FILE = Path(tempfile.gettempdir()) / "valuegraph-slurm-test.lock"
LOCK_TIMEOUT_S = 900


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _cannot_run(reason: str) -> None:
    """Skip with ``reason``; in CI, where the SLURM test must run, fail instead."""
    if _in_ci():
        pytest.fail(f"CI=true but the SLURM test cannot run: {reason}")
    pytest.skip(reason)


def _timing(label: str, seconds: float) -> None:
    print(f"[slurm timing] {label}: {seconds:.1f} s", file=sys.stderr)


# -------------------------------------------------------------------------------------------
# The cluster


@dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster: its state directory (logs in ``log/``) and partition."""

    state_dir: Path
    partition: str
    up_seconds: float


def _cluster_sh(action: str, state_dir: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER_SH), action, str(state_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def _machine_lock() -> Iterator[None]:
    """Hold an exclusive lock on LOCK_FILE: one test cluster per machine at a time."""
    with open(LOCK_FILE, "a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"another test session has held {LOCK_FILE} (a SLURM test cluster) "
                        f"for over {LOCK_TIMEOUT_S} s"
                    )
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def slurm_cluster(request: pytest.FixtureRequest) -> Iterator[SlurmCluster]:
    if not sys.platform.startswith("linux"):
        _cannot_run(f"a SLURM test cluster needs Linux, not {sys.platform}")
    if os.geteuid() != 0:
        _cannot_run("starting SLURM daemons and installing packages needs root")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        _cannot_run("SLURM is not installed and there is no apt-get to install it")

    with _machine_lock():
        yield from _run_cluster(request.session)


def _run_cluster(session: pytest.Session) -> Iterator[SlurmCluster]:
    failed_before = session.testsfailed
    # Not under pytest's basetemp: its 0700 directories keep the slurm user out.
    state_dir = Path(tempfile.mkdtemp(prefix="valuegraph-slurm-"))
    try:
        start = time.monotonic()
        up = _cluster_sh("up", state_dir, timeout=600)
        up_seconds = time.monotonic() - start
        if up.returncode in (EXIT_CANNOT_INSTALL, EXIT_NOT_ROOT):
            _cannot_run(f"cluster.sh could not set up SLURM:\n{up.stderr[-2000:]}")
        if up.returncode != 0:
            pytest.fail(
                f"tests/slurm/cluster.sh up exited {up.returncode}\n"
                f"stdout:\n{up.stdout}\nstderr:\n{up.stderr}"
            )
        _timing("cluster up (install if needed, configure, start, node idle)", up_seconds)
        partition = os.environ.get("SLURM_CI_PARTITION", "debug")  # as cluster.sh names it
        yield SlurmCluster(state_dir=state_dir, partition=partition, up_seconds=up_seconds)
    finally:
        start = time.monotonic()
        down = _cluster_sh("down", state_dir, timeout=120)
        _timing("cluster down", time.monotonic() - start)
        if down.returncode != 0:
            print(f"cluster.sh down exited {down.returncode}:\n{down.stderr}", file=sys.stderr)
        elif session.testsfailed == failed_before:
            shutil.rmtree(state_dir, ignore_errors=True)
        else:
            print(f"SLURM daemon logs kept in {state_dir / 'log'}", file=sys.stderr)


# -------------------------------------------------------------------------------------------
# Running a workflow through the SLURM profile

_SUBMITTED_RE = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
# A job block in Snakemake's log: "rule name:" (or "localrule name:", "checkpoint name:", ...)
# followed, a few indented lines later, by "jobid: N".
_JOB_BLOCK_RE = re.compile(
    r"^(?P<local>local)?(?:rule|checkpoint) (?P<rule>\w+):\n"
    r"(?:[ \t]+.*\n)*?[ \t]+jobid: (?P<id>\d+)",
    re.MULTILINE,
)


@dataclass
class SlurmRun:
    """The outcome of ``run_workflow_via_slurm``.

    ``jobs`` maps each Snakemake job id of the run to its rule, ``local_jobs`` lists the ids that
    ran on the submitting host (``localrule``, e.g. ``all``), ``submitted`` maps Snakemake job ids
    to SLURM job ids (from the plugin's "has been submitted with SLURM jobid" lines), and
    ``slurm_jobs`` maps those SLURM job ids to ``(state, comment)`` as ``squeue`` still lists
    them (finished jobs stay listed for MinJobAge = 300 s).
    """

    command: list[str]
    returncode: int
    log: str
    seconds: float
    jobs: dict[int, str] = field(default_factory=dict)
    local_jobs: set[int] = field(default_factory=set)
    submitted: dict[int, int] = field(default_factory=dict)
    slurm_jobs: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def remote_jobs(self) -> dict[int, str]:
        """Snakemake jobs that should have gone through sbatch: all but the local ones."""
        return {j: rule for j, rule in self.jobs.items() if j not in self.local_jobs}

    def explain(self) -> str:
        """A failure message: the command and the tail of its log."""
        return f"$ {' '.join(self.command)}\nexit {self.returncode}\n{self.log[-6000:]}"

    def assert_all_jobs_via_sbatch(self) -> None:
        """Every non-local job was submitted with sbatch and SLURM reports it COMPLETED."""
        assert self.returncode == 0, self.explain()
        assert self.remote_jobs, "no job ran through SLURM\n" + self.explain()
        missing = {j: r for j, r in self.remote_jobs.items() if j not in self.submitted}
        assert not missing, f"jobs not submitted via sbatch: {missing}\n" + self.explain()
        states = {
            f"{self.remote_jobs[j]} (job {j}, SLURM {s})": self.slurm_jobs.get(
                s, ("not in squeue", "")
            )[0]
            for j, s in self.submitted.items()
        }
        assert set(states.values()) == {"COMPLETED"}, f"SLURM job states: {states}"


def _squeue(job_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    if not job_ids:
        return {}
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%k"]
        + ["--jobs=" + ",".join(map(str, job_ids))],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    rows = {}
    for line in out.splitlines():
        job_id, state, comment = line.strip().split("|", 2)
        rows[int(job_id)] = (state, comment)
    return rows


def run_workflow_via_slurm(
    workdir: Path,
    snakefile: Path,
    configfile: Path | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = WORKFLOW_TIMEOUT_S,
) -> SlurmRun:
    """Run ``snakefile`` in ``workdir`` with ``--profile profiles/slurm`` and the CI overrides.

    Snakemake runs from this test's interpreter (the project venv), through
    ``SNAKEMAKE_STEADY_POLLS``; the plugin submits each job
    as ``<that interpreter> -m snakemake ...`` with ``--export=ALL``; PATH holds only the system's
    folders, so the rules must run the package without a PATH lookup.  A workflow
    profile (``profiles/default`` next to ``workdir`` or the Snakefile) applies as for a user;
    pass ``--workflow-profile ...`` in ``extra_args`` to choose one.  The log also goes to
    ``workdir/slurm-run.log``.  Does not assert; see ``SlurmRun.assert_all_jobs_via_sbatch``.
    """
    command = [
        sys.executable,
        str(SNAKEMAKE_STEADY_POLLS),
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        "--profile",
        str(SLURM_PROFILE),
        *CI_OVERRIDES,
    ]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    command += list(extra_args)
    env = dict(os.environ)
    env["PATH"] = SYSTEM_PATH
    start = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        returncode, log = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as err:
        out = err.stdout or ""
        returncode = -1
        log = (out.decode(errors="replace") if isinstance(out, bytes) else out) + (
            f"\n[test] snakemake timed out after {timeout} s"
        )
    seconds = time.monotonic() - start
    (workdir / "slurm-run.log").write_text(log)

    run = SlurmRun(command=command, returncode=returncode, log=log, seconds=seconds)
    for m in _JOB_BLOCK_RE.finditer(log):
        run.jobs[int(m["id"])] = m["rule"]
        if m["local"]:
            run.local_jobs.add(int(m["id"]))
    run.submitted = {int(j): int(s) for j, s in _SUBMITTED_RE.findall(log)}
    run.slurm_jobs = _squeue(sorted(run.submitted.values()))
    return run


# -------------------------------------------------------------------------------------------
# A toy workflow: prepare -> (gpu_step, threaded) -> all

TOY_SNAKEFILE = textwrap.dedent(
    """\
    rule all:
        input:
            "results/gpu.txt",
            "results/threads.txt",


    rule prepare:
        output:
            "results/data.txt",
        shell:
            'echo "slurm_job_id=${{SLURM_JOB_ID:-none}} greeting={config[greeting]}" > {output}'


    rule gpu_step:
        input:
            "results/data.txt",
        output:
            "results/gpu.txt",
        resources:
            gpu=1,
        shell:
            'echo "slurm_job_id=${{SLURM_JOB_ID:-none}}'
            ' cuda_visible_devices=${{CUDA_VISIBLE_DEVICES:-unset}}" > {output}'


    rule threaded:
        input:
            "results/data.txt",
        output:
            "results/threads.txt",
        threads: 2
        shell:
            'echo "slurm_job_id=${{SLURM_JOB_ID:-none}}'
            ' cpus_per_task=${{SLURM_CPUS_PER_TASK:-unset}} threads={threads}" > {output}'
    """
)


def _fields(path: Path) -> dict[str, str]:
    return dict(item.split("=", 1) for item in path.read_text().split())


def test_toy_workflow_runs_every_job_through_sbatch(slurm_cluster: SlurmCluster, tmp_path: Path):
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    (tmp_path / "config.yaml").write_text("greeting: hello\n")

    # The repository's workflow profile on top, as for `snakemake --profile profiles/slurm`
    # started from the repository root: it must not break SLURM runs.
    run = run_workflow_via_slurm(
        tmp_path,
        tmp_path / "Snakefile",
        tmp_path / "config.yaml",
        extra_args=["--workflow-profile", str(DEFAULT_PROFILE)],
    )
    _timing("toy workflow via SLURM (3 sbatch jobs, 2 levels)", run.seconds)

    run.assert_all_jobs_via_sbatch()
    assert sorted(run.remote_jobs.values()) == ["gpu_step", "prepare", "threaded"], run.explain()
    assert "4 of 4 steps (100%) done" in run.log, run.explain()

    outputs = {
        rule: _fields(tmp_path / "results" / name)
        for rule, name in [
            ("prepare", "data.txt"),
            ("gpu_step", "gpu.txt"),
            ("threaded", "threads.txt"),
        ]
    }
    # Each output was written inside the very SLURM job the plugin reported for its rule.
    by_rule = {run.jobs[j]: s for j, s in run.submitted.items()}
    for rule, values in outputs.items():
        assert values["slurm_job_id"] == str(by_rule[rule]), (rule, values, by_rule)
    assert outputs["prepare"]["greeting"] == "hello"
    # `resources: gpu=1` became --gpus=1 and SLURM handed out the (fake) GPU 0.
    assert outputs["gpu_step"]["cuda_visible_devices"] == "0"
    # `threads: 2` became --cpus-per-task=2.
    assert outputs["threaded"]["cpus_per_task"] == "2"
    assert outputs["threaded"]["threads"] == "2"
    # The plugin names the rule in each job's --comment.
    for rule, slurm_id in by_rule.items():
        assert rule in run.slurm_jobs[slurm_id][1], (rule, run.slurm_jobs)


# -------------------------------------------------------------------------------------------
# The real workflow on the tiny model, through SLURM, against the local run

# Outputs compared by content; figures (PNG) are left out, logs and benchmarks differ by nature.
COMPARED_SUFFIXES = {".parquet", ".json", ".csv", ".tsv"}
NOT_RESULTS = {"logs", "benchmarks"}


def _result_files(workdir: Path) -> dict[str, Path]:
    root = workdir / "results"
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.suffix in COMPARED_SUFFIXES
        and p.relative_to(root).parts[0] not in NOT_RESULTS
        and ".partial" not in str(p)
    }


def _assert_same_content(rel: str, slurm: Path, local: Path) -> None:
    if slurm.suffix == ".parquet":
        assert_frame_equal(pl.read_parquet(slurm), pl.read_parquet(local), check_exact=True)
    elif slurm.suffix == ".json":
        assert json.loads(slurm.read_text()) == json.loads(local.read_text()), rel
    else:
        sep = "\t" if slurm.suffix == ".tsv" else ","
        a, b = (pl.read_csv(f, separator=sep, infer_schema_length=None) for f in (slurm, local))
        assert_frame_equal(a, b, check_exact=True)


# The spine of the DAG (each sbatch job costs its run time, ~5-15 s, and up to one 2 s poll):
# model -> responses -> matrix -> graph -> DoWhy effects, and the persona effects beside the
# graph. The nulls and the cross-model table after them are local.
SLURM_TARGETS = ("results/tiny/effects/role.csv", "results/tiny/report/persona.csv")


@pytest.mark.slow
def test_tiny_workflow_via_slurm_equals_the_local_run(
    slurm_cluster: SlurmCluster, tiny_workflow: Path, tmp_path: Path
):
    config = yaml.safe_load((tiny_workflow / "config.yaml").read_text())
    workdir = make_workdir(tmp_path / "slurm", config)
    run = run_workflow_via_slurm(
        workdir, REPO / "Snakefile", workdir / "config.yaml", extra_args=["--", *SLURM_TARGETS]
    )  # "--": the targets are not more --configfile values
    _timing(f"tiny workflow via SLURM ({len(run.submitted)} sbatch jobs)", run.seconds)

    run.assert_all_jobs_via_sbatch()
    rules = set(run.remote_jobs.values())
    assert {"prepare_model", "collect", "matrix", "discover", "effects", "persona_effects"} <= rules
    assert set(run.jobs[j] for j in run.local_jobs) <= {"all"}, run.explain()
    # Each job's SLURM log (job id in its name) exists and is the log of that rule's job.
    logs = {int(p.stem): p for p in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")}
    for job, slurm_id in run.submitted.items():
        assert slurm_id in logs, f"no SLURM log for job {job} ({run.jobs[job]}): {sorted(logs)}"
        assert f"rule_{run.jobs[job]}" in logs[slurm_id].parts, logs[slurm_id]
    # SLURM really ran the model job on its (fake) GPU: the collect jobs asked for --gpus=1.
    collect_ids = [s for j, s in run.submitted.items() if run.jobs[j] == "collect"]
    for slurm_id in collect_ids:
        assert "collect" in run.slurm_jobs[slurm_id][1], run.slurm_jobs[slurm_id]
        show = subprocess.run(
            ["scontrol", "show", "job", str(slurm_id)], capture_output=True, text=True, timeout=30
        ).stdout
        assert re.search(r"gres[/:]gpu[:=]1\b", show), show

    slurm_files, local_files = _result_files(workdir), _result_files(tiny_workflow)
    assert set(SLURM_TARGETS) <= {f"results/{rel}" for rel in slurm_files}
    assert set(slurm_files) <= set(local_files), sorted(set(slurm_files) - set(local_files))
    assert any(rel.endswith("responses/train.parquet") for rel in slurm_files)
    for rel, path in slurm_files.items():
        _assert_same_content(rel, path, local_files[rel])
