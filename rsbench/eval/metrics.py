"""Per-seed evaluation metrics.

Array layout: per-episode quantities are ``(n_seeds, n_episodes)`` float arrays; a 1-D array is one seed.
Reductions act on the last axis (episodes) unless ``axis`` says otherwise, so a ``(n_seeds, n_episodes)``
input gives a ``(n_seeds,)`` result and a 1-D input gives a scalar.

Risk measures are *lower-tail* (returns are rewards: the bad outcomes are the small ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as _st

from rsbench.risk import DISTORTIONS, RiskSetting

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "MetricInfo",
    "cvar",
    "cvar_across_seeds",
    "cvar_mean_of_seeds",
    "cvar_pooled",
    "distortion_column",
    "distortion_risk",
    "episode_violation_rate",
    "higher_is_better",
    "iqm",
    "mean_return",
    "metric_info",
    "metric_label",
    "normalised_score",
    "tail_size",
    "unreliable_tail",
    "upper_cvar",
    "var",
    "violation_rate",
]


def _check_alpha(alpha: float) -> None:
    if not (0.0 < alpha <= 1.0):
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")


def tail_size(n: int, alpha: float) -> float:
    """Tail size ``k = n * alpha`` used by :func:`cvar` and :func:`var`.

    Values within 1e-9 (relative) of an integer are snapped to it, so that e.g. ``10 * 0.3`` counts as a
    tail of exactly 3 episodes rather than ``3.0000000000000004`` (which would make :func:`var` pick the
    4th order statistic).
    """
    k = n * alpha
    kr = round(k)
    if abs(k - kr) <= 1e-9 * max(1.0, k):
        return float(kr)
    return k


def _episodes_last(x: npt.ArrayLike, axis: int) -> FloatArray:
    arr = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError("empty input: need at least one value along the reduced axis")
    return arr


def cvar(x: npt.ArrayLike, alpha: float, axis: int = -1) -> FloatArray | float:
    """Lower-tail conditional value-at-risk (expected shortfall) at level ``alpha``.

    Interpolated Rockafellar-Uryasev estimator: with ``x_(1) <= ... <= x_(n)`` and ``k = n * alpha``,
    ``CVaR = (1/k) [sum_{i <= floor(k)} x_(i) + (k - floor(k)) x_(floor(k)+1)]``.
    This is exactly the mean of the worst ``alpha`` fraction of the empirical distribution (each sample
    carrying mass ``1/n``), so it is continuous and non-decreasing in ``alpha`` and ``alpha = 1`` gives the
    mean.

    x: ``(..., n_episodes)`` (or any layout with ``axis`` selecting the samples).
    Returns: ``x.shape`` without ``axis``; a scalar for 1-D input. NaNs are not removed (NumPy sorts them
    last, so they only matter when they land in the tail or ``alpha = 1``).
    """
    _check_alpha(alpha)
    arr = _episodes_last(x, axis)
    n = arr.shape[-1]
    k = tail_size(n, alpha)
    f = math.floor(k)
    if f >= n:
        return arr.mean(axis=-1)
    # A partial sort suffices: positions < f hold the f smallest values and position f holds x_(f+1).
    part = np.partition(arr, f, axis=-1)
    # Their order after partition depends on the input order; sorting them makes the sum (and its last
    # bit) a function of the sample alone.
    total = np.sort(part[..., :f], axis=-1).sum(axis=-1)
    frac = k - f
    if frac > 0.0:
        total = total + frac * part[..., f]
    return total / k


def var(x: npt.ArrayLike, alpha: float, axis: int = -1) -> FloatArray | float:
    """Lower-tail value-at-risk: the empirical ``alpha``-quantile ``x_(ceil(n * alpha))`` (1-indexed).

    This is the left-continuous inverse of the empirical CDF (``numpy.quantile(..., method="inverted_cdf")``),
    i.e. the largest value that enters the :func:`cvar` tail, hence ``cvar(x, a) <= var(x, a)`` always.
    Shapes as in :func:`cvar`.
    """
    _check_alpha(alpha)
    arr = _episodes_last(x, axis)
    n = arr.shape[-1]
    j = min(max(math.ceil(tail_size(n, alpha)), 1), n) - 1
    return np.partition(arr, j, axis=-1)[..., j]


def upper_cvar(x: npt.ArrayLike, alpha: float, axis: int = -1) -> FloatArray | float:
    """Mean of the upper ``alpha`` tail ("risk-seeking" CVaR) ``-cvar(-x, alpha)``; shapes as :func:`cvar`."""
    return -cvar(-np.asarray(x, dtype=np.float64), alpha, axis=axis)


def distortion_risk(x: npt.ArrayLike, risk: RiskSetting, axis: int = -1) -> FloatArray | float:
    """The distortion risk measure ``risk`` of the empirical distribution of ``x``: ``sum_i w_i x_(i)`` over
    the sorted samples with ``w = risk.level_weights(n)`` (:class:`~rsbench.risk.RiskSetting`), each sample
    carrying mass ``1/n``. ``cvar:alpha`` gives :func:`cvar` and ``neutral`` the mean; ``wang:-0.7`` of a
    large normal sample tends to ``mu - 0.7 sigma``. Shapes as in :func:`cvar`.
    """
    arr = _episodes_last(x, axis)
    return np.sort(arr, axis=-1) @ risk.level_weights(arr.shape[-1])


def distortion_column(risk: RiskSetting | str) -> str:
    """Per-seed column of a distortion risk of the returns: the setting itself, ``wang:-0.7``."""
    return str(risk)


def mean_return(returns: npt.ArrayLike, axis: int = -1) -> FloatArray | float:
    """Mean episode return. returns: ``(n_seeds, n_episodes)`` -> ``(n_seeds,)``."""
    return _episodes_last(returns, axis).mean(axis=-1)


def violation_rate(violation_steps: npt.ArrayLike, lengths: npt.ArrayLike) -> FloatArray | float:
    """Fraction of environment steps spent in violation, per seed.

    violation_steps, lengths: ``(n_seeds, n_episodes)`` counts -> ``(n_seeds,)``.
    Steps are pooled over episodes (total violating steps / total steps), so long episodes weigh more;
    a seed with zero total steps gives NaN.
    """
    v = _episodes_last(violation_steps, -1)
    n = _episodes_last(lengths, -1)
    if v.shape != n.shape:
        raise ValueError(f"shape mismatch: violation_steps {v.shape} vs lengths {n.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return v.sum(axis=-1) / n.sum(axis=-1)


def episode_violation_rate(violation_steps: npt.ArrayLike) -> FloatArray | float:
    """Fraction of episodes with at least one violating step. ``(n_seeds, n_episodes)`` -> ``(n_seeds,)``."""
    return (_episodes_last(violation_steps, -1) > 0).mean(axis=-1)


# What rsbench's reference scores are: every normalised score it shows is relative to these.
NORMALISED_SCORE_REFERENCES = (
    "normalised score = 100 (R - random) / (expert - random) with rsbench's references: the mean returns of a "
    "uniform-random policy and of rsbench's PPO expert on the risky task at its evaluation horizon (not "
    "D4RL's random and SAC expert on the 1000-step risk-free task)"
)


def normalised_score(x: npt.ArrayLike, ref_min: float, ref_max: float) -> FloatArray | float:
    """D4RL's formula ``100 (x - ref_min) / (ref_max - ref_min)``, elementwise, any shape: the one function
    every normalised score in rsbench goes through. rsbench's ``ref_min`` / ``ref_max`` are its random and
    PPO-expert returns on the risky task (:data:`NORMALISED_SCORE_REFERENCES`)."""
    if ref_max == ref_min:
        raise ValueError("ref_max must differ from ref_min")
    return 100.0 * (np.asarray(x, dtype=np.float64) - ref_min) / (ref_max - ref_min)


def iqm(x: npt.ArrayLike, axis: int | None = None) -> FloatArray | float:
    """Interquartile mean: ``scipy.stats.trim_mean(x, 0.25, axis)``.

    SciPy trims ``int(0.25 * n)`` values from each end (rounding the cut down), as rliable does. The
    default ``axis=None`` flattens, which is the cross-task aggregate over a ``(n_runs, n_tasks)`` score
    matrix; pass ``axis=-1`` for use as a bootstrap statistic.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("empty input")
    return _st.trim_mean(arr, 0.25, axis=axis)


def unreliable_tail(n: int, alpha: float, min_tail: float = 10) -> bool:
    """True when the CVaR tail holds fewer than ``min_tail`` samples (``n * alpha < min_tail``).

    Shown as a flag next to CVaR values: below ~10 tail samples the estimate is dominated by a handful of
    episodes and its bootstrap interval is unreliable.
    """
    _check_alpha(alpha)
    return tail_size(n, alpha) < min_tail


def _as_seeds(returns: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"expected a non-empty (n_seeds, n_episodes) array, got shape {arr.shape}")
    return arr


def cvar_mean_of_seeds(returns: npt.ArrayLike, alpha: float) -> float:
    """Mean over seeds of the per-seed CVaR: "how bad is a typical trained policy's tail".

    returns: ``(n_seeds, n_episodes)``. This is the headline CVaR and the one whose seed-level spread feeds
    the confidence intervals (each seed contributes one value).
    """
    return float(np.mean(cvar(_as_seeds(returns), alpha, axis=-1)))


def cvar_pooled(returns: npt.ArrayLike, alpha: float) -> float:
    """CVaR of all ``n_seeds * n_episodes`` episodes pooled into one sample.

    Mixes episode noise and seed-to-seed variation: a single bad seed can fill the whole tail, so it is
    always <= :func:`cvar_mean_of_seeds` (CVaR is concave in the distribution).
    """
    return float(cvar(_as_seeds(returns).ravel(), alpha))


def cvar_across_seeds(returns: npt.ArrayLike, alpha: float) -> float:
    """CVaR over the per-seed *mean* returns: "how bad are the worst training runs on average".

    Measures training (seed) risk rather than episode risk; with few seeds ``n_seeds * alpha`` is tiny, so
    check :func:`unreliable_tail` with ``n = n_seeds``.
    """
    return float(cvar(_as_seeds(returns).mean(axis=-1), alpha))


# ------------------------------------------------------------------------------------------ metric metadata


@dataclass(frozen=True)
class MetricInfo:
    """What a per-seed metric column means: its label, direction and range.

    bounds: the metric's natural range (rates live in ``[0, 1]``), or None. All seeds sitting exactly on a
    bound (no violations on any seed) is a real outcome; identical seeds anywhere else are flagged as a
    seed that was probably not applied.
    """

    name: str
    label: str
    higher_is_better: bool
    bounds: tuple[float, float] | None = None


_METRICS = {
    "mean_return": MetricInfo("mean_return", "mean return", True),
    "normalised_score": MetricInfo(
        "normalised_score", "normalised score (rsbench random = 0, PPO expert = 100, risky task)", True
    ),
    "violation_rate": MetricInfo("violation_rate", "violation rate", False, (0.0, 1.0)),
    "episode_violation_rate": MetricInfo(
        "episode_violation_rate", "episode violation rate", False, (0.0, 1.0)
    ),
}


def metric_info(metric: str) -> MetricInfo:
    """Metadata of a per-seed column: the fixed ones above and ``cvar_<alpha>`` (higher is better)."""
    if metric in _METRICS:
        return _METRICS[metric]
    if metric.startswith("cvar_"):
        return MetricInfo(metric, f"CVaR_{metric[5:]}", True)
    if metric.partition(":")[0] in DISTORTIONS:
        return MetricInfo(metric, f"{metric} risk", True)
    return MetricInfo(metric, metric.replace("_", " "), True)


def metric_label(metric: str) -> str:
    """Human label: ``cvar_0.1`` -> ``CVaR_0.1``, ``mean_return`` -> ``mean return``."""
    return metric_info(metric).label


def higher_is_better(metric: str) -> bool:
    return metric_info(metric).higher_is_better
