"""The planted-structure discovery benchmark: a tiny run and its JSON schema."""

from __future__ import annotations

import json

from conftest import REPO

from valuegraph.bench import discovery as bench
from valuegraph.cli import main

PLANTED = REPO / "config/graphs/planted17.tsv"


def test_bench_schema_and_quality(tmp_path, items_csv, capsys):
    out = tmp_path / "discovery.json"
    rc = main(
        [
            "bench-discovery",
            "--items",
            str(items_csv),
            "--graph",
            str(PLANTED),
            "--n-roles",
            "60",
            "200",
            "--methods",
            "pc",
            "ges",
            "--modes",
            "observational",
            "jci",
            "--max-rows",
            "ges=500",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["truth"]["n_nodes"] == 17 and result["truth"]["n_edges"] == 22
    records = result["records"]
    assert len(records) == 2 * 2 * 2
    keys = {"method", "n_roles", "mode", "n_rows", "skeleton_precision", "skeleton_recall"}
    keys |= {"skeleton_f1", "shd", "orientation_accuracy", "skipped", "note"}
    assert all(keys <= set(r) for r in records)
    jci200 = [r for r in records if r["mode"] == "jci" and r["n_roles"] == 200]
    assert {r["n_rows"] for r in jci200} == {600}  # none + 2 shifted conditions, paired
    ges_big = next(r for r in jci200 if r["method"] == "ges")
    assert ges_big["skipped"] and "max_rows" in ges_big["note"] and ges_big["skeleton_f1"] is None
    pc = next(
        r
        for r in records
        if r["method"] == "pc" and r["n_roles"] == 200 and r["mode"] == "observational"
    )
    assert pc["skeleton_f1"] >= 0.85 and pc["context_edges"] == 0
    assert any(r["context_edges"] > 0 for r in jci200 if not r["skipped"])
    printed = capsys.readouterr().out
    assert "pc" in printed and "F1" in printed
    assert bench.table(result).height == 8
