"""Protocol 2's statistics (docs/design.md §6): the two-level bootstrap over seeds and episodes, the hull the
leaderboard shows for CVaR, and the paired test of groups that share episode sets."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import stats as st

from rsbench.eval import stats as s
from rsbench.eval.metrics import cvar


def _seeds(rng: np.random.Generator, n_seeds: int = 5, n: int = 100) -> list[np.ndarray]:
    return [rng.normal(rng.normal(0, 0.5), 1 + 0.2 * i, n) for i in range(n_seeds)]


def test_two_level_bootstrap_of_a_mean_has_the_closed_form_spread() -> None:
    """For the mean, the resampled statistic's variance is known exactly:
    Var* = [ (1/S) sum_s (m_s - m)^2 + (1/S) sum_s v_s / n ] / S (v_s the ddof-0 variance of seed s)."""
    episodes = _seeds(np.random.default_rng(1))
    S, n = len(episodes), len(episodes[0])
    m_s = np.array([e.mean() for e in episodes])
    v_s = np.array([e.var() for e in episodes])
    var_star = (np.mean((m_s - m_s.mean()) ** 2) + np.mean(v_s) / n) / S
    ci = s.two_level_bootstrap_ci(episodes, np.mean, rng=np.random.default_rng(2), n_boot=40_000)
    half = (ci.high - ci.low) / 2
    assert half == pytest.approx(st.norm.ppf(0.975) * math.sqrt(var_star), rel=0.03)
    assert ci.estimate == pytest.approx(m_s.mean()) and ci.method == "two-level-bootstrap"
    # the mean has no bias: the basic interval is centred on the estimate (up to resampling noise)
    assert (ci.low + ci.high) / 2 == pytest.approx(ci.estimate, abs=0.05 * half)


def test_two_level_bootstrap_reflects_the_plug_in_cvars_bias_and_is_reproducible() -> None:
    """A lower-tail CVaR from few episodes is optimistic (convex in the distribution): resampling repeats
    that bias, so the basic interval sits *below* the percentile one by twice the bootstrap bias."""
    episodes = [np.random.default_rng(i).exponential(1.0, 100) * -1 for i in range(5)]
    stat = functools.partial(cvar, alpha=0.05)
    a = s.two_level_bootstrap_ci(episodes, stat, rng=np.random.default_rng(3), n_boot=3000)
    b = s.two_level_bootstrap_ci(episodes, stat, rng=np.random.default_rng(3), n_boot=3000)
    assert a == b  # same generator seed, same interval bit for bit
    # independent implementation of the resampling, same draws: seeds first, then episodes
    rng = np.random.default_rng(3)
    X = np.stack(episodes)
    which = rng.integers(0, 5, size=(3000, 5))
    rows = rng.integers(0, 100, size=(3000, 5, 100))
    boot = np.array([[stat(X[which[b_, j]][rows[b_, j]]) for j in range(5)] for b_ in range(3000)]).mean(
        axis=1
    )
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert (a.low, a.high) == pytest.approx((2 * a.estimate - hi, 2 * a.estimate - lo))
    assert boot.mean() > a.estimate  # resampled tails are optimistic, like the estimate itself
    with pytest.raises(ValueError, match="level"):
        s.two_level_bootstrap_ci(episodes, stat, rng=np.random.default_rng(0), level=1.0)


def test_hull_holds_both_intervals() -> None:
    t = s.Interval(1.0, 0.0, 2.0, 0.95, "t")
    b = s.Interval(1.0, -0.5, 1.5, 0.95, "two-level-bootstrap")
    assert s.hull(t, b) == s.Interval(1.0, -0.5, 2.0, 0.95, "t+two-level-bootstrap")
    with pytest.raises(ValueError, match="levels differ"):
        s.hull(t, s.Interval(1.0, 0.0, 1.0, 0.9, "t"))


def test_paired_t_is_the_t_test_of_the_differences() -> None:
    a = np.array([-20.1, -18.4, -22.0, -19.5, -21.3])
    b = np.array([-23.0, -19.9, -25.1, -21.0, -22.2])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    r = s.paired_t_test(a, b)
    assert r.statistic == pytest.approx(t) and r.df == 4
    assert r.p_value == pytest.approx(2 * st.t.sf(abs(t), 4))
    ci = s.paired_interval(a, b)
    half = st.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(d.size)
    assert (ci.low, ci.high) == pytest.approx((d.mean() - half, d.mean() + half))
    same = s.paired_t_test(a, a + 1.0)  # a constant difference: untestable, never "p = 0"
    assert math.isnan(same.p_value) and math.isnan(s.paired_interval(a, a + 1.0).low)
    with pytest.raises(ValueError, match="equal sizes"):
        s.paired_t_test(a, b[:4])
