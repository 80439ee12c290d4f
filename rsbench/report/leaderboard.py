"""Leaderboards from per-seed metrics: intervals, significance tiers, cross-task IQM, plain-language findings.

Everything here works on the per-seed table of :func:`rsbench.results.tables.per_seed` (one row per trial and
risk setting; the training seed is the unit). A *group* is one method label at one inference risk setting
(plus its sweep point), e.g. ``rs_diffuser cvar:0.1``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

from rsbench.eval import stats
from rsbench.results.tables import cvar_column

HIGHER_IS_BETTER = {"mean_return": True, "violation_rate": False, "episode_violation_rate": False}
LEVEL = 0.95


def sweep_suffix(sweep: str | dict | None) -> str:
    """`` [dim=16, n_quantiles=8]`` for a sweep point (JSON text or dict), ``""`` without one."""
    point = json.loads(sweep) if isinstance(sweep, str) else (sweep or {})
    text = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(point.items()))
    return f" [{text}]" if text else ""


def group_label(row: pd.Series | dict) -> str:
    """``METHOD RISK`` plus the sweep point: the rows of a leaderboard and the series of a figure."""
    return f"{row['method']} {row['risk']}" + sweep_suffix(row.get("sweep"))


def with_groups(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out["group"] = [group_label(r) for r in out.to_dict("records")] if len(out) else []
    return out


def higher_is_better(metric: str) -> bool:
    return HIGHER_IS_BETTER.get(metric, True)  # every cvar_* is higher-is-better


@dataclass(frozen=True)
class Cell:
    """Mean over seeds with its 95% t-interval (None bounds with fewer than 2 seeds)."""

    mean: float
    low: float | None
    high: float | None

    def text(self, digits: int = 2) -> str:
        if self.low is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def cell(values: np.ndarray, bounds: tuple[float, float] | None = None) -> Cell:
    """``bounds`` clip the interval to the metric's range (rates live in [0, 1])."""
    if values.size >= 2 and np.ptp(values) > 0:
        ci = stats.t_interval(values, LEVEL)
        low, high = (ci.low, ci.high) if bounds is None else (max(ci.low, bounds[0]), min(ci.high, bounds[1]))
        return Cell(float(values.mean()), low, high)
    if values.size >= 2:
        return Cell(float(values.mean()), float(values.mean()), float(values.mean()))
    return Cell(float(values.mean()), None, None)


@dataclass(frozen=True)
class Comparison:
    """Welch's test of ``a`` against ``b`` on one metric, Holm-corrected within its (task, metric) family."""

    task: str
    metric: str
    a: str
    b: str
    difference: float
    low: float
    high: float
    p: float
    p_holm: float

    def sentence(self, label: str) -> str:
        """E.g. ``rs_diffuser cvar:0.1 has a higher CVaR_0.1 than diffuser neutral on pointmass: +4.2 [2.1,
        6.3], p = 0.003 (Holm)``; pairs are oriented so that ``a`` is the better one."""
        word = "higher" if self.difference > 0 else "lower"
        return (
            f"{self.a} has a {word} {label} than {self.b} on {self.task}: "
            f"{self.difference:+.3g} [{self.low:+.3g}, {self.high:+.3g}], p = {self.p_holm:.2g} (Holm)"
        )


def welch_difference(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> tuple[float, float, float, float]:
    """``(mean(a) - mean(b), low, high, two-sided p)`` with Welch's interval; needs >= 2 values each."""
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff, (1.0 if diff == 0 else 0.0)
    df = stats.welch_df(a.var(ddof=1), a.size, b.var(ddof=1), b.size)
    half = float(sps.t.ppf((1 + level) / 2, df)) * se
    return diff, diff - half, diff + half, stats.welch_t_test(a, b).p_value


@dataclass
class TaskBoard:
    """One task's leaderboard: rows ranked by the primary metric, with tiers and the pairwise tests."""

    task: str
    primary: str
    metrics: list[str]
    rows: list[dict] = field(default_factory=list)  # group, seeds, tier, rank, per-metric Cell
    comparisons: list[Comparison] = field(default_factory=list)


def _values(table: pd.DataFrame, group: str, metric: str) -> np.ndarray:
    return table[table["group"] == group].sort_values("seed")[metric].to_numpy(dtype=float)


def _pairwise(table: pd.DataFrame, task: str, metric: str, groups: list[str]) -> list[Comparison]:
    pairs = []
    for a, b in combinations(groups, 2):
        x, y = _values(table, a, metric), _values(table, b, metric)
        if x.size < 2 or y.size < 2:
            continue
        diff, low, high, p = welch_difference(x, y)
        if (diff < 0) == higher_is_better(metric):  # orient every pair as "a is better than b"
            a, b, diff, low, high = b, a, -diff, -high, -low
        pairs.append((a, b, diff, low, high, p))
    if not pairs:
        return []
    adjusted = stats.holm([p for *_, p in pairs])
    return [
        Comparison(task, metric, a, b, diff, low, high, p, float(q))
        for (a, b, diff, low, high, p), q in zip(pairs, adjusted, strict=True)
    ]


def _tiers(order: list[str], comparisons: list[Comparison], alpha: float) -> dict[str, int]:
    """Tier 1 is the leader and every group no Holm-corrected test separates from it; repeat on the rest."""
    separated = {(c.a, c.b) for c in comparisons if c.p_holm < alpha}
    tiers, remaining, tier = {}, list(order), 1
    while remaining:
        leader = remaining[0]
        members = [g for g in remaining if g == leader or (leader, g) not in separated]
        for g in members:
            tiers[g] = tier
        remaining = [g for g in remaining if g not in members]
        tier += 1
    return tiers


def task_board(table: pd.DataFrame, task: str, alphas: list[float], *, alpha: float = 0.05) -> TaskBoard:
    """The leaderboard of ``task`` from a per-seed table (with a ``group`` column, see :func:`with_groups`)."""
    primary_alpha = min(alphas, key=lambda a: abs(a - 0.1))
    primary = cvar_column(primary_alpha)
    metrics = ["mean_return", *(cvar_column(a) for a in alphas), "violation_rate", "episode_violation_rate"]
    sub = table[table["task"] == task]
    groups = sorted(sub["group"].unique())
    means = {g: float(_values(sub, g, primary).mean()) for g in groups}
    order = sorted(groups, key=lambda g: -means[g])
    comparisons = [
        c for m in (primary, "mean_return", "violation_rate") for c in _pairwise(sub, task, m, groups)
    ]
    tiers = _tiers(order, [c for c in comparisons if c.metric == primary], alpha)
    board = TaskBoard(task, primary, metrics, comparisons=comparisons)
    for rank, g in enumerate(order, 1):
        rows = sub[sub["group"] == g]
        board.rows.append(
            {
                "rank": rank,
                "tier": tiers[g],
                "group": g,
                "method": rows["method"].iloc[0],
                "risk": rows["risk"].iloc[0],
                "seeds": int(rows["seed"].nunique()),
                "episodes": int(rows["episodes"].min()),
                **{m: cell(_values(sub, g, m), (0.0, 1.0) if "violation" in m else None) for m in metrics},
            }
        )
    return board


def metric_label(metric: str) -> str:
    if metric.startswith("cvar_"):
        return f"CVaR_{metric[5:]}"
    return {"mean_return": "mean return", "violation_rate": "violation rate"}.get(
        metric, metric.replace("_", " ")
    )


def findings(boards: list[TaskBoard], alpha: float = 0.05) -> list[str]:
    """One plain-language line per significant difference (Holm-corrected), primary metric first."""
    lines = []
    for board in boards:
        for c in sorted(board.comparisons, key=lambda c: (c.metric != board.primary, c.p_holm)):
            if c.p_holm < alpha:
                lines.append(c.sentence(metric_label(c.metric)))
    return lines


def aggregate(table: pd.DataFrame, metric: str, *, seed: int = 0, n_boot: int = 2000) -> pd.DataFrame:
    """Cross-task IQM of ``metric`` per group with a stratified-bootstrap 95% interval.

    Scores are min-max normalised per task over every group's per-seed values when there is more than one
    task (tasks have different return scales); with one task they are the raw values. Only groups present
    on every task are aggregated. Columns: ``group, iqm, low, high, tasks, normalised``.
    """
    tasks = sorted(table["task"].unique())
    normalise = len(tasks) > 1
    scores = table[["group", "task", "seed", metric]].copy()
    if normalise:
        for task in tasks:
            mask = scores["task"] == task
            lo, hi = scores.loc[mask, metric].min(), scores.loc[mask, metric].max()
            scores.loc[mask, metric] = (scores.loc[mask, metric] - lo) / (hi - lo) if hi > lo else 0.0
    rows = []
    for group in sorted(scores["group"].unique()):
        sub = scores[scores["group"] == group]
        if sorted(sub["task"].unique()) != tasks:
            continue
        per_task = [sub[sub["task"] == t].sort_values("seed")[metric].to_numpy(dtype=float) for t in tasks]
        n = min(len(v) for v in per_task)
        matrix = np.stack([v[:n] for v in per_task], axis=1)  # (n_runs, n_tasks)
        ci = stats.stratified_bootstrap_ci(matrix, rng=np.random.default_rng(seed), n_boot=n_boot)
        rows.append(
            {
                "group": group,
                "iqm": ci.estimate,
                "low": ci.low,
                "high": ci.high,
                "tasks": len(tasks),
                "normalised": normalise,
            }
        )
    return (
        pd.DataFrame(rows).sort_values("iqm", ascending=False, ignore_index=True) if rows else pd.DataFrame()
    )


def warnings_for(table: pd.DataFrame, alphas: list[float], datasets: dict | None = None) -> list[str]:
    """Protocol warnings: unreliable CVaR tails (n * alpha < 10), few seeds, low tail coverage in the data."""
    out = []
    episodes = int(table["episodes"].min()) if len(table) else 0
    for a in alphas:
        if episodes * a < 10:
            out.append(
                f"CVaR_{a:g} rests on n*alpha = {episodes * a:g} < 10 episodes per seed: treat it as unreliable"
            )
    seeds = table.groupby("group")["seed"].nunique() if len(table) else pd.Series(dtype=int)
    few = sorted(seeds[seeds < 5].index)
    if few:
        out.append(
            f"{len(few)} group(s) have fewer than 5 seeds ({', '.join(few[:4])}{', ...' if len(few) > 4 else ''}): "
            "intervals are wide and tests have little power"
        )
    for task, info in sorted((datasets or {}).items()):
        for w in info.get("warnings", []):
            out.append(f"dataset of {task} ({info.get('dataset')}): {w}")
        fraction = info.get("penalty_episode_fraction")
        if fraction is not None and fraction < 0.05:
            out.append(
                f"dataset of {task}: only {fraction:.1%} of its episodes show a penalty: low tail coverage"
            )
    return out
