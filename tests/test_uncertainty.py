"""The nulls and intervals behind the report's summary: the structure null of stable edges, the
random-graph null, the circumplex permutation p, PVQ centring, persona effects, the summary text
and its place at the top of the report."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import numpy as np
import polars as pl
import pytest

from valuegraph.aggregate import summarise
from valuegraph.causal.centring_graph import centring_comparison
from valuegraph.causal.discovery import discover
from valuegraph.causal.graphs import adjacencies, compare_graphs
from valuegraph.causal.uncertainty import (
    circumplex_null,
    graph_null,
    lower_p,
    mean_pairwise_r,
    permute_columns,
    random_graph,
    stability_table,
    structure_null,
    upper_p,
)
from valuegraph.centring import acquiescence, centred_matrix, centred_responses
from valuegraph.evaluation.persona import ALL, persona_effects
from valuegraph.summary_text import ModelNumbers, fmt_p, summary_rst
from valuegraph.values import SCHWARTZ_ORDER

REPO = Path(__file__).resolve().parents[1]
BOOT = {"postprocess": "paper", "bootstrap": 20, "threshold": 0.5, "seed": 0, "n_jobs": 1}


def independent(n=100, k=6, seed=0) -> pl.DataFrame:
    x = np.random.default_rng(seed).normal(size=(n, k))
    return pl.DataFrame({f"v{j}": x[:, j] for j in range(k)})


def planted(n=200, seed=0) -> pl.DataFrame:
    """a → b → c ← d, e independent; strong linear effects."""
    r = np.random.default_rng(seed)
    a, d, e = r.normal(size=n), r.normal(size=n), r.normal(size=n)
    b = 0.9 * a + 0.5 * r.normal(size=n)
    c = 0.8 * b + 0.8 * d + 0.5 * r.normal(size=n)
    return pl.DataFrame({"a": a, "b": b, "c": c, "d": d, "e": e})


# --------------------------------------------------------------------------- p-values


def test_permutation_p_values_count_the_observed():
    assert upper_p(3, [0, 1, 2, 3]) == pytest.approx(2 / 5)
    assert upper_p(9, [0, 1, 2]) == pytest.approx(1 / 4)
    assert lower_p(0, [0, 1, 2]) == pytest.approx(2 / 4)
    assert math.isnan(upper_p(1, []))


def test_permute_columns_keeps_each_column_and_breaks_their_link():
    frame = independent().with_columns(pl.col("v0").alias("v1"))  # v1 == v0
    out = permute_columns(frame, ["v0", "v1"], seed=3)
    for c in ("v0", "v1"):
        assert sorted(out[c].to_list()) == sorted(frame[c].to_list())
    assert abs(np.corrcoef(out["v0"], out["v1"])[0, 1]) < 0.3
    assert out.equals(permute_columns(frame, ["v0", "v1"], seed=3))


# --------------------------------------------------------------------------- structure null


def test_independent_matrix_yields_few_stable_edges_near_the_null():
    frame = independent()
    graph = discover(frame, **BOOT)
    null = structure_null(frame, frame.columns, 5, 0, BOOT)
    table = stability_table(graph, null)
    summary = table.row(0, named=True)
    assert summary["row"] == "summary" and summary["n_null"] == 5
    assert summary["n_stable"] <= 2
    assert summary["n_stable"] <= summary["null_max"] + 2
    assert summary["p_value"] > 0.05


def test_planted_structure_yields_its_edges_beyond_the_null():
    frame = planted()
    graph = discover(frame, **BOOT)
    null = structure_null(frame, frame.columns, 5, 0, BOOT)
    table = stability_table(graph, null)
    summary = table.row(0, named=True)
    edges = table.filter(pl.col("row") == "edge")
    stable = {
        frozenset((s, t)) for s, t in edges.filter("stable").select("source", "target").rows()
    }
    assert {frozenset("ab"), frozenset("bc"), frozenset("cd")} <= stable
    assert not any("e" in pair for pair in stable)
    # permuted data has a few stable arcs by chance (a spurious adjacency counts twice after the
    # paper's split of undirected edges); the planted structure has more than any permutation
    assert summary["n_stable"] > summary["null_max"]
    assert summary["p_value"] == pytest.approx(1 / 6)  # the smallest p 5 permutations give
    # every stable flag is the threshold applied to the frequency
    assert (edges["stable"] == (edges["frequency"] >= 0.5)).all()


# --------------------------------------------------------------------------- random graphs


def test_random_graph_is_a_dag_with_the_asked_adjacencies():
    nodes = list("abcdefg")
    g = random_graph(nodes, 8, np.random.default_rng(0))
    digraph = nx.DiGraph([(e["source"], e["target"]) for e in g["edges"]])
    assert len(adjacencies(g)) == 8 and nx.is_directed_acyclic_graph(digraph)
    assert len(random_graph(nodes, 99, np.random.default_rng(0))["edges"]) == 21  # all pairs


def _graph(pairs, nodes):
    return {
        "nodes": nodes,
        "edges": [{"source": s, "target": t, "type": "directed"} for s, t in pairs],
    }


def test_graph_null_sanity():
    nodes = [f"n{i}" for i in range(10)]
    chain = _graph([(f"n{i}", f"n{i + 1}") for i in range(9)], nodes)
    same = graph_null(chain, chain, 200, seed=0)
    assert same["skeleton_f1_p"] == pytest.approx(1 / 201)  # no random graph matches exactly
    assert same["shd_p"] == pytest.approx(1 / 201)
    assert 0.1 < same["skeleton_f1_null_mean"] < 0.4  # 9 of 45 pairs: F1 about 0.2
    unrelated = random_graph(nodes, 9, np.random.default_rng(42))
    other = graph_null(unrelated, chain, 200, seed=0)
    assert other["skeleton_f1_p"] > 0.05
    # deterministic in its seed
    assert graph_null(unrelated, chain, 50, seed=1) == graph_null(unrelated, chain, 50, seed=1)


def test_compare_graphs_adds_the_null_columns_only_when_asked():
    nodes = list("abcd")
    g = {"x": _graph([("a", "b"), ("b", "c")], nodes)}
    ref = {"r": _graph([("a", "b"), ("c", "d")], nodes)}
    plain = compare_graphs(g, ref)
    assert plain["skeleton_f1_p"].is_null().all()
    with_null = compare_graphs(g, ref, n_null=100, seed=0)
    row = with_null.row(0, named=True)
    assert row["n_null_graphs"] == 100 and 0 < row["skeleton_f1_p"] <= 1
    assert plain.drop(plain.columns[-5:]).equals(with_null.drop(with_null.columns[-5:]))


def test_compare_models_puts_null_stability_and_persona_side_by_side():
    nodes = list("abcdefgh")
    graphs = {
        m: _graph([("a", "b"), ("b", "c"), ("c", "d"), ("e", "f")], nodes) for m in ("m1", "m2")
    }
    stab = pl.DataFrame({"row": ["summary"], "n_stable": [3], "n_edges": [4], "null_mean": [0.5],
                         "null_q95": [1.0], "p_value": [0.05]})  # fmt: skip
    persona = pl.DataFrame({"value": [ALL], "mean_abs_shift": [0.2], "ci_low": [0.1],
                            "ci_high": [0.3], "noise_abs_shift": [0.05], "snr": [2.0]})  # fmt: skip
    table = summarise(graphs, None, ["m1", "m2"], {"m1": stab, "m2": stab},
                      {"m1": persona, "m2": persona}, n_null=50, seed=0)  # fmt: skip
    assert list(dict.fromkeys(table["section"])) == ["graph", "stability", "persona"]
    metrics = dict(zip(table["metric"], table["value"], strict=False))
    assert metrics["skeleton_f1"] == 1.0 and metrics["skeleton_f1_p"] < 0.05
    persona_rows = table.filter(pl.col("section") == "persona")
    assert persona_rows.filter(pl.col("metric") == "ci_low")["value_a"][0] == 0.1


# --------------------------------------------------------------------------- circumplex


def test_circumplex_permutation_p_planted_small_shuffled_large():
    diff = np.abs(np.arange(10)[:, None] - np.arange(10)[None, :])
    ring = np.cos(np.minimum(diff, 10 - diff) * 2 * np.pi / 10)
    observed, null, p = circumplex_null(ring, 500, seed=0)
    assert observed == pytest.approx(1.0) and p < 0.01 and len(null) == 500
    noise = np.corrcoef(np.random.default_rng(1).normal(size=(200, 10)), rowvar=False)
    _, _, p_noise = circumplex_null(noise, 500, seed=0)
    assert p_noise > 0.05


def test_circumplex_table_has_raw_and_centred_side_by_side(tmp_path):
    from valuegraph.report import circumplex_outputs

    responses = _pvq_responses(n_roles=40)
    raw = centred = None
    from valuegraph.matrix import build_matrix

    raw = build_matrix(responses, list(SCHWARTZ_ORDER), "hard")
    centred = centred_matrix(responses, list(SCHWARTZ_ORDER), "hard")
    circumplex_outputs(raw, tmp_path / "c.csv", tmp_path / "c.png", "m", centred, 200, 0)
    table = pl.read_csv(tmp_path / "c.csv")
    assert table.height == 45
    row = table.row(0, named=True)
    # a strong yes-tendency: raw scores all correlate; centred ones do not
    assert row["mean_pairwise_r"] > 0.5 > row["mean_pairwise_r_centred"]
    assert row["mean_pairwise_r_centred"] < 0
    assert 0 < row["permutation_p"] <= 1 and 0 < row["permutation_p_centred"] <= 1
    assert row["n_permutations"] == 200


# --------------------------------------------------------------------------- centring


def _responses(rows):
    return pl.DataFrame(
        rows,
        schema={
            "role_id": pl.Utf8,
            "condition": pl.Utf8,
            "value": pl.Utf8,
            "item_id": pl.Utf8,
            "agreement": pl.Int8,
            "answer": pl.Utf8,
            "score": pl.Float64,
            "soft_score": pl.Float64,
            "p_yes": pl.Float64,
        },  # fmt: skip
        orient="row",
    )


def _item(role, value, item, agreement, answer):
    sign = {"yes": 1.0, "no": -1.0}.get(answer, 0.0)
    return (role, "none", value, item, agreement, answer, agreement * sign, None, None)


def test_centring_by_hand_all_items_keyed_one_way():
    # r1: A yes yes, B no yes -> raw A 1, B 0; mean answer 0.5 -> centred A 0.5, B -0.5
    rows = [_item("r1", "A", "a1", 1, "yes"), _item("r1", "A", "a2", 1, "yes"),
            _item("r1", "B", "b1", 1, "no"), _item("r1", "B", "b2", 1, "yes")]  # fmt: skip
    m = centred_matrix(_responses(rows), ["A", "B"], "hard").row(0, named=True)
    assert m["A"] == pytest.approx(0.5) and m["B"] == pytest.approx(-0.5)
    assert acquiescence(_responses(rows))["acquiescence"][0] == pytest.approx(0.5)


def test_centring_by_hand_mixed_keying_and_unparsed():
    # r1 says yes to everything: raw answers +1, mean 1; a balanced value (one item each way)
    # is 0 raw and stays 0; a positively keyed value is 1 raw and 0 centred. The unparsed
    # answer is left out of the mean (strict parser) and of the value.
    rows = [_item("r1", "A", "a1", 1, "yes"), _item("r1", "A", "a2", -1, "yes"),
            _item("r1", "B", "b1", 1, "yes"), _item("r1", "B", "b2", 1, "unparsed")]  # fmt: skip
    frame = _responses(rows)
    m = centred_matrix(frame, ["A", "B"], "hard").row(0, named=True)
    assert m["A"] == pytest.approx(0.0) and m["B"] == pytest.approx(0.0)
    item = centred_responses(frame).filter(pl.col("item_id") == "a2")["score"][0]
    assert item == pytest.approx(0.0)  # -1 x (1 - 1)


def _pvq_responses(n_roles=40, seed=0):
    """PVQ-like answers (every item keyed +1): p(yes) = acquiescence + a ring structure."""
    r = np.random.default_rng(seed)
    angles = np.arange(10) * 2 * np.pi / 10
    rows = []
    for k in range(n_roles):
        acq = r.normal(0, 1.5)
        theta = r.uniform(0, 2 * np.pi)
        for v, value in enumerate(SCHWARTZ_ORDER):
            for i in range(4):
                logit = acq + 1.0 * np.cos(angles[v] - theta) + r.normal(0, 0.5)
                answer = "yes" if r.random() < 1 / (1 + np.exp(-logit)) else "no"
                rows.append(_item(f"r{k}", value, f"{value}{i}", 1, answer))
    return _responses(rows)


def test_centred_graph_of_one_way_keyed_items_is_not_estimable():
    from valuegraph.matrix import build_matrix

    responses = _pvq_responses()
    values = list(SCHWARTZ_ORDER)
    raw = build_matrix(responses, values, "hard")
    centred = centred_matrix(responses, values, "hard")
    graph = discover(raw.select(values), postprocess="paper")
    row = centring_comparison(raw, centred, values, graph, {"postprocess": "paper"}).row(
        0, named=True
    )
    assert row["status"] == "not estimable" and "collinear" in row["note"]
    assert row["mean_pairwise_r_raw"] > 0.3 and row["mean_pairwise_r_centred"] < 0


def test_centred_graph_of_mixed_keyed_items_is_compared():
    r = np.random.default_rng(0)
    rows = []
    for k in range(80):
        acq = r.normal(0, 1)
        latent = r.normal(size=3)
        latent[1] += 0.8 * latent[0]
        for v, value in enumerate("ABC"):
            for i, key in enumerate((1, -1, 1, -1)):
                logit = acq + key * 1.5 * latent[v]
                answer = "yes" if r.random() < 1 / (1 + np.exp(-logit)) else "no"
                rows.append(_item(f"r{k}", value, f"{value}{i}", key, answer))
    responses = _responses(rows)
    from valuegraph.matrix import build_matrix

    raw = build_matrix(responses, list("ABC"), "hard")
    centred = centred_matrix(responses, list("ABC"), "hard")
    graph = discover(raw.select(list("ABC")), postprocess="paper")
    row = centring_comparison(raw, centred, list("ABC"), graph, {"postprocess": "paper"}).row(
        0, named=True
    )
    assert row["status"] == "ok" and row["n_rows"] == 80 and row["shd"] is not None
    # balanced keying: centring leaves the values (nearly) as they were
    assert abs(row["mean_pairwise_r_raw"] - row["mean_pairwise_r_centred"]) < 0.1
    assert mean_pairwise_r(raw.select(list("ABC")).to_numpy()) == pytest.approx(
        row["mean_pairwise_r_raw"]
    )


# --------------------------------------------------------------------------- persona effects


def test_persona_effects_planted_shift_and_noise():
    r = np.random.default_rng(0)
    n = 30
    matrix = pl.DataFrame(
        {
            "role_id": ["none", *[f"p{i}" for i in range(n)]],
            "condition": ["none"] * (n + 1),
            "A": [0.0, *(r.choice([-1.0, 1.0], n))],  # every persona moves A by 1
            "B": [0.0, *(r.normal(0, 0.01, n))],  # personas barely move B
        }
    )
    table = persona_effects(matrix, ["A", "B"], n_bootstrap=200, seed=0)
    a = table.filter(pl.col("value") == "A").row(0, named=True)
    b = table.filter(pl.col("value") == "B").row(0, named=True)
    overall = table.filter(pl.col("value") == ALL).row(0, named=True)
    assert a["mean_abs_shift"] == pytest.approx(1.0) and a["ci_low"] == pytest.approx(1.0)
    assert b["mean_abs_shift"] < 0.02 and b["ci_low"] <= b["mean_abs_shift"] <= b["ci_high"]
    assert overall["ci_low"] < overall["mean_abs_shift"] < overall["ci_high"]
    assert overall["n_personas"] == n and overall["baseline"] == "none"
    assert math.isnan(a["noise_sd"])  # no responses: no item noise


def test_persona_item_noise_independent_items():
    # per-role item samples (the paper's): each role its own two items, scored 1 and -1
    rows = []
    for role in ("none", "p1", "p2"):
        rows += [_item(role, "A", f"{role}1", 1, "yes"), _item(role, "A", f"{role}2", 1, "no")]
    responses = _responses(rows)
    from valuegraph.matrix import build_matrix

    matrix = build_matrix(responses, ["A"], "hard")
    row = persona_effects(matrix, ["A"], responses, "hard", 10, 0).row(0, named=True)
    # item scores 1, -1: variance 2 (ddof 1) over 2 items -> se 1; both scores carry it
    assert row["noise_design"] == "independent" and row["noise_sd"] == pytest.approx(1.0)
    assert row["noise_abs_shift"] == pytest.approx(math.sqrt(2 / math.pi) * math.sqrt(2))


def test_persona_item_noise_on_shared_items_is_the_persona_by_item_spread():
    """Shared items: the items' own levels (here 1 and -1, the same for every role) cancel in
    the paired differences; only what a persona does item by item is noise."""
    from valuegraph.matrix import build_matrix

    def soft(role, item, s):
        return (role, "none", "A", item, 1, "yes", None, s, (s + 1) / 2)

    levels = {"a1": 0.9, "a2": -0.9, "a3": 0.1, "a4": -0.1}
    # p1, p2 shift every item by +0.2: a consistent persona effect, no item noise
    rows = [soft("none", i, x) for i, x in levels.items()]
    rows += [soft(p, i, x + 0.2) for p in ("p1", "p2") for i, x in levels.items()]
    responses = _responses(rows)
    matrix = build_matrix(responses, ["A"], "soft")
    row = persona_effects(matrix, ["A"], responses, "soft", 10, 0).row(0, named=True)
    assert row["noise_design"] == "paired"
    assert row["mean_abs_shift"] == pytest.approx(0.2) and row["noise_sd"] == pytest.approx(0.0)

    # q1, q2 move items +0.3, -0.3, +0.3, -0.3: no shift on average, all of it item noise
    rows = [soft("none", i, x) for i, x in levels.items()]
    moves = dict(zip(levels, [0.3, -0.3, 0.3, -0.3], strict=True))
    rows += [soft(q, i, x + moves[i]) for q in ("q1", "q2") for i, x in levels.items()]
    responses = _responses(rows)
    matrix = build_matrix(responses, ["A"], "soft")
    row = persona_effects(matrix, ["A"], responses, "soft", 10, 0).row(0, named=True)
    se = math.sqrt(0.12 / 4)  # var(+-0.3, ddof 1) = 0.12 over 4 items
    assert row["mean_abs_shift"] == pytest.approx(0.0, abs=1e-12)
    assert row["noise_sd"] == pytest.approx(se)
    assert row["noise_abs_shift"] == pytest.approx(math.sqrt(2 / math.pi) * se)
    # ... and q1, q2 do the same thing item by item: no persona x item noise between them
    assert row["between_noise_sd"] == pytest.approx(0.0, abs=1e-12)

    # r1 +0.1 / -0.1 on alternate items, r2 the reverse: they differ by persona x item noise
    rows = [soft("none", i, x) for i, x in levels.items()]
    moves = dict(zip(levels, [0.1, -0.1, 0.1, -0.1], strict=True))
    for r, sign in (("r1", 1), ("r2", -1)):
        rows += [soft(r, i, x + sign * moves[i]) for i, x in levels.items()]
    responses = _responses(rows)
    matrix = build_matrix(responses, ["A"], "soft")
    row = persona_effects(matrix, ["A"], responses, "soft", 10, 0).row(0, named=True)
    # residuals +-0.1: var 0.04/3 over 4 items, x P/(P-1) = 2
    assert row["between_noise_sd"] == pytest.approx(math.sqrt(2 * (0.04 / 3) / 4))
    assert row["sd_personas"] == pytest.approx(0.0, abs=1e-12) and row["snr"] == pytest.approx(0)


# --------------------------------------------------------------------------- summary text


def _stability(n_stable, p):
    return pl.DataFrame({"row": ["summary"], "n_stable": [n_stable], "n_edges": [17],
                         "null_mean": [0.4], "null_q95": [1.0], "n_null": [20], "p_value": [p],
                         "n_bootstrap": [100], "threshold": [0.5]})  # fmt: skip


def test_summary_states_claims_with_their_nulls():
    side = pl.DataFrame({"setting": ["role_prompt"], "graph": ["learned"], "n_interventions": [12],
                         "expected": [0.6], "unexpected": [0.4], "difference": [0.2],
                         "difference_ci_low": [0.05], "difference_ci_high": [0.3],
                         "p_value": [0.03]})  # fmt: skip
    beats = ModelNumbers("m1", stability=_stability(5, 0.01), side_effects=side)
    fails = ModelNumbers("m2", stability=_stability(1, 0.4))
    text = summary_rst([beats, fails])
    assert "5 of its 17 arcs are stable" in text and "0.4 stable arcs on average" in text
    assert "more stable structure than data without any" in text
    assert "cannot tell its stable arcs from what data without structure gives" in text
    assert "predicts side effects better than random graphs" in text and "p = 0.03" in text
    assert fmt_p(0.0004) == "p < 0.001"
    quiet = side.with_columns(
        setting=pl.lit("sae"), n_values_moved=pl.lit(0), difference=pl.lit(float("nan"))
    )
    text = summary_rst([ModelNumbers("m4", side_effects=quiet)])
    assert "Side effects of SAE steering (12 interventions): no value moved past" in text
    assert "n/a" not in text
    none = summary_rst([ModelNumbers("m3", graph={"nodes": ["a"], "edges": [], "params": {}})])
    assert "Edge stability was not measured" in none


def test_persona_sentence_names_the_paired_noise_and_the_between_persona_ratio():
    from valuegraph.summary_text import persona_sentence

    def sentence(**row):
        base = {"value": ALL, "baseline": "none", "n_personas": 100, "mean_abs_shift": 0.027,
                "ci_low": 0.025, "ci_high": 0.028, "noise_design": "paired",
                "noise_abs_shift": 0.016, "snr": 0.54}  # fmt: skip
        return persona_sentence(ModelNumbers("m", persona=pl.DataFrame([{**base, **row}])))

    text = sentence()
    assert "0.027 on average" in text and "persona x item noise" in text and "0.016" in text
    assert "beyond item noise" in text and "by 0.54x the spread item noise alone gives" in text
    text = sentence(noise_design="independent", noise_abs_shift=0.07)
    assert "item sampling noise alone would give 0.070" in text
    assert "cannot tell persona effects from item noise" in text


def test_workflow_description_includes_the_summary(tmp_path, monkeypatch):
    """workflow.rst as Snakemake renders it (Jinja2, then docutils): the summary file, when it
    is among the report's files, is included at the top."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "results" / "report" / "summary.rst"
    summary.parent.mkdir(parents=True)
    summary.write_text(summary_rst([ModelNumbers("m1", stability=_stability(5, 0.01))]))
    template = (REPO / "workflow/report/workflow.rst").read_text()
    config = {"models": [{}], "seed": 0, "discovery": {"alpha": 0.05}, "results": "results"}
    snakemake = SimpleNamespace(config=config)

    def render(files):
        text = Environment().from_string(template).render(snakemake=snakemake, files=files)
        return publish_parts(text, writer_name="html")["html_body"]

    other = SimpleNamespace(path=Path("results/m1/report/summary.csv"))
    html = render([other, SimpleNamespace(path=Path("results/report/summary.rst"))])
    assert "What this run can and cannot tell" in html and "5 of its 17 arcs" in html
    assert "What this run can" not in render([other])
