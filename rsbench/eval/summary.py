"""One evaluation's metrics, each with its interval and flags: what ``rsbench eval`` prints.

The unit here is the episode of a single policy (one training seed or a scripted policy); aggregates over
training seeds, where the seed is the unit, come with the results store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np

from rsbench.eval import metrics, stats
from rsbench.eval.rollout import Episodes, Policy, evaluate
from rsbench.risk import RiskSetting


@dataclass(frozen=True)
class MetricRow:
    """A metric's point estimate with a ``level`` interval ``[low, high]`` and warnings."""

    metric: str
    estimate: float
    low: float
    high: float
    level: float
    method: str
    flags: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flags": list(self.flags)}


def _row(metric: str, interval: stats.Interval, flags: tuple[str, ...] = ()) -> MetricRow:
    return MetricRow(
        metric, interval.estimate, interval.low, interval.high, interval.level, interval.method, flags
    )


def summarize(
    episodes: Episodes,
    alphas: tuple[float, ...] = (0.05, 0.1, 0.25),
    *,
    rng: np.random.Generator,
    level: float = 0.95,
    n_boot: int = 2000,
) -> list[MetricRow]:
    """Mean return (t-interval), CVaR_alpha per alpha (percentile bootstrap over episodes, flagged when
    n*alpha < 10), violation rate over steps and episode violation rate (Wilson), penalty events per episode.

    The step violation rate's Wilson interval treats steps as independent, which they are not within an
    episode; it is flagged so.
    """
    n = len(episodes.returns)
    rows = [_row("mean_return", _mean_interval(episodes.returns, level))]
    for alpha in alphas:
        flags = (
            (f"unreliable: n*alpha = {metrics.tail_size(n, alpha):g} < 10",)
            if metrics.unreliable_tail(n, alpha)
            else ()
        )
        ci = stats.bootstrap_ci(
            episodes.returns, partial(metrics.cvar, alpha=alpha), rng=rng, n_boot=n_boot, level=level
        )
        rows.append(_row(f"cvar_{alpha:g}", ci, flags))
    steps = int(episodes.lengths.sum())
    rows.append(
        _row(
            "violation_rate",
            stats.wilson_interval(int(episodes.violation_steps.sum()), steps, level),
            ("steps within an episode are correlated: interval too narrow",),
        )
    )
    rows.append(
        _row(
            "episode_violation_rate",
            stats.wilson_interval(int((episodes.violation_steps > 0).sum()), n, level),
        )
    )
    rows.append(
        _row(
            "penalty_events_per_episode",
            _mean_interval(episodes.penalty_events, level),
        )
    )
    rows.append(_row("mean_length", _mean_interval(episodes.lengths, level)))
    return rows


def _mean_interval(x: np.ndarray, level: float) -> stats.Interval:
    """t-interval of the mean; one episode has no interval (NaN bounds)."""
    if len(x) > 1:
        return stats.t_interval(x, level)
    return stats.Interval(float(np.mean(x)), float("nan"), float("nan"), 0.0, "single episode")


def normalised_row(rows: list[MetricRow], references: tuple[float, float]) -> MetricRow:
    """The ``mean_return`` row of ``rows`` (estimate and interval) as a normalised score against
    ``references`` = (random score, expert score) (:func:`rsbench.eval.metrics.normalised_score`)."""
    mean = next(r for r in rows if r.metric == "mean_return")
    scores = np.asarray(metrics.normalised_score([mean.estimate, mean.low, mean.high], *references))
    estimate, low, high = (float(x) for x in scores)
    flags = (metrics.NORMALISED_SCORE_REFERENCES,)
    return MetricRow("normalised_score", estimate, low, high, mean.level, mean.method, flags)


def evaluate_policy(
    policy: Policy,
    task_id: str,
    episodes: int,
    *,
    seed: int = 0,
    settings: list[RiskSetting | None] | None = None,
    alphas: tuple[float, ...] = (0.05, 0.1, 0.25),
    references: tuple[float, float] | None = None,
) -> list[tuple[RiskSetting | None, list[MetricRow]]]:
    """Evaluate one policy at each risk setting (``None``: no ``risk=`` passed) on ``episodes`` seeded episodes
    and summarise each: ``[(setting, rows)]`` in ``settings`` order, with a normalised score row last when the
    task's ``references`` are given. The bootstrap RNG is seeded by ``seed``, so a call is reproducible."""
    out: list[tuple[RiskSetting | None, list[MetricRow]]] = []
    for setting in settings or [None]:
        eps = evaluate(policy, task_id, episodes, seed=seed, risk=setting)
        rows = summarize(eps, alphas, rng=np.random.default_rng(seed))
        out.append((setting, rows + ([normalised_row(rows, references)] if references else [])))
    return out
