"""Steering evaluation (analysis side, no torch), from role x value matrices
(:mod:`valuegraph.matrix`):

* :mod:`~valuegraph.evaluation.deltas` -- a condition's effect on a role, and when a score changes;
* :mod:`~valuegraph.evaluation.selection` -- the train-only SAE feature selection rule;
* :mod:`~valuegraph.evaluation.table1` -- Table 1 (train vs test up / down / same counts);
* :mod:`~valuegraph.evaluation.statistics` -- the paper's change-count metric, bootstrap CIs and
  the permutation test against random graphs;
* :mod:`~valuegraph.evaluation.side_effects` -- the intervention sets and the side-effect table;
* :mod:`~valuegraph.evaluation.targeted` -- targeted steering: SAE feature vs value prompt.

Figures: :mod:`valuegraph.figures.steering`. This package imports none of its modules.
"""
