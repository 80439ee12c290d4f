"""Nightly regression verdicts per (method, task, metric) (docs/design.md §6).

Design. Let ``d = mean(candidate) - mean(baseline)`` over training seeds, sign-flipped when lower is better,
so ``d < 0`` always means "candidate is worse". ``margin > 0`` is the largest drop still acceptable, which
puts the boundary between acceptable and unacceptable at ``d = -margin``. One Welch statistic
``T = (d_hat + margin) / se`` with Welch-Satterthwaite df is tested against that boundary in both directions:

- REGRESSION: the one-sided test of H0 ``d >= -margin`` ("no worse than margin") rejects at ``alpha``, i.e.
  the upper one-sided ``1 - alpha`` confidence bound of ``d`` lies below ``-margin``.
- OK: the non-inferiority test of H0 ``d <= -margin`` rejects at ``alpha``, i.e. the lower bound lies above
  ``-margin``.
- INCONCLUSIVE: neither; the result reports the minimum detectable effect for the seed counts at hand.

The two p-values sum to one, so for ``alpha < 0.5`` the outcomes are mutually exclusive and no tie-break is
needed. Error rates: a true drop of at most ``margin`` (in particular no change) is flagged REGRESSION with
probability ``<= alpha``; a true drop of at least ``margin`` is declared OK with probability ``<= alpha``.
A drop exactly at the margin is, correctly, INCONCLUSIVE in all but ``alpha`` of nights -- no finite number
of seeds can certify either side of the boundary. A statistically significant drop that is smaller than the
margin is not a regression: the margin is the user's statement of what matters.
Across a nightly family, :func:`adjust_family` applies Benjamini-Hochberg (or Holm) to the REGRESSION
p-values, the decision that sets the exit code; OK decisions are left per-comparison.

Minimum detectable effect of a family. BH (and Holm) always reject a comparison whose p is at most
``alpha / m`` (``m`` testable comparisons), whatever the other comparisons do, and reject nothing else when
only one drop is real and the rest are null -- except for chance rejections of the nulls, which only help.
So the MDE a family reports is computed at ``alpha / m``: a single true drop of that size is flagged with at
least the stated power by the family's own verdict (the unadjusted MDE overstated power 2-3x: 0.30 instead
of 0.80 at 8 vs 8 seeds in a family of 18). With several real drops BH is more lenient and power is higher.

Degenerate samples. Seeds that all give the same value are not certainty: the seed was most likely not
applied. Such a side makes the comparison untestable (INCONCLUSIVE, NaN p, "zero variance" in the reason)
unless the value sits on a bound of the metric's range (``bounds``: no violations on any seed), which is a
real outcome; then the other side's spread carries the test, or, with no spread anywhere, the point
estimates decide. A margin of 0 asks "significantly worse at all?" (a one-sided superiority test).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special
from scipy import stats as _st

from rsbench.eval.stats import Interval, benjamini_hochberg, holm

__all__ = [
    "RegressionResult",
    "Verdict",
    "adjust_family",
    "family_verdicts",
    "minimum_detectable_effect",
    "regression_verdict",
    "regression_verdicts",
]


class Verdict(str, Enum):
    REGRESSION = "REGRESSION"
    OK = "OK"
    INCONCLUSIVE = "INCONCLUSIVE"

    def __str__(self) -> str:
        # As StrEnum (3.11+): printing and numpy string comparisons see "OK", not "Verdict.OK".
        return self.value


@dataclass(frozen=True)
class RegressionResult:
    """Verdict for one (method, task, metric).

    effect: ``d``, candidate minus baseline in metric units, positive = better (sign-flipped when lower is
    better). ci: two-sided ``1 - 2 alpha`` Welch interval for ``d``, whose ends are the one-sided bounds the
    two tests use. p_value: one-sided p of the REGRESSION test (H0 ``d >= -margin``); p_noninferiority: of the
    OK test (H0 ``d <= -margin``); p_adjusted: family-adjusted p_value set by :func:`adjust_family`.
    mde: smallest true drop (positive, metric units, >= margin) flagged REGRESSION with probability
    ``power`` at level ``mde_alpha`` (``alpha`` alone, ``alpha / m`` once :func:`adjust_family` has run).
    sd_baseline, sd_candidate: per-seed sample SDs the MDE is computed from.
    """

    verdict: Verdict
    effect: float
    ci: Interval
    p_value: float
    p_noninferiority: float
    mde: float
    n_baseline: int
    n_candidate: int
    margin: float
    alpha: float
    higher_is_better: bool
    df: float
    power: float = 0.8
    p_adjusted: float | None = None
    reason: str = ""
    sd_baseline: float = math.nan
    sd_candidate: float = math.nan
    mde_alpha: float = math.nan


def _check(margin: float, alpha: float) -> None:
    if not (margin >= 0 and math.isfinite(margin)):
        raise ValueError(f"margin must be >= 0 and finite, got {margin!r}")
    # The two one-sided tests are only mutually exclusive for alpha < 0.5.
    if not (0.0 < alpha < 0.5):
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")


def _flat_off_bounds(x: npt.NDArray[np.float64], bounds: tuple[float, float] | None) -> np.ndarray:
    """``(..., n)`` -> ``(...)``: all seeds identical, at a value that is not a bound of the metric."""
    flat = np.ptp(x, axis=-1) == 0
    if bounds is None:
        return flat
    first = x[..., 0]
    return flat & (first != bounds[0]) & (first != bounds[1])


def _welch_core(
    baseline: npt.NDArray[np.float64],
    candidate: npt.NDArray[np.float64],
    margin: float,
    higher_is_better: bool,
    bounds: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised: ``(..., n_b)``, ``(..., n_c)`` -> effect, se, df, p_reg, p_ok, each ``(...)``.

    Untestable comparisons (a side with zero variance off the metric's bounds) get NaN p-values.
    """
    n_b, n_c = baseline.shape[-1], candidate.shape[-1]
    sign = 1.0 if higher_is_better else -1.0
    effect = sign * (candidate.mean(axis=-1) - baseline.mean(axis=-1))
    vb = baseline.var(axis=-1, ddof=1) / n_b
    vc = candidate.var(axis=-1, ddof=1) / n_c
    se = np.sqrt(vb + vc)
    zero = se == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(zero, np.inf, (vb + vc) ** 2 / (vb**2 / (n_b - 1) + vc**2 / (n_c - 1)))
        t = (effect + margin) / se
    p_reg = _st.t.cdf(t, df)
    p_ok = _st.t.sf(t, df)
    # Zero spread on both sides: the means are exact, so the verdict is decided by the point estimate.
    p_reg = np.where(zero, np.where(effect < -margin, 0.0, 1.0), p_reg)
    p_ok = np.where(zero, np.where(effect > -margin, 0.0, 1.0), p_ok)
    untestable = _flat_off_bounds(baseline, bounds) | _flat_off_bounds(candidate, bounds)
    p_reg = np.where(untestable, np.nan, p_reg)
    p_ok = np.where(untestable, np.nan, p_ok)
    return effect, se, df, p_reg, p_ok


def _decide(p_reg: npt.ArrayLike, p_ok: npt.ArrayLike, alpha: float) -> np.ndarray:
    return np.where(
        np.asarray(p_reg) <= alpha,
        Verdict.REGRESSION.value,
        np.where(np.asarray(p_ok) <= alpha, Verdict.OK.value, Verdict.INCONCLUSIVE.value),
    )


def regression_verdicts(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    *,
    margin: float,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    """Verdicts for many comparisons at once (same seed counts), e.g. simulated nights.

    baseline: ``(..., n_baseline)``, candidate: ``(..., n_candidate)`` per-seed values, both sides >= 2 seeds;
    returns a string array ``(...)`` of :class:`Verdict` values. Same decision rule as
    :func:`regression_verdict`, which calls the same code on a single night.
    """
    *_, p_reg, p_ok = _batch_pvalues(baseline, candidate, margin, higher_is_better, alpha, bounds)
    return _decide(p_reg, p_ok, alpha)


def _batch_pvalues(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    margin: float,
    higher_is_better: bool,
    alpha: float,
    bounds: tuple[float, float] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    _check(margin, alpha)
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    if b.shape[-1] < 2 or c.shape[-1] < 2:
        raise ValueError("need at least 2 seeds on each side")
    return _welch_core(b, c, margin, higher_is_better, bounds)


def family_verdicts(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    *,
    margin: float,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    method: Literal["bh", "holm"] = "bh",
) -> np.ndarray:
    """The family's own verdicts for many simulated nights at once: :func:`adjust_family` in batch form.

    baseline: ``(..., m, n_baseline)``, candidate: ``(..., m, n_candidate)``: ``m`` comparisons per family;
    returns ``(..., m)`` :class:`Verdict` values, the REGRESSION p-values adjusted over the last axis.
    """
    *_, p_reg, p_ok = _batch_pvalues(baseline, candidate, margin, higher_is_better, alpha, None)
    adjust = benjamini_hochberg if method == "bh" else holm
    return _decide(np.apply_along_axis(adjust, -1, p_reg), p_ok, alpha)


@functools.cache
def _chi2_nodes(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes of ``chi2(n-1) / (n-1)`` in probability space, and weights (cached: an
    eigenvalue problem and k chi-square quantiles per call would dominate a regress run)."""
    x, w = np.polynomial.legendre.leggauss(k)
    # Integrating in probability space keeps the nodes well placed for every df, including df = 1.
    return _st.chi2.ppf((x + 1.0) / 2.0, n - 1) / (n - 1), w / 2.0


def _variance_nodes(sd: float, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes/weights for ``s^2 / n`` where ``s^2 ~ sd^2 chi2(n-1) / (n-1)``."""
    chi, w = _chi2_nodes(n, k)
    return sd**2 * chi / n, w


def minimum_detectable_effect(
    sd_baseline: float,
    sd_candidate: float,
    n_baseline: int,
    n_candidate: int,
    *,
    margin: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Smallest true drop (positive, metric units) that the REGRESSION test flags with probability ``power``.

    Treats the SDs as the true per-seed SDs. The power of the Welch test is computed without the usual
    noncentral-t shortcut, which assumes the df is known and overstates power by several points at a
    handful of seeds: conditional on both sample variances the statistic is a shifted normal, so the power
    is a 2-D integral over the two scaled chi-square distributions of the variances (64 x 64 Gauss-Legendre
    nodes in probability space, accurate to ~1e-4 in power), solved for the drop with Brent's method.
    Returns ``margin`` when both SDs are zero (any larger drop is then detected with certainty).
    ``alpha`` is the level the verdict is decided at: pass ``alpha / m`` for a family of ``m`` (see the module
    docstring); :func:`adjust_family` does.
    """
    _check(margin, alpha)
    if not (0.0 < power < 1.0):
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    if n_baseline < 2 or n_candidate < 2:
        raise ValueError("need at least 2 seeds on each side")
    se = math.sqrt(sd_baseline**2 / n_baseline + sd_candidate**2 / n_candidate)
    if se == 0.0:
        return margin
    vb, wb = _variance_nodes(sd_baseline, n_baseline, 64)
    vc, wc = _variance_nodes(sd_candidate, n_candidate, 64)
    vb, vc = vb[:, None], vc[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vb + vc) ** 2 / (vb**2 / (n_baseline - 1) + vc**2 / (n_candidate - 1))
    # Rejection happens when d_hat < -margin - t_crit(df_hat) * se_hat, with d_hat ~ N(-drop, se^2).
    threshold = _st.t.ppf(1.0 - alpha, df) * np.sqrt(vb + vc)
    weights = wb[:, None] * wc[None, :]

    def gap(excess: float) -> float:
        return float(np.sum(weights * special.ndtr((excess - threshold) / se))) - power

    hi = se
    while gap(hi) < 0:
        hi *= 2.0
    return margin + optimize.brentq(gap, 0.0, hi, xtol=1e-12 * se, rtol=1e-12)


def regression_verdict(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    *,
    margin: float,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    bounds: tuple[float, float] | None = None,
) -> RegressionResult:
    """Verdict for one (method, task, metric) from per-seed values ``(n_baseline,)``, ``(n_candidate,)``.

    See the module docstring for the decision rule. With fewer than 2 seeds on either side, or a side whose
    seeds are all identical away from the metric's ``bounds``, no test is possible: the verdict is
    INCONCLUSIVE with NaN p-values and a reason. Non-finite values raise (drop failed seeds before calling,
    and say so in the report).
    """
    _check(margin, alpha)
    b = np.asarray(baseline, dtype=np.float64).ravel()
    c = np.asarray(candidate, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(c))):
        raise ValueError("baseline and candidate must be finite")
    sign = 1.0 if higher_is_better else -1.0
    level = 1.0 - 2.0 * alpha
    common: dict[str, Any] = dict(
        n_baseline=b.size, n_candidate=c.size, margin=margin, alpha=alpha,
        higher_is_better=higher_is_better, power=power,
    )  # fmt: skip
    if b.size < 2 or c.size < 2:
        effect = float(sign * (c.mean() - b.mean())) if b.size and c.size else math.nan
        reason = f"too few seeds for a test (baseline {b.size}, candidate {c.size}; need >= 2 each)"
        return _inconclusive(effect, level, reason, common)
    effect, se, df, p_reg, p_ok = (float(v) for v in _welch_core(b, c, margin, higher_is_better, bounds))
    verdict = Verdict(str(_decide(p_reg, p_ok, alpha)))
    sd_b, sd_c = float(b.std(ddof=1)), float(c.std(ddof=1))
    untestable = math.isnan(p_reg)
    half = math.nan if untestable else float(_st.t.ppf(1.0 - alpha, df)) * se
    mde = math.nan if untestable else _mde(sd_b, sd_c, b.size, c.size, margin, alpha, power)
    result = RegressionResult(
        verdict=verdict,
        effect=effect,
        ci=Interval(effect, effect - half, effect + half, level, "welch-t"),
        p_value=p_reg,
        p_noninferiority=p_ok,
        mde=mde,
        df=df,
        sd_baseline=sd_b,
        sd_candidate=sd_c,
        mde_alpha=alpha,
        **common,
    )
    if untestable:
        flat = [
            f"{side}: all {x.size} seeds give {x[0]:.6g}"
            for side, x in (("baseline", b), ("candidate", c))
            if _flat_off_bounds(x, bounds)
        ]
        return replace(
            result, reason=f"zero variance across seeds ({'; '.join(flat)}): was the seed applied?"
        )
    return replace(result, reason=_reason(result))


def _inconclusive(effect: float, level: float, reason: str, common: dict[str, Any]) -> RegressionResult:
    """The untested verdict: INCONCLUSIVE with NaN interval bounds, p-values and MDE."""
    return RegressionResult(
        verdict=Verdict.INCONCLUSIVE,
        effect=effect,
        ci=Interval(effect, math.nan, math.nan, level, "welch-t"),
        p_value=math.nan,
        p_noninferiority=math.nan,
        mde=math.nan,
        df=math.nan,
        reason=reason,
        **common,
    )


def _mde(sd_b: float, sd_c: float, n_b: int, n_c: int, margin: float, alpha: float, power: float) -> float:
    return minimum_detectable_effect(sd_b, sd_c, n_b, n_c, margin=margin, alpha=alpha, power=power)


def _reason(r: RegressionResult) -> str:
    p = r.p_value if r.p_adjusted is None else r.p_adjusted
    if r.verdict is Verdict.REGRESSION:
        return f"drop exceeds margin {r.margin:g}: effect {r.effect:.4g}, p={p:.3g}"
    if r.verdict is Verdict.OK:
        return f"non-inferior: lower bound {r.ci.low:.4g} > -margin {-r.margin:g}"
    return (
        f"neither shown at n={r.n_baseline}/{r.n_candidate}: effect {r.effect:.4g}, "
        f"interval [{r.ci.low:.4g}, {r.ci.high:.4g}]; "
        f"a drop of {r.mde:.4g} would be detected with power {r.power:g} (at level {r.mde_alpha:.3g})"
    )


def adjust_family(
    results: Sequence[RegressionResult], method: Literal["bh", "holm"] = "bh"
) -> list[RegressionResult]:
    """Adjust the REGRESSION p-values of a nightly family and re-derive the verdicts.

    Returns new results (input order) with ``p_adjusted`` set. A result whose adjusted p no longer clears its
    ``alpha`` drops from REGRESSION to INCONCLUSIVE (it cannot become OK: the two tests exclude each other).
    Untestable results (NaN p) stay INCONCLUSIVE and do not count towards the family size. The MDE is
    restated at ``alpha / m`` for the ``m`` testable results, the level at which the family's verdict is
    guaranteed to flag a single drop (module docstring).
    """
    if method == "bh":
        adjusted = benjamini_hochberg([r.p_value for r in results])
    elif method == "holm":
        adjusted = holm([r.p_value for r in results])
    else:
        raise ValueError(f"unknown method {method!r}")
    m = int(np.count_nonzero(~np.isnan(adjusted)))
    out = []
    for r, p_adj in zip(results, adjusted, strict=True):
        if math.isnan(p_adj):
            out.append(replace(r, p_adjusted=math.nan))
            continue
        verdict = Verdict(str(_decide(p_adj, r.p_noninferiority, r.alpha)))
        level = r.alpha / m
        mde = _mde(r.sd_baseline, r.sd_candidate, r.n_baseline, r.n_candidate, r.margin, level, r.power)
        new = replace(r, p_adjusted=float(p_adj), verdict=verdict, mde=mde, mde_alpha=level)
        out.append(replace(new, reason=_reason(new)))
    return out
