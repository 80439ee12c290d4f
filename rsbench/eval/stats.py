"""Confidence intervals, two-sample tests, effect sizes and multiple-testing corrections.

Array layout: a sample is a 1-D float array whose unit is the *training seed* (one per-seed metric value
per element), or, where stated, 1-D episodes of a single seed. Every random procedure takes an explicit
``numpy.random.Generator``; nothing touches global random state, so the same generator seed reproduces the
same numbers bit for bit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
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
    "mann_whitney_u",
    "newcombe_diff_interval",
    "permutation_test",
    "probability_of_improvement",
    "stratified_bootstrap_ci",
    "t_interval",
    "welch_df",
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


def _jackknife(x: FloatArray, statistic: Statistic, chunk: int = 512) -> FloatArray:
    """Leave-one-out values of ``statistic``; built in row chunks to bound memory at O(chunk * n)."""
    n = x.size
    out = np.empty(n)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        # Row r of `keep` lists every index except rows[r].
        keep = np.arange(n - 1)[None, :] + (np.arange(n - 1)[None, :] >= rows[:, None])
        out[rows] = np.asarray(statistic(x[keep], axis=-1), dtype=np.float64)
    return out


def _bca_levels(theta_hat: float, boot: FloatArray, jack: FloatArray, level: float) -> tuple[float, float]:
    b = boot.size
    # Mid-rank for ties keeps z0 = 0 when a discrete statistic (CVaR of few episodes) often hits theta_hat.
    prop = (np.count_nonzero(boot < theta_hat) + 0.5 * np.count_nonzero(boot == theta_hat)) / b
    prop = min(max(prop, 0.5 / b), 1.0 - 0.5 / b)
    z0 = _st.norm.ppf(prop)
    dev = jack.mean() - jack
    denom = 6.0 * np.sum(dev**2) ** 1.5
    a = float(np.sum(dev**3) / denom) if denom > 0 else 0.0
    z = _st.norm.ppf([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    adj = _st.norm.cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z)))
    return float(adj[0]), float(adj[1])


def bootstrap_ci(
    x: npt.ArrayLike,
    statistic: Statistic,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
    method: Literal["percentile", "bca"] = "percentile",
) -> Interval:
    """Nonparametric bootstrap interval for ``statistic(x)``.

    x: ``(n,)`` -- per-seed values (seed-level bootstrap, the default unit of analysis) or one seed's
    episodes. statistic: called as ``statistic(a, axis=-1)`` on an ``(n_boot, n)`` array of resamples and
    must return ``(n_boot,)`` (``np.mean``, ``functools.partial(metrics.cvar, alpha=0.1)``, ...).
    Resamples are drawn as one ``rng.integers`` index matrix, so results depend only on the generator state.

    method="percentile": quantiles of the bootstrap distribution.
    method="bca": bias-corrected and accelerated (Efron 1987): bias ``z0`` from the share of resamples
    below the estimate (ties counted half), acceleration from the jackknife skewness.
    """
    arr = _sample(x, min_n=2 if method == "bca" else 1)
    _check_level(level)
    if n_boot < 1:
        raise ValueError("n_boot must be positive")
    theta_hat = float(np.asarray(statistic(arr, axis=-1)))
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    boot = np.asarray(statistic(arr[idx], axis=-1), dtype=np.float64)
    if method == "percentile":
        q = ((1.0 - level) / 2.0, (1.0 + level) / 2.0)
    elif method == "bca":
        q = _bca_levels(theta_hat, boot, _jackknife(arr, statistic), level)
    else:
        raise ValueError(f"unknown method {method!r}")
    low, high = np.quantile(boot, q)
    return Interval(theta_hat, float(low), float(high), level, f"bootstrap-{method}")


def stratified_bootstrap_ci(
    scores: npt.ArrayLike,
    statistic: Statistic | None = None,
    *,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> Interval:
    """Percentile interval for a cross-task aggregate, resampling runs independently within each task.

    scores: ``(n_runs, n_tasks)``. statistic: called as ``statistic(s)`` on ``(..., n_runs, n_tasks)`` and
    returns ``(...)``; default IQM over all runs and tasks (the rliable aggregate).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"scores must be a non-empty (n_runs, n_tasks) array, got shape {s.shape}")
    _check_level(level)
    if statistic is None:

        def statistic(a: FloatArray) -> FloatArray:
            return iqm(a.reshape(*a.shape[:-2], -1), axis=-1)

    n_runs, n_tasks = s.shape
    idx = rng.integers(0, n_runs, size=(n_boot, n_runs, n_tasks))
    boot = np.asarray(statistic(np.take_along_axis(s[None], idx, axis=1)), dtype=np.float64)
    low, high = np.quantile(boot, ((1.0 - level) / 2.0, (1.0 + level) / 2.0))
    return Interval(float(np.asarray(statistic(s))), float(low), float(high), level, "stratified-bootstrap")


def t_interval(x: npt.ArrayLike, level: float = 0.95) -> Interval:
    """Student-t interval for the mean of per-seed values ``x: (n_seeds,)``, ``n_seeds >= 2``."""
    arr = _sample(x, min_n=2)
    _check_level(level)
    m = float(arr.mean())
    half = float(_st.t.ppf((1.0 + level) / 2.0, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return Interval(m, m - half, m + half, level, "t")


# ------------------------------------------------------------------------------------------ two-sample tests


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom from sample variances (NaN when both are zero)."""
    va, vb = var_a / n_a, var_b / n_b
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1)))


def welch_t_test(a: npt.ArrayLike, b: npt.ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)``; ``a: (n_a,)``, ``b: (n_b,)``, each >= 2.

    ``alternative="less"`` tests H1: mean(a) < mean(b). ``df`` is the Welch-Satterthwaite value.
    """
    xa, xb = _sample(a, "a", 2), _sample(b, "b", 2)
    res = _st.ttest_ind(xa, xb, equal_var=False, alternative=alternative)
    df = welch_df(xa.var(ddof=1), xa.size, xb.var(ddof=1), xb.size)
    return TestResult(float(res.statistic), float(res.pvalue), df, "welch-t", alternative)


def mann_whitney_u(a: npt.ArrayLike, b: npt.ArrayLike, alternative: Alternative = "two-sided") -> TestResult:
    """Mann-Whitney U test (SciPy, ``method="auto"``: exact for small samples without ties).

    The statistic is ``U_a`` = number of pairs with ``a > b`` plus half the ties.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    res = _st.mannwhitneyu(xa, xb, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue), None, "mann-whitney-u", alternative)


def _mean_diff(pooled: FloatArray, in_a: npt.NDArray[np.bool_], n_a: int, n_b: int) -> FloatArray:
    sum_a = np.where(in_a, pooled, 0.0).sum(axis=-1)
    return sum_a / n_a - (pooled.sum() - sum_a) / n_b


def permutation_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    n_resamples: int = 9999,
    alternative: Alternative = "two-sided",
) -> TestResult:
    """Two-sample permutation test of the difference of means ``mean(a) - mean(b)``.

    If the number of distinct splits ``C(n_a + n_b, n_a)`` is at most ``n_resamples`` all of them are
    enumerated and the p-value is exact (the observed split is one of them). Otherwise ``n_resamples``
    random splits are drawn with ``rng`` and ``p = (b + 1) / (m + 1)`` (Phipson & Smyth 2010), counting the
    observed arrangement, so p is never 0. "As extreme" uses a 1e-12 relative tolerance so that
    float round-off cannot drop the observed split itself.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    n_a, n_b = xa.size, xb.size
    pooled = np.concatenate([xa, xb])
    n = pooled.size
    observed = float(xa.mean() - xb.mean())
    n_splits = math.comb(n, n_a)
    exact = n_splits <= n_resamples
    if exact:
        members = np.array(list(itertools.combinations(range(n), n_a)), dtype=np.intp)
        in_a = np.zeros((n_splits, n), dtype=bool)
        np.put_along_axis(in_a, members, True, axis=1)
        diffs = _mean_diff(pooled, in_a, n_a, n_b)
    else:
        diffs = np.empty(n_resamples)
        base = np.arange(n) < n_a
        for start in range(0, n_resamples, 4096):
            rows = min(4096, n_resamples - start)
            in_a = rng.permuted(np.broadcast_to(base, (rows, n)), axis=1)
            diffs[start : start + rows] = _mean_diff(pooled, in_a, n_a, n_b)
    tol = 1e-12 * max(1.0, abs(observed), float(np.abs(pooled).max()))
    if alternative == "two-sided":
        hits = np.abs(diffs) >= abs(observed) - tol
    elif alternative == "greater":
        hits = diffs >= observed - tol
    elif alternative == "less":
        hits = diffs <= observed + tol
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    count = int(np.count_nonzero(hits))
    p = count / n_splits if exact else (count + 1) / (n_resamples + 1)
    return TestResult(observed, p, None, "permutation-exact" if exact else "permutation-mc", alternative)


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
