"""The causal side of the analysis (no torch): from a role x value score matrix to graphs and
effects.

* :mod:`~valuegraph.causal.checks` -- data checks and JCI context indicators before discovery;
* :mod:`~valuegraph.causal.search` -- one causal-learn search and the paper's post-processing;
* :mod:`~valuegraph.causal.discovery` -- :func:`~valuegraph.causal.discovery.discover` (GRAPH.json)
  with seeded, parallel bootstrap edge frequencies;
* :mod:`~valuegraph.causal.graphs` -- the GRAPH.json format, reference graphs and graph metrics
  (SHD, skeleton and orientation scores);
* :mod:`~valuegraph.causal.circumplex` -- fit of value correlations to the Schwartz circumplex;
* :mod:`~valuegraph.causal.estimation` -- the DoWhy boundary (one backdoor estimate, refuters);
* :mod:`~valuegraph.causal.effects` -- role-prompt and steering effects;
* :mod:`~valuegraph.causal.ida` -- graph-implied total effects (IDA over the equivalence class);
* :mod:`~valuegraph.causal.simulated` -- the planted-structure respondent (a linear-Gaussian SEM).

This package imports none of its modules: importing one loads only what that one needs (the
report environment has neither causal-learn, DoWhy nor pandas).
"""
