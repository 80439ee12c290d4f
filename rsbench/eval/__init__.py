"""Metrics and statistics for risk-sensitive evaluation (docs/design.md §6).

Pure numpy/scipy, no framework imports, so it can be used by reports and CI tools without torch or ray.

- :mod:`rsbench.eval.metrics` -- per-seed metrics on ``(n_seeds, n_episodes)`` arrays
  (CVaR, VaR, violation rates, IQM).
- :mod:`rsbench.eval.stats` -- confidence intervals, two-sample tests, effect sizes,
  multiple-testing corrections.
- :mod:`rsbench.eval.regression` -- nightly REGRESSION / OK / INCONCLUSIVE verdicts.
"""
