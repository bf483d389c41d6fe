"""Atomic writes and checked reads shared by every stage (temporary file + rename)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from valuegraph.errors import DataError

if TYPE_CHECKING:  # polars is imported where needed: the GPU image lacks it
    import polars as pl


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a Parquet file atomically, without timestamps, so equal data gives equal bytes."""
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=False)


def write_csv(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def write_json(data: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically with sorted keys and a trailing newline."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_with(writer: Callable[[Path], None], path: str | os.PathLike[str]) -> None:
    """Run ``writer(tmp_path)`` and rename the result onto ``path`` (for figures and models)."""
    with atomic_path(path) as tmp:
        writer(tmp)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not valid JSON (not UTF-8 text)") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty, not JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}


def json_type(value: Any) -> str:
    """How an error names a JSON value's type ("an object", "a list", "a number", ...)."""
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), "a number")


def read_json_object(
    path: str | os.PathLike[str], required: Sequence[str], what: str, fix: str = ""
) -> dict[str, Any]:
    """Read a JSON object that must have the ``required`` keys (errors name file and key)."""
    data = read_json(path)
    hint = f"; {fix}" if fix else ""
    if not isinstance(data, dict):
        raise DataError(f"{path}: the {what} must be a JSON object, got {json_type(data)}{hint}")
    missing = [k for k in required if k not in data]
    if missing:
        raise DataError(
            f"{path}: key {missing[0]!r} missing; the {what} needs keys {list(required)}{hint}"
        )
    return data


def read_records(
    path: str | os.PathLike[str], required: Sequence[str], what: str
) -> list[dict[str, Any]]:
    """Read a non-empty JSON list of objects that each have the ``required`` keys.

    Errors name the file, the record (1-based, ``record 2 of 5``) and the key.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: the {what} must be a JSON list of records, got {json_type(data)}")
    if not data:
        raise DataError(f"{path}: the {what} has no rows (an empty list)")
    for n, record in enumerate(data, 1):
        where = f"{path}: record {n} of {len(data)}"
        if not isinstance(record, dict):
            raise DataError(
                f"{where} is {json_type(record)}, not an object with keys {list(required)}"
            )
        missing = [k for k in required if k not in record]
        if missing:
            raise DataError(
                f"{where}, key {missing[0]!r}: missing; each record needs keys {list(required)}"
            )
    return data


def require_rows(frame: pl.DataFrame, path: str | os.PathLike[str], what: str) -> pl.DataFrame:
    """Refuse a table with a header (columns) but no rows, naming the file."""
    if frame.height == 0:
        raise DataError(f"{path}: the {what} has a header but no rows")
    return frame


def read_parquet(path: str | os.PathLike[str], what: str | None = None) -> pl.DataFrame:
    """Read a Parquet file, turning a corrupt or missing file into a one-line error.

    With ``what`` (e.g. ``"matrix"``), a file with columns but no rows is an error too.
    """
    import polars as pl

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for corrupt files
        raise DataError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}); "
            "delete it and rerun the rule that writes it"
        ) from None
    return frame if what is None else require_rows(frame, path, what)


def read_table(path: str | os.PathLike[str], what: str | None = None) -> pl.DataFrame:
    """Read a CSV or Parquet table, chosen by extension (``what``: see :func:`read_parquet`)."""
    import polars as pl

    path = Path(path)
    if path.suffix != ".csv":
        return read_parquet(path, what)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the {what or 'file'} is empty (no header, no rows)")
    try:
        frame = pl.read_csv(path)
    except Exception as exc:
        raise csv_error(path, exc) from None
    return frame if what is None else require_rows(frame, path, what)


def csv_error(path: str | os.PathLike[str], exc: Exception) -> DataError:
    """A one-line error for a CSV polars cannot read: the first row whose field count differs
    from the header's when there is one, else the first line of polars' message."""
    try:
        with open(path, newline="") as handle:
            rows = csv.reader(handle)
            header = next(rows, [])
            for n, row in enumerate(rows, 2):
                if row and len(row) != len(header):
                    return DataError(
                        f"{path}: row {n} has {len(row)} fields but the header has "
                        f"{len(header)}; quote fields that contain commas"
                    )
    except (OSError, UnicodeDecodeError, csv.Error):
        pass
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{path}: not a readable CSV file ({first})")


def check_pinned(path: Path, sha256: str | None, missing: str, pinned: str, fix: str) -> None:
    """A pinned input exists and, when ``sha256`` is given, has that checksum (one-line errors:
    ``missing`` says what to check, ``pinned`` names the expected sum, ``fix`` what to update)."""
    if not path.is_file():
        raise DataError(f"{path}: {missing}")
    if sha256 is not None and (actual := sha256_file(path)) != sha256:
        raise DataError(
            f"{path}: sha256 {actual} does not match {pinned} {sha256}; "
            f"use the pinned file or update {fix}"
        )


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def short_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]
