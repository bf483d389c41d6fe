"""The design benchmark's figure: skeleton F1 against discovery rows, one panel per scenario."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from valuegraph.figures import pyplot
from valuegraph.io import write_with


def plot_design(table: pl.DataFrame, out: str | Path) -> None:
    """Each design a point (mean skeleton F1 with its 95% CI), colour = item sampling, marker =
    steering conditions on train; large markers: all train items (rate 1)."""
    plt = pyplot()
    scenarios = table["scenario"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.5 * len(scenarios), 4.2), squeeze=False)
    colours = {"per_role": "tab:orange", "shared": "tab:blue"}
    markers = ["o", "s", "^", "D", "v"]
    ks = sorted(table["k_train"].unique().to_list())
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        sub = table.filter(pl.col("scenario") == scenario)
        for r in sub.iter_rows(named=True):
            ax.errorbar(
                r["discovery_rows"],
                r["skeleton_f1_mean"],
                yerr=[
                    [r["skeleton_f1_mean"] - r["skeleton_f1_lo"]],
                    [r["skeleton_f1_hi"] - r["skeleton_f1_mean"]],
                ],
                fmt=markers[ks.index(r["k_train"]) % len(markers)],
                color=colours.get(r["item_sampling"], "grey"),
                alpha=0.75,
                ms=4 + 3 * (r["train_sample_rate"] >= 1),
            )
        ax.set_xscale("log")
        ax.set_title(f"{scenario}")
        ax.set_xlabel("discovery rows (train roles x conditions)")
        ax.set_ylabel("skeleton F1 vs planted graph")
        ax.set_ylim(0, 1)
    handles = [
        plt.Line2D([], [], color=c, marker="o", ls="", label=f"items: {s}")
        for s, c in colours.items()
    ] + [
        plt.Line2D([], [], color="k", marker=markers[i % len(markers)], ls="", label=f"k_train={k}")
        for i, k in enumerate(ks)
    ]
    axes[0][-1].legend(handles=handles, fontsize=7, loc="upper left")
    fig.suptitle("Equal-budget designs: planted-graph recovery (mean, 95% CI)", fontsize=10)
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)
