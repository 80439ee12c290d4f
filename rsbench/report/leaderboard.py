"""Leaderboards from per-seed metrics: intervals, significance tiers, cross-task IQM, plain-language findings.

Everything here works on the per-seed table of :func:`rsbench.results.tables.per_seed` (one row per trial and
risk setting; the training seed is the unit). A *group* is one method label at one inference risk setting
(plus its sweep point), e.g. ``rs_diffuser cvar:0.1``.

Guards, each stated in the report: non-finite per-seed values are dropped from every interval and test and
listed by trial; a group whose seeds are all identical (away from the metric's bounds) is flagged -- usually
the seed was not applied -- and enters no test; a group with fewer than two usable seeds is "untested".

Tiers (monotone in rank). Groups are ranked by the mean of the primary metric (NaN last). Walking down the
ranking, a new tier starts at the first tested group that a Holm-corrected Welch test separates from the
first group of the current tier; every group up to it shares that tier. So a lower-ranked group is never
in a better tier than a higher-ranked one (A = 10, B = 9 tight, C = 8 wide: tiers 1, 2, 2 -- C is not
separated from B, so it cannot sit above it), and a tier is "not separated from its top group".
Untested groups get no tier and do not break the walk.

Intervals (:data:`INTERVALS`): mean return and violation rates show the seed-level 95% t-interval; CVaR
columns show the hull of that t-interval and the two-level bootstrap over seeds and their episodes
(:func:`rsbench.eval.stats.two_level_bootstrap_ci`), whose reflected quantiles correct the plug-in CVaR's
optimistic bias at 100 episodes. Coverage of both, measured by ``benchmarks/coverage.py``: docs/statistics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from rsbench.eval import stats
from rsbench.eval.metrics import cvar, higher_is_better, metric_info, metric_label, normalised_score
from rsbench.results.tables import (
    COSTS,
    NORMALISED,
    cvar_column,
    distortion_columns,
    group_label,
    sweep_suffix,
    with_groups,
)

LEVEL = 0.95
BOOT_SEED = 0  # the two-level bootstrap's Generator seed: the same report twice gives the same intervals
N_BOOT = 1000  # resamples: 25 beyond each 2.5% quantile
INTERVALS = (
    "95% intervals over training seeds (the unit; each seed has its own evaluation episodes): seed-level "
    "t-intervals for mean return and violation rates; for CVaR the hull of the t-interval and a two-level "
    "bootstrap over seeds and their episodes (basic interval, which corrects the plug-in CVaR's optimistic "
    "bias at ~100 episodes). Figures' bands are the t-intervals."
)
UNTESTED = "untested"
ZERO_VARIANCE = "zero variance: was the seed applied?"

__all__ = [
    "Cell",
    "Comparison",
    "Findings",
    "TaskBoard",
    "aggregate",
    "cell",
    "cost_text",
    "cvar_bootstrap",
    "findings",
    "group_label",
    "reference_scores",
    "sweep_suffix",
    "task_board",
    "warnings_for",
    "welch_difference",
    "with_groups",
]


def _flat(values: np.ndarray, bounds: tuple[float, float] | None) -> bool:
    """All seeds identical at a value that is not a bound of the metric (no violations anywhere is real)."""
    if values.size < 2 or np.ptp(values) > 0:
        return False
    return bounds is None or values[0] not in bounds


@dataclass(frozen=True)
class Cell:
    """Mean over seeds with its 95% t-interval (None bounds with fewer than 2 seeds or zero variance)."""

    mean: float
    low: float | None
    high: float | None
    note: str = ""

    def text(self, digits: int = 2) -> str:
        if math.isnan(self.mean):
            return "-"
        core = f"{self.mean:.{digits}f}"
        if self.low is not None:
            core += f" [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        return f"{core} ({self.note})" if self.note else core


def cell(
    values: np.ndarray, bounds: tuple[float, float] | None = None, boot: stats.Interval | None = None
) -> Cell:
    """``values``: finite per-seed values. ``bounds`` clip the interval to the metric's range. ``boot``: a
    two-level bootstrap interval of the same estimate; the cell then shows its hull with the t-interval."""
    if values.size == 0:
        return Cell(math.nan, None, None)
    mean = float(values.mean())
    if values.size >= 2 and np.ptp(values) > 0:
        ci = stats.t_interval(values, LEVEL)
        if boot is not None:
            ci = stats.hull(ci, boot)
        low, high = (ci.low, ci.high) if bounds is None else (max(ci.low, bounds[0]), min(ci.high, bounds[1]))
        return Cell(mean, low, high)
    if _flat(values, bounds):
        return Cell(mean, None, None, ZERO_VARIANCE)
    return Cell(mean, None, None)


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
    """``(mean(a) - mean(b), low, high, two-sided p)`` with Welch's interval; needs >= 2 values each.

    Both sides without spread: NaN interval and p (untestable, never "p = 0").
    """
    ci = stats.welch_interval(a, b, level)
    if math.isnan(ci.low):
        return ci.estimate, math.nan, math.nan, math.nan
    return ci.estimate, ci.low, ci.high, stats.welch_t_test(a, b).p_value


@dataclass
class TaskBoard:
    """One task's leaderboard: rows ranked by the primary metric, with tiers and the pairwise tests."""

    task: str
    primary: str
    metrics: list[str]
    rows: list[dict] = field(default_factory=list)  # group, seeds, tier, rank, per-metric Cell
    comparisons: list[Comparison] = field(default_factory=list)
    families: dict[str, int] = field(default_factory=dict)  # metric -> pairs Holm corrects over


def _values(table: pd.DataFrame, group: str, metric: str) -> np.ndarray:
    """Finite per-seed values of ``group`` (non-finite ones are listed by :func:`warnings_for`)."""
    x = table[table["group"] == group].sort_values("seed")[metric].to_numpy(dtype=float)
    return x[np.isfinite(x)]


def _testable(x: np.ndarray, metric: str) -> bool:
    return x.size >= 2 and not _flat(x, metric_info(metric).bounds)


def _pairwise(table: pd.DataFrame, task: str, metric: str, groups: list[str]) -> list[Comparison]:
    pairs = []
    for a, b in combinations(groups, 2):
        x, y = _values(table, a, metric), _values(table, b, metric)
        if not (_testable(x, metric) and _testable(y, metric)):
            continue
        diff, low, high, p = welch_difference(x, y)
        if math.isnan(p):  # both sides on the same bound of the metric: nothing to test
            continue
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


def _tiers(
    order: list[str], tested: set[str], comparisons: list[Comparison], alpha: float
) -> dict[str, int | str]:
    """Monotone tiers over the ranking ``order`` (module docstring); untested groups get ``"untested"``."""
    separated = {frozenset((c.a, c.b)) for c in comparisons if c.p_holm < alpha}
    tiers: dict[str, int | str] = {}
    tier, top = 0, None
    for g in order:
        if g not in tested:
            tiers[g] = UNTESTED
            continue
        if top is None or frozenset((top, g)) in separated:
            tier, top = tier + 1, g
        tiers[g] = tier
    return tiers


def _rank_key(mean: float) -> tuple[bool, float]:
    return (math.isnan(mean), -mean if not math.isnan(mean) else 0.0)


def _episode_sets(
    episodes: pd.DataFrame | None, task: str, group: str, seeds: pd.Series
) -> np.ndarray | None:
    """``(n_seeds, n_episodes)`` returns of ``group`` on ``task`` for the seeds whose per-seed values are
    finite (``seeds``), or None without episodes or when the seeds' episode counts differ."""
    if episodes is None or episodes.empty:
        return None
    rows = episodes[(episodes["task"] == task) & (episodes["group"] == group) & episodes["seed"].isin(seeds)]
    per_seed = [g.sort_values("episode")["return"].to_numpy(dtype=float) for _, g in rows.groupby("seed")]
    if len(per_seed) < 2 or len({len(x) for x in per_seed}) != 1 or not np.isfinite(per_seed).all():
        return None
    return np.stack(per_seed)


def cvar_bootstrap(sets: np.ndarray | None, alpha: float) -> stats.Interval | None:
    """The two-level bootstrap interval a CVaR cell shows (hulled with the t-interval) for one group's
    ``(n_seeds, n_episodes)`` returns (None: none); the Generator is seeded with :data:`BOOT_SEED`."""
    if sets is None:
        return None
    rng = np.random.default_rng(BOOT_SEED)
    return stats.two_level_bootstrap_ci(
        list(sets), partial(cvar, alpha=alpha), rng=rng, n_boot=N_BOOT, level=LEVEL
    )


def task_board(
    table: pd.DataFrame,
    task: str,
    alphas: list[float],
    *,
    alpha: float = 0.05,
    episodes: pd.DataFrame | None = None,
) -> TaskBoard:
    """The leaderboard of ``task`` from a per-seed table (with a ``group`` column, see :func:`with_groups`).
    ``episodes`` (the run's episodes with a ``group`` column): CVaR cells then show the hull of the t-interval
    and the two-level bootstrap (module docstring); without them, t-intervals only.

    Ranked by the primary metric (the CVaR level closest to 0.1; NaN means rank last), with monotone tiers
    from Holm-corrected Welch tests at ``alpha`` (module docstring). The normalised-score column is shown
    when the task's dataset has reference scores (see :func:`rsbench.results.tables.add_normalised_score`).
    """
    primary_alpha = min(alphas, key=lambda a: abs(a - 0.1))
    primary = cvar_column(primary_alpha)
    sub = table[table["task"] == task]
    has_score = NORMALISED in sub and bool(np.isfinite(sub[NORMALISED].to_numpy(dtype=float)).any())
    metrics = [
        *([NORMALISED] if has_score else []),
        "mean_return",
        *(cvar_column(a) for a in alphas),
        *distortion_columns(sub),
        "violation_rate",
        "episode_violation_rate",
    ]
    groups = sorted(sub["group"].unique())
    means = {g: float(v.mean()) if (v := _values(sub, g, primary)).size else math.nan for g in groups}
    order = sorted(groups, key=lambda g: _rank_key(means[g]))
    compared = (primary, "mean_return", "violation_rate")
    by_metric = {m: _pairwise(sub, task, m, groups) for m in compared}
    tested = {g for g in groups if _testable(_values(sub, g, primary), primary)}
    tiers = _tiers(order, tested, by_metric[primary], alpha)
    board = TaskBoard(
        task,
        primary,
        metrics,
        comparisons=[c for m in compared for c in by_metric[m]],
        families={m: len(v) for m, v in by_metric.items()},
    )
    for rank, g in enumerate(order, 1):
        row = _board_row(sub, episodes, g, primary, metrics, alphas)
        board.rows.append({"rank": rank, "tier": tiers[g], **row})
    return board


def _board_row(
    sub: pd.DataFrame,
    episodes: pd.DataFrame | None,
    group: str,
    primary: str,
    metrics: list[str],
    alphas: list[float],
) -> dict[str, Any]:
    """One group's row of a task's board ``sub`` (without rank and tier): identity, a cell per metric (CVaR
    cells with the bootstrap over the seeds whose primary value is finite), mean costs."""
    rows = sub[sub["group"] == group]
    seeds = rows["seed"][np.isfinite(rows[primary].to_numpy(dtype=float))]
    sets = _episode_sets(episodes, str(rows["task"].iloc[0]), group, seeds)
    boots = {cvar_column(a): cvar_bootstrap(sets, a) for a in alphas}
    return {
        "group": group,
        "method": rows["method"].iloc[0],
        "risk": rows["risk"].iloc[0],
        "train_risk": rows["train_risk"].iloc[0] if "train_risk" in rows else "?",
        "sweep": sweep_suffix(rows["sweep"].iloc[0]) if "sweep" in rows else "",
        "seeds": int(rows["seed"].nunique()),
        "episodes": int(rows["episodes"].min()),
        **{m: cell(_values(sub, group, m), metric_info(m).bounds, boots.get(m)) for m in metrics},
        "cost": {c: _finite_mean(rows[c]) for c in COSTS if c in rows},
    }


def _finite_mean(values: pd.Series) -> float:
    x = values.to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def cost_text(value: float) -> str:
    """A cost cell: 3 significant digits, ``-`` where the records do not have it."""
    return "-" if math.isnan(value) else f"{value:.3g}"


@dataclass(frozen=True)
class Findings:
    """The significant differences of one Holm family: one (task, metric), ``pairs`` comparisons."""

    task: str
    metric: str
    pairs: int
    lines: list[str]

    @property
    def heading(self) -> str:
        return f"{self.task}, {metric_label(self.metric)} (Holm over {self.pairs} pairs)"


def findings(boards: list[TaskBoard], alpha: float = 0.05) -> list[Findings]:
    """Significant differences listed per Holm family (task, metric), primary metric first.

    Holm controls the family-wise error within each (task, metric); listing the families apart keeps
    what is shown together equal to what was corrected together. Families without a finding are omitted.
    """
    out = []
    for board in boards:
        for metric in sorted(board.families, key=lambda m: m != board.primary):
            family = sorted((c for c in board.comparisons if c.metric == metric), key=lambda c: c.p_holm)
            lines = [c.sentence(metric_label(metric)) for c in family if c.p_holm < alpha]
            if lines:
                out.append(Findings(board.task, metric, board.families[metric], lines))
    return out


def aggregate(
    table: pd.DataFrame, metric: str, *, references: dict[str, tuple[float, float]] | None = None,
    seed: int = 0, n_boot: int = 2000,
) -> pd.DataFrame:  # fmt: skip
    """Cross-task IQM of ``metric`` per group with a stratified-bootstrap 95% interval, over every run.

    references: ``task -> (ref_min_score, ref_max_score)`` of the task's dataset. Scores are normalised as
    ``100 (x - min) / (max - min)`` on tasks that have them, so a group's score never depends on which other
    groups are in the run; tasks without references are left out of a multi-task aggregate (raw returns of
    different tasks are not comparable), and a single task without them is aggregated on its raw values.
    Only groups present on every aggregated task are shown; each task contributes all its runs (seed counts
    may differ). Columns: ``group, iqm, low, high, tasks, normalised``; empty when nothing can be aggregated.
    """
    references = references or {}
    all_tasks = sorted(table["task"].unique())
    tasks = [t for t in all_tasks if t in references]
    normalise = bool(tasks)
    if not normalise:
        if len(all_tasks) != 1:
            return pd.DataFrame()
        tasks = all_tasks
    rows = []
    for group in sorted(table["group"].unique()):
        per_task = []
        for task in tasks:
            x = _values(table[table["task"] == task], group, metric)
            if normalise:
                x = np.asarray(normalised_score(x, *references[task]))
            per_task.append(x)
        if any(v.size == 0 for v in per_task):
            continue
        ci = stats.stratified_bootstrap_ci(per_task, rng=np.random.default_rng(seed), n_boot=n_boot)
        rows.append(
            {"group": group, "iqm": ci.estimate, "low": ci.low, "high": ci.high, "tasks": len(tasks),
             "normalised": normalise}
        )  # fmt: skip
    return (
        pd.DataFrame(rows).sort_values("iqm", ascending=False, ignore_index=True) if rows else pd.DataFrame()
    )


def reference_scores(datasets: dict | None) -> dict[str, tuple[float, float]]:
    """``task -> (ref_min_score, ref_max_score)`` from the run manifest's ``datasets`` block, where both exist."""
    out = {}
    for task, info in (datasets or {}).items():
        lo, hi = info.get("ref_min_score"), info.get("ref_max_score")
        if isinstance(lo, int | float) and isinstance(hi, int | float) and hi != lo:
            out[task] = (float(lo), float(hi))
    return out


def _nonfinite(table: pd.DataFrame, metrics: list[str]) -> list[str]:
    out = []
    for metric in metrics:
        if metric not in table:
            continue
        bad = table[~np.isfinite(table[metric].to_numpy(dtype=float))]
        out += [
            f"dropped non-finite {metric_label(metric)} = {r[metric]} of trial {r['trial']} ({r['group']}, "
            f"{r['task']}, seed {r['seed']}) from intervals and tests"
            for r in bad.to_dict("records")
        ]
    return out


def _zero_variance(table: pd.DataFrame, metrics: list[str]) -> list[str]:
    out = []
    for (task, group), sub in table.groupby(["task", "group"], sort=True):
        flat = []
        for metric in (m for m in metrics if m in sub):
            x = sub[metric].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            if _flat(x, metric_info(metric).bounds):
                flat.append(f"{metric_label(metric)} = {x[0]:.6g}")
        if flat:
            out.append(
                f"{group} on {task}: every seed gives the same {', '.join(flat)} ({ZERO_VARIANCE}); "
                "left out of the tests"
            )
    return out


def warnings_for(table: pd.DataFrame, alphas: list[float], datasets: dict | None = None) -> list[str]:
    """Protocol warnings: non-finite and zero-variance seeds, unreliable CVaR tails (n * alpha < 10), few
    seeds, low tail coverage in the data."""
    metrics = ["mean_return", *(cvar_column(a) for a in alphas), "violation_rate", "episode_violation_rate"]
    out = _nonfinite(table, metrics) + _zero_variance(table, metrics) if len(table) else []
    episodes = int(table["episodes"].min()) if len(table) else 0
    for a in alphas:
        if episodes * a < 10:
            out.append(
                f"CVaR_{a:g} rests on n*alpha = {episodes * a:g} < 10 episodes per seed: treat it as unreliable "
                "(biased upwards, and its 95% interval covers less than 95%: measured in docs/statistics.md)"
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
