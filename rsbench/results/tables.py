"""Per-seed metrics from a run's episodes: the table the statistics, leaderboards and regressions start from."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from rsbench.eval import metrics

GROUP = ["method", "algo", "task", "sweep", "risk"]


def cvar_column(alpha: float) -> str:
    return f"cvar_{alpha:g}"


def per_seed(episodes: pd.DataFrame, alphas: Sequence[float]) -> pd.DataFrame:
    """One row per (trial, risk setting): ``mean_return``, ``cvar_<alpha>`` for each alpha,
    ``violation_rate`` (violating steps / steps), ``episode_violation_rate`` and ``episodes``, next to the
    trial's ``trial, method, algo, task, seed, sweep, risk`` columns. The seed is the statistical unit."""
    rows = []
    keys = ["trial", *GROUP, "seed"]
    for key, group in episodes.groupby(keys, sort=True, dropna=False):
        returns = group["return"].to_numpy(dtype=float)
        row = dict(zip(keys, key, strict=True))
        row["episodes"] = len(group)
        row["mean_return"] = float(returns.mean())
        for a in alphas:
            row[cvar_column(a)] = float(metrics.cvar(returns, a))
        row["violation_rate"] = float(
            metrics.violation_rate(group["violation_steps"].to_numpy(), group["length"].to_numpy())
        )
        row["episode_violation_rate"] = float(
            metrics.episode_violation_rate(group["violation_steps"].to_numpy())
        )
        rows.append(row)
    return pd.DataFrame(rows)


def seed_means(table: pd.DataFrame, alphas: Sequence[float]) -> pd.DataFrame:
    """Means over seeds of :func:`per_seed` per (method, algo, task, sweep, risk), with the seed count."""
    value_cols = [
        "mean_return",
        *(cvar_column(a) for a in alphas),
        "violation_rate",
        "episode_violation_rate",
    ]
    grouped = table.groupby(GROUP, sort=True, dropna=False)
    out = grouped[value_cols].mean()
    out.insert(0, "seeds", grouped["seed"].nunique())
    return out.reset_index()
