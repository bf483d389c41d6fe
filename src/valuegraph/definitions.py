"""Value definitions of the explicit value prompt from ValueBench (``definitions.source``).

ValueBench's ``data/value_data.xlsx``, sheet ``value2def``, has one definition per
(questionnaire, value dimension). The paper's ``definitions.csv`` (``value, definition``)
joins, with a space, every non-empty definition of a value, in sheet order (spec
paper-method.md section 2; /work/shared/data/valuebench/README.md). Values the sheet lacks
(Anxiety Disorder) take the fallback TSV (``steering.definitions``, by default the packaged
paraphrases). Output: a TSV ``value, definition, source`` (source ``valuebench`` or
``fallback``), read by :func:`valuegraph.config.read_definitions`; definitions are written on
one line (runs of whitespace become one space). The sheet is read with openpyxl (analysis env
only: the model rules read the TSV).
"""

from __future__ import annotations

import os
from pathlib import Path

from valuegraph.config import read_definitions
from valuegraph.errors import DataError
from valuegraph.io import atomic_path, check_pinned

SHEET = "value2def"
VALUE_COLUMN = "value dimension"
DEFINITION_COLUMN = "corresponding definition/description"


def _clean(cell: object) -> str:
    """A cell as one line: None -> "", whitespace runs (NBSP, newlines, tabs) -> one space."""
    return " ".join(str(cell).split()) if cell is not None else ""


def read_value2def(path: str | os.PathLike[str], sha256: str | None = None) -> dict[str, str]:
    """{value: its non-empty definitions joined with a space}, values in sheet order."""
    import openpyxl  # analysis env only

    path = Path(path)
    check_pinned(
        path, sha256, "value_data.xlsx not found; check definitions.local_copies",
        "the pinned", "definitions.sha256",
    )  # fmt: skip
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise DataError(f"{path}: not a readable xlsx workbook ({exc})") from None
    try:
        if SHEET not in book.sheetnames:
            raise DataError(f"{path}: no sheet {SHEET!r} (sheets: {book.sheetnames})")
        rows = book[SHEET].iter_rows(values_only=True)
        header = [_clean(c) for c in next(rows, ())]
        missing = [c for c in (VALUE_COLUMN, DEFINITION_COLUMN) if c not in header]
        if missing:
            raise DataError(f"{path}: sheet {SHEET!r} lacks column(s) {missing}")
        iv, idef = header.index(VALUE_COLUMN), header.index(DEFINITION_COLUMN)
        joined: dict[str, list[str]] = {}
        for row in rows:
            value = _clean(row[iv]) if iv < len(row) else ""
            definition = _clean(row[idef]) if idef < len(row) else ""
            if value and definition:
                joined.setdefault(value, []).append(definition)
    finally:
        book.close()
    return {value: " ".join(parts) for value, parts in joined.items()}


def build_definitions(
    sheet: dict[str, str], fallback: dict[str, str], required: list[str] = ()
) -> list[tuple[str, str, str]]:
    """(value, definition, source) rows: the sheet's values, then fallback values it lacks."""
    rows = [(v, d, "valuebench") for v, d in sheet.items()]
    rows += [(v, d, "fallback") for v, d in fallback.items() if v not in sheet]
    known = {v for v, _, _ in rows}
    missing = [v for v in required if v not in known]
    if missing:
        raise DataError(
            f"value_prompt value(s) {missing} have no definition in ValueBench's {SHEET} sheet "
            "nor in the fallback (steering.definitions); add a 'value<TAB>definition' row there"
        )
    return rows


def write_definitions(rows: list[tuple[str, str, str]], path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        lines = ["value\tdefinition\tsource", *("\t".join(r) for r in rows)]
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_definitions(
    xlsx: str | os.PathLike[str],
    fallback: str | os.PathLike[str],
    out: str | os.PathLike[str],
    sha256: str | None = None,
    required: list[str] = (),
) -> list[tuple[str, str, str]]:
    rows = build_definitions(read_value2def(xlsx, sha256), read_definitions(fallback), required)
    write_definitions(rows, out)
    return rows
