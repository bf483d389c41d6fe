"""Report figures: the DoWhy effects heatmap."""

import polars as pl

from valuegraph.figures.effects import plot_effects


def test_effects_heatmap_is_written(tmp_path):
    role = pl.DataFrame(
        {
            "treatment": ["role_prompt"] * 2,
            "outcome": ["A", "B"],
            "estimate": [0.2, -0.1],
            "ci_low": [0.1, -0.3],
            "ci_high": [0.3, 0.1],
        }
    )
    steering = role.with_columns(pl.lit("sae_c01").alias("treatment"))
    out = tmp_path / "effects.png"
    plot_effects(role, steering, out, "m")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    empty = role.clear()
    plot_effects(role, empty, tmp_path / "role_only.png")
    assert (tmp_path / "role_only.png").exists()
