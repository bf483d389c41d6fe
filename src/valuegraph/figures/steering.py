"""Figures of the steering evaluation: Table 1 as a heatmap, side effects (expected vs
unexpected change frequency), targeted steering (SAE feature vs value prompt)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from valuegraph.evaluation.statistics import nanmean
from valuegraph.figures import pyplot
from valuegraph.io import write_with


def plot_table1(
    table: pl.DataFrame, values: Sequence[str], out: str, model: str, title: str | None = None
) -> None:
    """Heatmap: colour = train (up - down) / n per feature x value; number = train-test cosine;
    kept features are starred; the last column is the feature's mean similarity. ``title``
    replaces the paper's caption ("Value steering using SAE features for the {model} model.")."""
    plt = pyplot()
    conds = list(dict.fromkeys(table["condition"].to_list())) if table.height else []
    fig, ax = plt.subplots(
        figsize=(1.0 + 0.75 * (len(values) + 1), 1.4 + 0.42 * max(1, len(conds)))
    )
    if not conds:
        ax.text(0.5, 0.5, "no SAE conditions", ha="center", va="center")
        ax.set_axis_off()
    else:
        grid = np.full((len(conds), len(values)), np.nan)
        cos = np.full((len(conds), len(values)), np.nan)
        labels = []
        for i, c in enumerate(conds):
            sub = table.filter(pl.col("condition") == c)
            lookup = {r["value"]: r for r in sub.iter_rows(named=True)}
            first = sub.row(0, named=True)
            labels.append(f"{'* ' if first['kept'] else ''}{first['feature']} ({c})")
            for j, v in enumerate(values):
                r = lookup[v]
                if r["train_n"]:
                    grid[i, j] = (r["train_up"] - r["train_down"]) / r["train_n"]
                cos[i, j] = r["cosine"]
        im = ax.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
        for i in range(len(conds)):
            for j in range(len(values)):
                if np.isfinite(cos[i, j]):
                    ax.text(j, i, f"{cos[i, j]:.2f}", ha="center", va="center", fontsize=7)
            ax.text(
                len(values),
                i,
                f"{nanmean(cos[i]):.2f}",
                ha="center",
                va="center",
                fontsize=8,
                fontweight="bold",
            )
        ax.set_xticks(
            range(len(values) + 1), [*values, "mean sim."], rotation=60, ha="right", fontsize=8
        )
        ax.set_yticks(range(len(conds)), labels, fontsize=8)
        ax.set_xlim(-0.5, len(values) + 0.5)
        fig.colorbar(im, ax=ax, label="train (up - down) / n", shrink=0.8)
    caption = f"Value steering using SAE features for the {model} model."
    ax.set_title(title if title is not None else caption, fontsize=10)
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)


def plot_side_effects(table: pl.DataFrame, out: str, model: str) -> None:
    """Expected (descendants) vs unexpected (non-descendants) change frequency per intervention
    setting, one panel per graph, with bootstrap 95% CIs and the permutation p-value."""
    plt = pyplot()
    graphs = list(dict.fromkeys(table["graph"].to_list())) if table.height else ["(none)"]
    settings = list(dict.fromkeys(table["setting"].to_list())) if table.height else []
    fig, axes = plt.subplots(
        1, len(graphs), figsize=(3.2 + 2.6 * len(graphs), 4.2), squeeze=False, sharey=True
    )
    for ax, g in zip(axes[0], graphs, strict=True):
        sub = (
            {r["setting"]: r for r in table.filter(pl.col("graph") == g).iter_rows(named=True)}
            if table.height
            else {}
        )
        x = np.arange(len(settings))
        for off, key, colour in ((-0.2, "expected", "#2c7fb8"), (0.2, "unexpected", "#f0a830")):
            mid = np.array([sub[s][key] for s in settings], dtype=float)
            lo = np.array([sub[s][f"{key}_ci_low"] for s in settings], dtype=float)
            hi = np.array([sub[s][f"{key}_ci_high"] for s in settings], dtype=float)
            err = np.vstack([np.clip(mid - lo, 0, None), np.clip(hi - mid, 0, None)])
            ax.bar(
                x + off,
                np.nan_to_num(mid),
                0.38,
                yerr=np.nan_to_num(err),
                color=colour,
                label=key,
                capsize=3,
            )
        for i, s in enumerate(settings):
            p = sub[s]["p_value"]
            ax.text(
                i, 1.02, "p=n/a" if not np.isfinite(p) else f"p={p:.3f}", ha="center", fontsize=7
            )
        ax.set_xticks(x, settings, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title(f"graph: {g}", fontsize=9)
    axes[0][0].set_ylabel("share of interventions moving X that also move Y")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{model}: Frequency of changes in other value dimensions", fontsize=10)
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)


def plot_targeted(table: pl.DataFrame, out: str, model: str) -> None:
    """Stacked shares (up / same / down on the target value) of SAE feature vs value prompt,
    per value and pooled, for + and - steering; off-target mean |delta| printed at each bar."""
    plt = pyplot()
    fig, axes = plt.subplots(
        1, 2, figsize=(12, 1.5 + 0.3 * max(1, table.height // 2)), squeeze=False
    )
    for ax, sign in zip(axes[0], ("+", "-"), strict=True):
        sub = table.filter(pl.col("direction") == sign)
        labels = [
            f"{r['value']} | {r['method']}"
            + (f" {r['feature']}" if r["feature"] is not None else "")
            for r in sub.iter_rows(named=True)
        ]
        y = np.arange(sub.height)
        left = np.zeros(sub.height)
        for key, colour in (("up", "#2c7fb8"), ("same", "#dddddd"), ("down", "#f0a830")):
            width = sub[key].fill_null(float("nan")).fill_nan(0).to_numpy()
            ax.barh(y, width, left=left, color=colour, label=key)
            left += width
        for i, r in enumerate(sub.iter_rows(named=True)):
            ax.text(1.01, i, f"off {r['off_target_mean_abs']:.3f}", va="center", fontsize=7)
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.18)
        ax.set_title(f"steering {sign}: target value up / same / down", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"{model}: SAE feature vs explicit value prompt (test roles)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)
