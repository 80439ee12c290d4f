"""Confidence intervals, two-sample tests, effect sizes and multiple-testing corrections.

Array layout: a sample is a 1-D float array whose unit is the *training seed* (one per-seed metric value
per element), or, where stated, 1-D episodes of a single seed. Every random procedure takes an explicit
``numpy.random.Generator``; nothing touches global random state, so the same generator seed reproduces the
same numbers bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special
from scipy import stats as _st

from rsbench.eval.metrics import iqm

FloatArray = npt.NDArray[np.float64]
Alternative = Literal["two-sided", "less", "greater"]
# statistic(x, axis=-1): reduces the last axis of a (..., n) array to (...).
Statistic = Callable[..., npt.ArrayLike]

__all__ = [
    "Interval",
    "TestResult",
    "benjamini_hochberg",
    "bootstrap_ci",
    "clopper_pearson_interval",
    "effect_size",
    "holm",
    "hull",
    "mann_whitney_u",
    "newcombe_diff_interval",
    "paired_interval",
    "paired_t_test",
    "permutation_test",
    "probability_of_improvement",
    "stratified_bootstrap_ci",
    "t_interval",
    "two_level_bootstrap_ci",
    "welch_df",
    "welch_interval",
    "welch_t_test",
    "wilson_interval",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval ``[low, high]`` at confidence ``level``."""

    estimate: float
    low: float
    high: float
    level: float
    method: str


@dataclass(frozen=True)
class TestResult:
    """Outcome of a two-sample test. ``df`` is None for tests without degrees of freedom."""

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    df: float | None
    method: str
    alternative: str


def _sample(x: npt.ArrayLike, name: str = "x", min_n: int = 1) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < min_n:
        raise ValueError(f"{name} needs at least {min_n} values, got {arr.size}")
    return arr


def _check_level(level: float) -> None:
    if not (0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")


# ---------------------------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    x: npt.ArrayLike,
    statistic: Statistic,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    method: Literal["percentile", "bca"] = "percentile",
) -> Interval:
    """Nonparametric bootstrap interval for ``statistic(x)``: :func:`scipy.stats.bootstrap` with ``rng``.

    x: ``(n,)`` -- per-seed values (seed-level bootstrap, the default unit of analysis) or one seed's
    episodes. statistic: called as ``statistic(a, axis=-1)`` on an ``(n_boot, n)`` array of resamples and
    must return ``(n_boot,)`` (``np.mean``, ``functools.partial(metrics.cvar, alpha=0.1)``, ...).
    The resamples depend only on the generator state, so the same seed gives the same interval bit for bit.

    method="percentile": quantiles of the bootstrap distribution.
    method="bca": bias-corrected and accelerated (Efron 1987): bias ``z0`` from the share of resamples
    below the estimate (ties counted half), acceleration from the jackknife skewness.
    A sample without spread (or a single value) has nothing to resample: the interval is the point.
    """
    arr = _sample(x, min_n=2 if method == "bca" else 1)
    _check_level(level)
    if n_boot < 1:
        raise ValueError("n_boot must be positive")
    if method not in ("percentile", "bca"):
        raise ValueError(f"unknown method {method!r}")
    theta_hat = float(np.asarray(statistic(arr, axis=-1)))
    if arr.size < 2 or np.ptp(arr) == 0:
        return Interval(theta_hat, theta_hat, theta_hat, level, f"bootstrap-{method}")
    res = _st.bootstrap(
        (arr,),
        statistic,
        n_resamples=n_boot,
        vectorized=True,
        confidence_level=level,
        method="BCa" if method == "bca" else "percentile",
        rng=rng,
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        # BCa is undefined when every resample equals the estimate (a discrete statistic at few episodes).
        low, high = (
            float(q) for q in np.quantile(res.bootstrap_distribution, ((1 - level) / 2, (1 + level) / 2))
        )
    return Interval(theta_hat, low, high, level, f"bootstrap-{method}")


def _strata(scores: npt.ArrayLike | Sequence[npt.ArrayLike]) -> list[FloatArray]:
    if isinstance(scores, np.ndarray) or not isinstance(scores, Sequence):
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 2 or s.size == 0:
            raise ValueError(f"scores must be a non-empty (n_runs, n_tasks) array, got shape {s.shape}")
        return [s[:, j] for j in range(s.shape[1])]
    strata = [np.asarray(v, dtype=np.float64).ravel() for v in scores]
    if not strata or any(v.size == 0 for v in strata):
        raise ValueError("every task needs at least one run")
    return strata


def stratified_bootstrap_ci(
    scores: npt.ArrayLike | Sequence[npt.ArrayLike],
    statistic: Statistic | None = None,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> Interval:
    """Percentile interval for a cross-task aggregate, resampling runs independently within each task.

    scores: a ``(n_runs, n_tasks)`` array, or one 1-D array of runs per task when the tasks have different
    run (seed) counts -- every run counts, none is dropped to square the matrix. statistic: called as
    ``statistic(a, axis=-1)`` on ``(..., n_all_runs)`` (the tasks' runs concatenated) and returns ``(...)``;
    default the IQM over all runs of all tasks (the rliable aggregate).
    """
    strata = _strata(scores)
    _check_level(level)
    stat = statistic if statistic is not None else iqm
    boot = np.concatenate([v[rng.integers(0, v.size, size=(n_boot, v.size))] for v in strata], axis=-1)
    values = np.asarray(stat(boot, axis=-1), dtype=np.float64)
    low, high = np.quantile(values, ((1.0 - level) / 2.0, (1.0 + level) / 2.0))
    estimate = float(np.asarray(stat(np.concatenate(strata), axis=-1)))
    return Interval(estimate, float(low), float(high), level, "stratified-bootstrap")


def t_interval(x: npt.ArrayLike, level: float = 0.95) -> Interval:
    """Student-t interval for the mean of per-seed values ``x: (n_seeds,)``, ``n_seeds >= 2``."""
    arr = _sample(x, min_n=2)
    _check_level(level)
    m = float(arr.mean())
    half = float(_st.t.ppf((1.0 + level) / 2.0, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return Interval(m, m - half, m + half, level, "t")


def two_level_bootstrap_ci(
    episodes: Sequence[npt.ArrayLike],
    statistic: Statistic,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> Interval:
    """Interval for the mean over seeds of a per-seed statistic of episodes, resampling at both levels.

    episodes: one ``(n_episodes,)`` array per seed, all of one length ``n`` (a seed's own episode set,
    protocol 2). statistic: ``statistic(a, axis=-1)`` reduces ``(..., n)`` to ``(...)``, e.g.
    ``functools.partial(metrics.cvar, alpha=0.1)``. The estimate is ``mean_s statistic(episodes[s])``.

    Each of ``n_boot`` resamples draws ``S`` seeds with replacement and, within each drawn seed, its ``n``
    episodes with replacement (seeds, then episodes, from ``rng``). The interval is the *basic* (reverse
    percentile) one, ``[2 theta - q_hi, 2 theta - q_lo]``: the resampled statistic repeats the plug-in
    estimator's bias at ``n`` episodes (a tail CVaR from 100 episodes is optimistic: CVaR is convex in the
    distribution), and reflecting the quantiles about the estimate removes it to first order
    (Davison & Hinkley 1997, §5.2). With few seeds the seed level is under-dispersed (a factor (S-1)/S), so
    the leaderboard shows this interval's :func:`hull` with the seed-level t-interval.
    """
    _check_level(level)
    if n_boot < 1:
        raise ValueError("n_boot must be positive")
    seeds = np.stack([_sample(e, "episodes of a seed") for e in episodes]) if len(episodes) else None
    if seeds is None or seeds.shape[0] < 1:
        raise ValueError("need at least one seed's episodes")
    n_seeds, n = seeds.shape
    theta = float(np.mean(np.asarray(statistic(seeds, axis=-1), dtype=np.float64)))
    which = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    rows = rng.integers(0, n, size=(n_boot, n_seeds, n))
    resampled = seeds[which[..., None], rows]  # (n_boot, S, n)
    boot = np.asarray(statistic(resampled, axis=-1), dtype=np.float64).mean(axis=-1)
    q_lo, q_hi = np.quantile(boot, ((1.0 - level) / 2.0, (1.0 + level) / 2.0))
    return Interval(theta, float(2 * theta - q_hi), float(2 * theta - q_lo), level, "two-level-bootstrap")


def hull(a: Interval, b: Interval) -> Interval:
    """The smallest interval holding both (same estimate and level): it covers whenever either does."""
    if a.level != b.level:
        raise ValueError(f"levels differ: {a.level} vs {b.level}")
    return Interval(a.estimate, min(a.low, b.low), max(a.high, b.high), a.level, f"{a.method}+{b.method}")


# ------------------------------------------------------------------------------------------ two-sample tests


def paired_t_test(a: npt.ArrayLike, b: npt.ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Paired t-test of ``mean(a - b)``; ``a``, ``b``: ``(n,)`` values of the same units (training seeds
    evaluated on the same episodes), ``n >= 2``. Differences without spread give NaN (untestable)."""
    xa, xb = _sample(a, "a", 2), _sample(b, "b", 2)
    if xa.size != xb.size:
        raise ValueError(f"paired samples need equal sizes, got {xa.size} and {xb.size}")
    if np.ptp(xa - xb) == 0:
        return TestResult(math.nan, math.nan, float(xa.size - 1), "paired-t", alternative)
    res = _st.ttest_rel(xa, xb, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue), float(res.df), "paired-t", alternative)


def paired_interval(a: npt.ArrayLike, b: npt.ArrayLike, level: float = 0.95) -> Interval:
    """Two-sided t-interval for ``mean(a - b)`` of paired values (see :func:`paired_t_test`)."""
    xa, xb = _sample(a, "a", 2), _sample(b, "b", 2)
    if xa.size != xb.size:
        raise ValueError(f"paired samples need equal sizes, got {xa.size} and {xb.size}")
    d = t_interval(xa - xb, level) if np.ptp(xa - xb) > 0 else None
    diff = float((xa - xb).mean())
    if d is None:
        return Interval(diff, math.nan, math.nan, level, "paired-t")
    return Interval(diff, d.low, d.high, level, "paired-t")


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom from sample variances (NaN when both are zero)."""
    va, vb = var_a / n_a, var_b / n_b
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1)))


def welch_t_test(a: npt.ArrayLike, b: npt.ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)``; ``a: (n_a,)``, ``b: (n_b,)``, each >= 2.

    ``alternative="less"`` tests H1: mean(a) < mean(b). ``df`` is the Welch-Satterthwaite value (SciPy's).
    """
    xa, xb = _sample(a, "a", 2), _sample(b, "b", 2)
    res = _st.ttest_ind(xa, xb, equal_var=False, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue), float(res.df), "welch-t", alternative)


def welch_interval(a: npt.ArrayLike, b: npt.ArrayLike, level: float = 0.95) -> Interval:
    """Two-sided Welch interval for ``mean(a) - mean(b)`` (SciPy's ``ttest_ind(...).confidence_interval``).

    Both samples without spread give NaN bounds: the interval is undefined, not zero-width.
    """
    xa, xb = _sample(a, "a", 2), _sample(b, "b", 2)
    _check_level(level)
    diff = float(xa.mean() - xb.mean())
    if np.ptp(xa) == 0 and np.ptp(xb) == 0:
        return Interval(diff, math.nan, math.nan, level, "welch-t")
    ci = _st.ttest_ind(xa, xb, equal_var=False).confidence_interval(level)
    return Interval(diff, float(ci.low), float(ci.high), level, "welch-t")


def mann_whitney_u(a: npt.ArrayLike, b: npt.ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Mann-Whitney U test (SciPy, ``method="auto"``: exact for small samples without ties).

    The statistic is ``U_a`` = number of pairs with ``a > b`` plus half the ties.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    res = _st.mannwhitneyu(xa, xb, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue), None, "mann-whitney-u", alternative)


def permutation_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    n_resamples: int = 9999,
    alternative: Alternative = "two-sided",
) -> TestResult:
    """Two-sample permutation test of the difference of means ``mean(a) - mean(b)`` (SciPy's, with ``rng``).

    If the number of distinct splits ``C(n_a + n_b, n_a)`` is at most ``n_resamples`` all of them are
    enumerated and the p-value is exact (the observed split is one of them). Otherwise ``n_resamples``
    random splits are drawn with ``rng`` and ``p = (b + 1) / (m + 1)`` (Phipson & Smyth 2010), counting the
    observed arrangement, so p is never 0. Two-sided means ``|diff| >= |observed|`` (the permutation
    distribution of a mean difference is not symmetric when ``n_a != n_b``, so this is not twice the
    smaller one-sided p). SciPy compares with a relative tolerance, so round-off cannot drop the observed
    split itself.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"unknown alternative {alternative!r}")
    observed = float(xa.mean() - xb.mean())

    def diff(x: FloatArray, y: FloatArray, axis: int = -1) -> FloatArray:
        d = np.mean(x, axis=axis) - np.mean(y, axis=axis)
        return np.abs(d) if alternative == "two-sided" else d

    res = _st.permutation_test(
        (xa, xb),
        diff,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="greater" if alternative == "two-sided" else alternative,
        rng=rng,
    )
    exact = math.comb(xa.size + xb.size, xa.size) <= n_resamples
    method = "permutation-exact" if exact else "permutation-mc"
    return TestResult(observed, float(res.pvalue), None, method, alternative)


# --------------------------------------------------------------------------------------------- effect sizes


def probability_of_improvement(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """``P(X_a > X_b) + 0.5 P(X_a = X_b)`` over all ``n_a * n_b`` pairs, i.e. ``U_a / (n_a n_b)``.

    0.5 means no stochastic ordering; this is the rliable "probability of improvement" for one task.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    diff = xa[:, None] - xb[None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def effect_size(a: npt.ArrayLike, b: npt.ArrayLike, *, hedges: bool = True) -> float:
    """Standardised mean difference ``(mean(a) - mean(b)) / s_pooled``.

    ``s_pooled^2 = ((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)``. ``hedges=False`` returns
    Cohen's d; ``hedges=True`` (default) multiplies it by the exact small-sample bias correction
    ``J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))``, ``df = n_a + n_b - 2`` (Hedges' g), which
    matters at the handful of seeds typical here (J = 0.90 at 5 vs 5). Zero pooled SD gives +-inf or NaN.
    """
    xa, xb = _sample(a, "a", 2), _sample(b, "b", 2)
    df = xa.size + xb.size - 2
    sp = math.sqrt(((xa.size - 1) * xa.var(ddof=1) + (xb.size - 1) * xb.var(ddof=1)) / df)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = float(np.float64(xa.mean() - xb.mean()) / sp)
    if not hedges:
        return d
    j = math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return d * j


# ------------------------------------------------------------------------------------------- proportions


def _check_counts(k: int, n: int) -> None:
    if n <= 0 or not (0 <= k <= n):
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")


def wilson_interval(k: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion ``k / n`` (e.g. episode violation rate)."""
    _check_counts(k, n)
    _check_level(level)
    z = _st.norm.ppf((1.0 + level) / 2.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, float(max(0.0, centre - half)), float(min(1.0, centre + half)), level, "wilson")


def clopper_pearson_interval(k: int, n: int, level: float = 0.95) -> Interval:
    """Exact (Clopper-Pearson) binomial interval from beta quantiles; conservative coverage >= level."""
    _check_counts(k, n)
    _check_level(level)
    tail = (1.0 - level) / 2.0
    low = 0.0 if k == 0 else float(_st.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(_st.beta.ppf(1.0 - tail, k + 1, n - k))
    return Interval(k / n, low, high, level, "clopper-pearson")


def newcombe_diff_interval(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> Interval:
    """Interval for ``p1 - p2``: Newcombe's hybrid score method (1998, no. 10) from two Wilson intervals."""
    w1, w2 = wilson_interval(k1, n1, level), wilson_interval(k2, n2, level)
    d = w1.estimate - w2.estimate
    low = d - math.hypot(w1.estimate - w1.low, w2.high - w2.estimate)
    high = d + math.hypot(w1.high - w1.estimate, w2.estimate - w2.low)
    return Interval(d, low, high, level, "newcombe")


# -------------------------------------------------------------------------------------- multiple testing


def _adjust(pvals: npt.ArrayLike, step_down: bool) -> FloatArray:
    p = np.asarray(pvals, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pvals must be 1-D, got shape {p.shape}")
    out = np.full(p.shape, np.nan)
    # NaN p-values (untestable comparisons) stay NaN and do not count towards the family size.
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranks = np.arange(1, m + 1)
    if step_down:  # Holm: max over j <= i of (m - j + 1) p_(j)
        adj = np.maximum.accumulate((m - ranks + 1) * p[order])
    else:  # BH: min over j >= i of m p_(j) / j
        adj = np.minimum.accumulate((m * p[order] / ranks)[::-1])[::-1]
    out[order] = np.minimum(adj, 1.0)
    return out


def holm(pvals: npt.ArrayLike) -> FloatArray:
    """Holm step-down adjusted p-values (family-wise error control), ``(m,)`` -> ``(m,)`` in input order."""
    return _adjust(pvals, step_down=True)


def benjamini_hochberg(pvals: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate control), ``(m,)`` -> ``(m,)``."""
    return _adjust(pvals, step_down=False)
