"""The figure of the effects stage: DoWhy estimates as a treatment x value heatmap."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from valuegraph.figures import pyplot
from valuegraph.io import write_with


def plot_effects(
    role: pl.DataFrame, steering: pl.DataFrame, out: str | Path, title: str = ""
) -> None:
    """Heatmap of DoWhy effect estimates: rows are treatments (the role prompt, each steering
    condition), columns values; a dot marks a 95% CI that excludes 0."""
    import numpy as np

    plt = pyplot()
    frames = [f for f in (role, steering) if f.height]
    if not frames:
        table = pl.DataFrame(
            {"treatment": [], "outcome": [], "estimate": [], "ci_low": [], "ci_high": []}
        )
    else:
        cols = ["treatment", "outcome", "estimate", "ci_low", "ci_high"]
        table = pl.concat([f.select(cols).cast({"treatment": pl.String}) for f in frames])
    treatments = list(dict.fromkeys(table["treatment"].to_list())) or ["(none)"]
    outcomes = list(dict.fromkeys(table["outcome"].to_list())) or ["(none)"]
    grid = np.full((len(treatments), len(outcomes)), np.nan)
    sig = np.zeros_like(grid, dtype=bool)
    for t, o, est, lo, hi in table.iter_rows():
        i, j = treatments.index(t), outcomes.index(o)
        grid[i, j] = est
        sig[i, j] = lo is not None and hi is not None and (lo > 0 or hi < 0)
    bound = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(outcomes), 1.6 + 0.45 * len(treatments)))
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    ys, xs = np.nonzero(sig)
    ax.scatter(xs, ys, s=12, c="black", marker="o")
    ax.set_xticks(range(len(outcomes)), outcomes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(treatments)), treatments, fontsize=8)
    fig.colorbar(image, ax=ax, label="effect on the value score")
    ax.set_title(
        f"{title} DoWhy effects vs unsteered / no role (dot: 95% CI excludes 0)", fontsize=10
    )
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)
