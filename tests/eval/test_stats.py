import functools

import numpy as np
import pytest
from scipy import stats as st

from rsbench.eval import stats as s
from rsbench.eval.metrics import cvar

# ------------------------------------------------------------------------------------------ hand numbers


def test_holm_and_bh_reference_values():
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(s.holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(s.benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])


def test_adjustments_match_statsmodels_and_handle_nan():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(0).uniform(0, 0.2, size=25) ** 2
    np.testing.assert_allclose(s.holm(p), multitest.multipletests(p, method="holm")[1])
    np.testing.assert_allclose(s.benjamini_hochberg(p), multitest.multipletests(p, method="fdr_bh")[1])
    with_nan = np.array([0.01, np.nan, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(s.holm(with_nan), [0.03, np.nan, 0.06, 0.06, 0.02])
    assert np.all(s.holm([0.9, 0.8]) <= 1.0)


def test_welch_reference_values():
    r = s.welch_t_test([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert round(r.statistic, 4) == -1.8974
    assert round(r.df, 4) == 5.8824
    assert round(r.p_value, 4) == 0.1075
    assert s.welch_t_test([1, 2, 3, 4, 5], [2, 4, 6, 8, 10], "less").p_value == pytest.approx(
        0.1075 / 2, abs=1e-4
    )


def test_proportion_intervals_reference_values():
    w = s.wilson_interval(7, 50)
    assert (w.low, w.high) == pytest.approx((0.069508, 0.261862), abs=1e-6)
    cp = s.clopper_pearson_interval(7, 50)
    assert (cp.low, cp.high) == pytest.approx((0.058192, 0.267396), abs=1e-6)
    nc = s.newcombe_diff_interval(56, 70, 48, 80)
    assert nc.estimate == pytest.approx(0.2)
    assert (round(nc.low, 4), round(nc.high, 4)) == (0.0524, 0.3339)


def test_proportion_interval_edges():
    assert s.clopper_pearson_interval(0, 20).low == 0.0
    assert s.clopper_pearson_interval(20, 20).high == 1.0
    w0 = s.wilson_interval(0, 20)
    assert w0.low == 0.0 and 0.0 < w0.high < 0.2
    with pytest.raises(ValueError):
        s.wilson_interval(3, 0)
    with pytest.raises(ValueError):
        s.clopper_pearson_interval(5, 4)


def test_t_interval():
    ci = s.t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = st.t.ppf(0.975, 4) * np.sqrt(2.5 / 5)
    assert (ci.estimate, ci.low, ci.high) == pytest.approx((3.0, 3.0 - half, 3.0 + half))
    with pytest.raises(ValueError):
        s.t_interval([1.0])


def test_permutation_exact_hand_example():
    # 20 splits of {1..6} into 3 + 3; only the observed and the mirrored split reach |diff| = 3.
    kw = {"rng": np.random.default_rng(0)}
    r = s.permutation_test([1, 2, 3], [4, 5, 6], **kw)
    assert r.method == "permutation-exact"
    assert r.statistic == -3.0 and r.p_value == pytest.approx(2 / 20)
    assert s.permutation_test([1, 2, 3], [4, 5, 6], alternative="less", **kw).p_value == pytest.approx(1 / 20)
    assert s.permutation_test([1, 2, 3], [4, 5, 6], alternative="greater", **kw).p_value == 1.0


def test_permutation_monte_carlo_close_to_exact_and_reproducible():
    a, b = np.arange(8.0), np.arange(8.0) + 3.0  # C(16, 8) = 12870 splits
    exact = s.permutation_test(a, b, rng=np.random.default_rng(0), n_resamples=20_000)
    mc = s.permutation_test(a, b, rng=np.random.default_rng(1), n_resamples=9_999)
    again = s.permutation_test(a, b, rng=np.random.default_rng(1), n_resamples=9_999)
    assert exact.method == "permutation-exact" and mc.method == "permutation-mc"
    assert mc.p_value == again.p_value
    assert mc.p_value == pytest.approx(exact.p_value, abs=0.01)
    assert s.permutation_test(a, a + 100, rng=np.random.default_rng(2), n_resamples=99).p_value == 1 / 100


def test_probability_of_improvement_and_mann_whitney():
    assert s.probability_of_improvement([1, 2, 3], [2, 2, 2]) == 0.5  # (0 + 0.5 * 3 + 3) / 9
    assert s.probability_of_improvement([5, 6], [1, 2, 3]) == 1.0
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=7), rng.normal(size=9)
    u = s.mann_whitney_u(a, b)
    assert u.statistic / (7 * 9) == pytest.approx(s.probability_of_improvement(a, b))
    assert s.mann_whitney_u([1, 2, 3], [4, 5, 6]).p_value == pytest.approx(0.1)  # exact: 2 / 20


def test_effect_size_hand_example():
    a, b = [1, 2, 3, 4, 5], [2, 4, 6, 8, 10]
    # s_pooled^2 = (4 * 2.5 + 4 * 10) / 8 = 6.25 -> d = (3 - 6) / 2.5.
    assert s.effect_size(a, b, hedges=False) == pytest.approx(-1.2)
    # J(8) = Gamma(4) / (2 Gamma(3.5)); close to the usual 1 - 3 / (4 df - 1).
    assert s.effect_size(a, b) == pytest.approx(-1.2 * 0.902703, abs=1e-6)
    assert s.effect_size(a, b) == pytest.approx(-1.2 * (1 - 3 / 31), abs=1e-3)


# --------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_reproducible_bit_for_bit():
    x = np.random.default_rng(0).normal(size=30)
    stat = functools.partial(cvar, alpha=0.25)
    for method in ("percentile", "bca"):
        first = s.bootstrap_ci(x, stat, rng=np.random.default_rng(7), n_boot=500, method=method)
        second = s.bootstrap_ci(x, stat, rng=np.random.default_rng(7), n_boot=500, method=method)
        other = s.bootstrap_ci(x, stat, rng=np.random.default_rng(8), n_boot=500, method=method)
        assert first == second
        assert (first.low, first.high) != (other.low, other.high)
    r1 = s.stratified_bootstrap_ci(x.reshape(5, 6), rng=np.random.default_rng(7), n_boot=300)
    r2 = s.stratified_bootstrap_ci(x.reshape(5, 6), rng=np.random.default_rng(7), n_boot=300)
    assert r1 == r2 and r1.low <= r1.estimate <= r1.high


def test_bootstrap_percentile_mean_matches_normal_theory():
    x = np.random.default_rng(1).normal(size=200)
    ci = s.bootstrap_ci(x, np.mean, rng=np.random.default_rng(2), n_boot=4000)
    half = 1.96 * x.std(ddof=0) / np.sqrt(x.size)
    assert ci.estimate == x.mean()
    assert ci.low == pytest.approx(x.mean() - half, abs=0.02)
    assert ci.high == pytest.approx(x.mean() + half, abs=0.02)


@pytest.mark.parametrize("statistic", [np.mean, np.std])
def test_bca_matches_scipy(statistic):
    x = np.random.default_rng(3).exponential(size=25)
    ours = s.bootstrap_ci(x, statistic, rng=np.random.default_rng(4), n_boot=40_000, method="bca")
    ref = st.bootstrap(
        (x,), statistic, n_resamples=40_000, method="BCa", rng=np.random.default_rng(5)
    ).confidence_interval
    # Different generators, so agreement is up to Monte Carlo error (~1% of the interval width).
    width = ref.high - ref.low
    assert ours.low == pytest.approx(ref.low, abs=0.03 * width)
    assert ours.high == pytest.approx(ref.high, abs=0.03 * width)
    # Skewed data: BCa shifts the interval away from the percentile one, so the comparison has teeth.
    pct = s.bootstrap_ci(x, statistic, rng=np.random.default_rng(4), n_boot=40_000)
    assert abs(pct.high - ours.high) > 0.06 * width


@pytest.mark.parametrize("reps", [400, pytest.param(2000, marks=pytest.mark.slow)])
def test_bootstrap_cvar_percentile_coverage(reps):
    # True CVaR_0.1 of N(0, 1) is -phi(z_0.1) / 0.1. The percentile interval's actual coverage here is about
    # 0.940 (5000 off-line repetitions; misses are lopsided, 4% low / 2% high, from the tail's skew), so at
    # 400 repetitions (binomial SE 0.012) the window is a smoke test; the slow 2000-repetition run has teeth.
    truth = -st.norm.pdf(st.norm.ppf(0.1)) / 0.1
    stat = functools.partial(cvar, alpha=0.1)
    rng = np.random.default_rng(2024)
    hits = 0
    for _ in range(reps):
        ci = s.bootstrap_ci(rng.standard_normal(1000), stat, rng=rng, n_boot=1000)
        hits += ci.low <= truth <= ci.high
    assert 0.93 <= hits / reps <= 0.97


def test_bootstrap_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        s.bootstrap_ci(np.ones((2, 3)), np.mean, rng=rng)
    with pytest.raises(ValueError):
        s.bootstrap_ci([1.0, 2.0], np.mean, rng=rng, level=1.0)
    with pytest.raises(ValueError):
        s.bootstrap_ci([1.0, 2.0], np.mean, rng=rng, method="basic")


# ------------------------------------------------------------------------------------------------ issue 15


def test_welch_interval_closed_form_and_zero_variance():
    a, b = np.array([3.0, 4.0, 5.0, 6.0]), np.array([1.0, 1.5, 2.5])
    va, vb = a.var(ddof=1) / 4, b.var(ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    half = st.t.ppf(0.95, df) * np.sqrt(va + vb)
    ci = s.welch_interval(a, b, level=0.9)
    assert (ci.estimate, ci.low, ci.high) == pytest.approx(
        (a.mean() - b.mean(), a.mean() - b.mean() - half, a.mean() - b.mean() + half)
    )
    assert s.welch_t_test(a, b).df == pytest.approx(df)
    flat = s.welch_interval([5.0, 5.0, 5.0], [4.99, 4.99, 4.99])
    assert np.isnan(flat.low) and np.isnan(flat.high)  # undefined, never a zero-width interval


def test_permutation_two_sided_is_absolute_difference_with_unequal_sizes():
    # Brute force over all C(7, 2) = 21 splits: the null distribution of a mean difference is asymmetric here.
    import itertools

    a, b = np.array([0.0, 9.0]), np.array([1.0, 2.0, 3.0, 4.0, 20.0])
    pooled, observed = np.concatenate([a, b]), a.mean() - b.mean()
    diffs = []
    for idx in itertools.combinations(range(7), 2):
        mask = np.zeros(7, bool)
        mask[list(idx)] = True
        diffs.append(pooled[mask].mean() - pooled[~mask].mean())
    expected = np.mean(np.abs(diffs) >= abs(observed) - 1e-12)
    r = s.permutation_test(a, b, rng=np.random.default_rng(0))
    assert r.method == "permutation-exact" and r.p_value == pytest.approx(expected)


def test_stratified_bootstrap_keeps_every_run_of_ragged_tasks():
    five, three = np.array([0.0, 0.25, 0.5, 0.75, 1.0]), np.array([0.25, 0.5, 0.75])
    ci = s.stratified_bootstrap_ci([five, three], rng=np.random.default_rng(0), n_boot=500)
    assert ci.estimate == pytest.approx(st.trim_mean(np.concatenate([five, three]), 0.25))
    assert ci.low <= ci.estimate <= ci.high
    # Each task is resampled within itself: a task of identical runs contributes no spread.
    constant = s.stratified_bootstrap_ci([np.ones(4), np.ones(2)], rng=np.random.default_rng(0), n_boot=100)
    assert constant.low == constant.high == 1.0


def test_bootstrap_of_a_sample_without_spread_is_the_point():
    for method in ("percentile", "bca"):
        ci = s.bootstrap_ci([2.0, 2.0, 2.0], np.mean, rng=np.random.default_rng(0), method=method)
        assert (ci.low, ci.estimate, ci.high) == (2.0, 2.0, 2.0)
    assert s.bootstrap_ci([3.0], np.mean, rng=np.random.default_rng(0)).high == 3.0


def test_rsbench_never_imports_statsmodels():
    # statsmodels is a test-only reference implementation, not a runtime dependency.
    import ast
    from pathlib import Path

    import rsbench

    for path in Path(rsbench.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            assert not any(n.split(".")[0] == "statsmodels" for n in names), path
