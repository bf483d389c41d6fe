"""The report's opening summary: what this run can and cannot tell, in sentences written from the
uncertainty tables (reStructuredText, included at the top of the Snakemake report).

Every claim is stated with its null: stable arcs against the structure null, reference
agreement against random graphs, side-effect prediction against random graphs, the circumplex
against shuffled value labels, persona shifts against item noise. Where the null is not beaten
the sentence says the run cannot tell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

ALPHA = 0.05
SIDE_EFFECT_SETTINGS = {
    "role_prompt": "the role prompt",
    "sae": "SAE steering",
    "value_prompt": "the explicit value prompt",
}


@dataclass
class ModelNumbers:
    """One model's tables (any may be missing: that part of the run did not happen)."""

    name: str
    graph: dict[str, Any] | None = None
    stability: pl.DataFrame | None = None
    compare: pl.DataFrame | None = None
    side_effects: pl.DataFrame | None = None
    circumplex: pl.DataFrame | None = None
    centring: pl.DataFrame | None = None
    persona: pl.DataFrame | None = None


def _num(x: Any) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return math.nan
    return x


def fmt(x: Any, digits: int = 2) -> str:
    x = _num(x)
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def fmt_p(p: Any) -> str:
    p = _num(p)
    if not math.isfinite(p):
        return "p n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def beaten(p: Any) -> bool:
    p = _num(p)
    return math.isfinite(p) and p < ALPHA


def _first(frame: pl.DataFrame | None, **where: Any) -> dict[str, Any] | None:
    if frame is None or not frame.height:
        return None
    for key, value in where.items():
        if key not in frame.columns:
            return None
        frame = frame.filter(pl.col(key) == value)
    return frame.row(0, named=True) if frame.height else None


# --------------------------------------------------------------------------- per claim


def data_sentence(m: ModelNumbers) -> str | None:
    if m.graph is None:
        return None
    params = m.graph.get("params", {})
    nodes = [n for n in m.graph["nodes"] if n not in set(m.graph.get("context_nodes") or ())]
    return (
        f"The value graph was learned from {params.get('n_rows', 'n/a')} train rows × "
        f"{len(nodes)} values ({params.get('method', 'pc')}, α = {params.get('alpha', 'n/a')})."
    )


def stability_sentence(m: ModelNumbers) -> str:
    s = _first(m.stability, row="summary")
    if s is None or s.get("n_stable") is None:
        return (
            "Edge stability was not measured (discovery.bootstrap is 0), so no arc comes with "
            "an uncertainty."
        )
    n_stable, n_edges = int(_num(s["n_stable"])), int(_num(s["n_edges"]))
    head = (
        f"{n_stable} of its {n_edges} arcs are stable (bootstrap frequency ≥ "
        f"{fmt(s['threshold'])} over {int(_num(s['n_bootstrap']))} resamples)"
    )
    if not int(_num(s.get("n_null"))):
        return head + "; no structure null was drawn, so this count has no reference."
    null = (
        f"; data of the same shape with every value permuted independently gives "
        f"{fmt(s['null_mean'], 1)} stable arcs on average (95% quantile {fmt(s['null_q95'], 1)}, "
        f"{int(_num(s['n_null']))} permutations), {fmt_p(s['p_value'])}"
    )
    verdict = (
        ": more stable structure than data without any."
        if beaten(s["p_value"])
        else ": this run cannot tell its stable arcs from what data without structure gives."
    )
    return head + null + verdict


def reference_sentences(m: ModelNumbers) -> list[str]:
    if m.compare is None or not m.compare.height:
        return []
    rows = m.compare.filter(
        (pl.col("against_kind") == "reference") & (pl.col("graph") == f"{m.name}/pc")
    )
    out, undefined = [], []
    for r in rows.iter_rows(named=True):
        f1 = _num(r["skeleton_f1"])
        if not math.isfinite(f1):
            undefined.append(r["against"])
            continue
        text = f"Against the {r['against']} reference: skeleton F1 {fmt(f1)}, SHD {r['shd']}"
        p = r.get("skeleton_f1_p")
        if p is None or not math.isfinite(_num(p)):
            out.append(text + " (no random-graph null drawn).")
            continue
        text += (
            f" (random graphs with as many edges: F1 {fmt(r['skeleton_f1_null_mean'])}, {fmt_p(p)})"
        )
        out.append(
            text
            + (
                ": closer to the reference than random graphs."
                if beaten(p)
                else ": no closer to the reference than random graphs."
            )
        )
    if undefined:
        out.append(
            f"No skeleton F1 against {', '.join(undefined)}: the reference has no edge among these "
            "values (or the learned graph has none), so the run cannot compare them."
        )
    return out


def side_effect_sentences(m: ModelNumbers) -> list[str]:
    if m.side_effects is None or "graph" not in m.side_effects.columns:
        return []
    out = []
    for setting, label in SIDE_EFFECT_SETTINGS.items():
        r = _first(m.side_effects, setting=setting, graph="learned")
        if r is None or not int(_num(r.get("n_interventions")) or 0):
            continue
        n = int(_num(r["n_interventions"]))
        head = f"Side effects of {label} ({n} intervention{'s' if n != 1 else ''})"
        if not math.isfinite(_num(r.get("difference"))):
            moved = int(_num(r.get("n_values_moved")) or 0)
            out.append(
                f"{head}: {'no value moved' if not moved else 'too few values moved'} past the "
                "change threshold (steering.change_threshold), so there are no side effects "
                "to compare."
            )
            continue
        text = (
            f"{head}: values "
            f"downstream of a moved value moved with it in {fmt(r['expected'])} of cases, "
            f"other values in {fmt(r['unexpected'])} (difference {fmt(r['difference'])}, 95% CI "
            f"{fmt(r['difference_ci_low'])} to {fmt(r['difference_ci_high'])}); against random "
            f"graphs with as many arcs {fmt_p(r['p_value'])}"
        )
        out.append(
            text
            + (
                ": the learned graph predicts side effects better than random graphs."
                if beaten(r["p_value"])
                else ": this run cannot tell the learned graph's predictions from random graphs'."
            )
        )
    return out


def circumplex_sentence(m: ModelNumbers) -> str | None:
    r = _first(m.circumplex)
    if r is None:
        return None
    text = (
        f"Schwartz circumplex ({int(_num(r['n_rows']))} rows): the 10 raw scores correlate at "
        f"mean r = {fmt(r['mean_pairwise_r'])}; circumplex fit ρ = {fmt(r['spearman'])} "
        f"(shuffled value labels: {fmt_p(r.get('permutation_p'))})"
    )
    if "spearman_centred" in r and r["spearman_centred"] is not None:
        text += (
            f". Centred on each respondent's mean answer, as the PVQ prescribes: mean r = "
            f"{fmt(r['mean_pairwise_r_centred'])}, ρ = {fmt(r['spearman_centred'])} "
            f"({fmt_p(r.get('permutation_p_centred'))})"
        )
        p = r.get("permutation_p_centred")
    else:
        p = r.get("permutation_p")
    if _num(r["mean_pairwise_r"]) > 0.5:
        text += "; the raw scores are dominated by a general readiness to say yes"
    verdict = (
        ": the values are arranged as the circumplex predicts, beyond chance."
        if beaten(p)
        else ": this run cannot tell a circumplex from a random arrangement of the values."
    )
    return text + verdict


def centring_sentence(m: ModelNumbers) -> str | None:
    r = _first(m.centring)
    if r is None:
        return None
    text = (
        f"Centring the {int(_num(r['n_values']))} value scores on each respondent's mean answer "
        f"moves their mean pairwise r from {fmt(r['mean_pairwise_r_raw'])} to "
        f"{fmt(r['mean_pairwise_r_centred'])}"
    )
    if r["status"] != "ok":
        return text + (
            "; the centred scores admit no graph (they are linearly dependent: every item is "
            "keyed the same way), so the run cannot tell how acquiescence shapes the graph."
        )
    return text + (
        f"; the graph learned from centred scores has {int(_num(r['n_edges_centred']))} edges "
        f"(raw {int(_num(r['n_edges_raw']))}), SHD {int(_num(r['shd']))} from the raw graph, "
        f"skeleton F1 {fmt(r['skeleton_f1'])}."
    )


def persona_sentence(m: ModelNumbers) -> str | None:
    from valuegraph.evaluation.persona import ALL

    r = _first(m.persona, value=ALL)
    if r is None:
        return None
    baseline = "the no-role answer" if r["baseline"] == "none" else f"the {r['baseline']}"
    text = (
        f"Persona sensitivity: the persona line moves a value score by "
        f"{fmt(r['mean_abs_shift'], 3)} on average from {baseline} (95% CI "
        f"{fmt(r['ci_low'], 3)} to {fmt(r['ci_high'], 3)}, {int(_num(r['n_personas']))} personas)"
    )
    noise = _num(r["noise_abs_shift"])
    if not math.isfinite(noise):
        return text + "; item noise was not measured, so this has no reference."
    if r.get("noise_design") == "paired":
        text += (
            f"; on the same items, item-specific shifts alone (persona x item noise) would give "
            f"{fmt(noise, 3)}"
        )
    else:
        text += f"; item sampling noise alone would give {fmt(noise, 3)}"
    text += (
        ": personas move the scores beyond item noise"
        if _num(r["ci_low"]) > noise
        else ": this run cannot tell persona effects from item noise"
    )
    snr = _num(r.get("snr", math.nan))
    if not math.isfinite(snr):
        return text + "."
    return text + (
        f". Personas differ from each other by {fmt(snr, 2)}x the spread item noise alone gives"
        " (1 when personas are interchangeable: then discovery has no persona differences to"
        " learn from)."
    )


def model_paragraph(m: ModelNumbers) -> list[str]:
    has_graph = m.graph is not None or m.stability is not None
    sentences = [data_sentence(m), stability_sentence(m) if has_graph else None]
    sentences += reference_sentences(m) + side_effect_sentences(m)
    sentences += [circumplex_sentence(m), centring_sentence(m), persona_sentence(m)]
    return [s for s in sentences if s]


def pair_sentences(pairs: pl.DataFrame | None) -> list[str]:
    if pairs is None or not pairs.height:
        return []
    out = []
    keys = pairs.select("model_a", "model_b").unique(maintain_order=True)
    for a, b in keys.iter_rows():
        rows = pairs.filter((pl.col("model_a") == a) & (pl.col("model_b") == b))
        metric = {r["metric"]: r for r in rows.iter_rows(named=True) if r["section"] == "graph"}
        if "skeleton_f1" in metric:
            text = (
                f"{a} vs {b}: skeleton F1 {fmt(metric['skeleton_f1']['value'])}, SHD "
                f"{fmt(metric['shd']['value'], 0)}"
            )
            if "skeleton_f1_p" in metric:
                p = metric["skeleton_f1_p"]["value"]
                text += (
                    f" (two random graphs of these sizes: F1 "
                    f"{fmt(metric['skeleton_f1_null_mean']['value'])}, {fmt_p(p)})"
                )
                text += (
                    ": the two graphs share more structure than unrelated graphs."
                    if beaten(p)
                    else ": this run cannot tell the two graphs' agreement from chance."
                )
            else:
                text += "."
            out.append(text)
        persona = {r["metric"]: r for r in rows.iter_rows(named=True) if r["section"] == "persona"}
        if {"mean_abs_shift", "ci_low", "ci_high"} <= set(persona):
            sa, sb = persona["mean_abs_shift"], persona["ci_low"]
            hi = persona["ci_high"]
            overlap = not (
                _num(sb["value_a"]) > _num(hi["value_b"])
                or _num(sb["value_b"]) > _num(hi["value_a"])
            )
            out.append(
                f"Persona sensitivity {a} {fmt(sa['value_a'], 3)} (CI {fmt(sb['value_a'], 3)} to "
                f"{fmt(hi['value_a'], 3)}) vs {b} {fmt(sa['value_b'], 3)} (CI "
                f"{fmt(sb['value_b'], 3)} to {fmt(hi['value_b'], 3)})"
                + (
                    ": the intervals overlap, so the run cannot tell which model personas move "
                    "more."
                    if overlap
                    else ": the intervals do not overlap."
                )
            )
    return out


def summary_rst(models: list[ModelNumbers], pairs: pl.DataFrame | None = None) -> str:
    """The summary as reStructuredText: a lead line, one bullet list per model, then the model
    pairs."""
    lines = [
        "**What this run can and cannot tell.** Every number below is next to its null; "
        f"p-values are one-sided permutation p-values, and a claim whose p is {ALPHA} or more "
        "is reported as one this run cannot make.",
        "",
    ]
    for m in models:
        lines += [f"*{m.name}*", ""]
        lines += [f"- {s}" for s in model_paragraph(m)] or ["- No numbers for this model."]
        lines.append("")
    cross = pair_sentences(pairs)
    if cross:
        lines += ["*Across models*", ""]
        lines += [f"- {s}" for s in cross]
        lines.append("")
    return "\n".join(lines)
