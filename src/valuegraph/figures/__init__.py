"""Every figure of the workflow, in one place (matplotlib, headless; no torch).

* :mod:`~valuegraph.figures.graphs` -- value graphs, edge frequencies, the graph comparison
  heatmap, the circumplex picture;
* :mod:`~valuegraph.figures.effects` -- the DoWhy effect heatmap;
* :mod:`~valuegraph.figures.steering` -- Table 1, side effects, targeted steering.

matplotlib is imported when a figure is drawn, never when a module is imported.
"""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
