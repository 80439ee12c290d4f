import math

import numpy as np
import pytest
from scipy import stats as st

from rsbench.eval import metrics as m


@pytest.fixture(scope="module")
def normal_1e6() -> np.ndarray:
    return np.random.default_rng(20240601).standard_normal(1_000_000)


@pytest.mark.parametrize(("alpha", "expected"), [(0.1, -1.754983), (0.05, -2.062713)])
def test_cvar_standard_normal(normal_1e6, alpha, expected):
    # Closed form: -phi(z_alpha) / alpha.
    assert expected == pytest.approx(-st.norm.pdf(st.norm.ppf(alpha)) / alpha, abs=1e-6)
    assert m.cvar(normal_1e6, alpha) == pytest.approx(expected, abs=0.01)


def test_cvar_uniform_and_exponential():
    rng = np.random.default_rng(11)
    assert m.cvar(rng.uniform(size=1_000_000), 0.1) == pytest.approx(0.05, abs=0.005)
    # Lower tail of -Exp(1) = upper tail of Exp(1): -(1 + ln(1/alpha)).
    assert m.cvar(-rng.exponential(size=1_000_000), 0.1) == pytest.approx(-3.302585, abs=0.02)


def test_cvar_hand_example_interpolates():
    x = np.arange(1.0, 11.0)
    assert m.cvar(x, 0.25) == 1.8  # k = 2.5: (1 + 2 + 0.5 * 3) / 2.5
    assert m.cvar(x, 0.2) == 1.5  # integer k: no interpolation term
    assert m.cvar(x, 0.3) == pytest.approx(2.0)  # 10 * 0.3 is 3.0000000000000004, snapped to 3
    assert m.cvar(x, 0.05) == 1.0  # k < 1: the minimum
    assert m.upper_cvar(x, 0.25) == pytest.approx(9.2)  # (10 + 9 + 0.5 * 8) / 2.5


def test_cvar_invariances():
    rng = np.random.default_rng(3)
    x = rng.normal(size=137)
    for alpha in (0.01, 0.1, 0.25, 0.5, 0.93):
        base = m.cvar(x, alpha)
        assert m.cvar(x + 4.2, alpha) == pytest.approx(base + 4.2)
        assert m.cvar(3.5 * x, alpha) == pytest.approx(3.5 * base)
        assert m.cvar(rng.permutation(x), alpha) == base
    assert m.cvar(x, 1.0) == pytest.approx(x.mean(), rel=1e-14)


def test_cvar_monotone_in_alpha():
    x = np.random.default_rng(4).standard_t(3, size=53)
    values = [m.cvar(x, a) for a in np.linspace(0.001, 1.0, 400)]
    assert np.all(np.diff(values) >= -1e-12)


def test_cvar_vectorised_and_axis():
    x = np.random.default_rng(5).normal(size=(4, 3, 31))
    out = m.cvar(x, 0.2)
    assert out.shape == (4, 3)
    assert out[2, 1] == m.cvar(x[2, 1], 0.2)
    np.testing.assert_array_equal(m.cvar(np.moveaxis(x, -1, 0), 0.2, axis=0), out)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.01, math.nan])
def test_cvar_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError):
        m.cvar([1.0, 2.0], alpha)


def test_cvar_rejects_empty():
    with pytest.raises(ValueError):
        m.cvar([], 0.1)
    with pytest.raises(ValueError):
        m.var(np.empty((3, 0)), 0.1)


def test_var_is_inverted_cdf_quantile_and_bounds_cvar():
    x = np.arange(1.0, 11.0)
    assert m.var(x, 0.25) == 3.0  # x_(ceil(2.5))
    assert m.var(x, 0.3) == 3.0
    assert m.var(x, 1.0) == 10.0
    y = np.random.default_rng(6).normal(size=(5, 77))
    for alpha in (0.03, 0.1, 0.5):
        np.testing.assert_array_equal(m.var(y, alpha), np.quantile(y, alpha, axis=-1, method="inverted_cdf"))
        assert np.all(m.cvar(y, alpha) <= m.var(y, alpha))


def test_cvar_aggregates_hand_example():
    returns = np.array([[0.0, 4.0, 8.0, 12.0], [6.0, -4.0, 2.0, 0.0]])
    # Per seed (k = 2): (0 + 4) / 2 = 2 and (-4 + 0) / 2 = -2 -> mean 0.
    assert m.cvar_mean_of_seeds(returns, 0.5) == 0.0
    # Pooled sorted: -4 0 0 2 | 4 6 8 12 (k = 4) -> (-4 + 0 + 0 + 2) / 4.
    assert m.cvar_pooled(returns, 0.5) == -0.5
    # Seed means 6 and 1 (k = 1) -> 1.
    assert m.cvar_across_seeds(returns, 0.5) == 1.0


def test_pooled_cvar_never_exceeds_mean_of_seeds():
    rng = np.random.default_rng(8)
    for _ in range(20):
        r = rng.normal(rng.normal(size=(6, 1)), 1.0, size=(6, 40))
        assert m.cvar_pooled(r, 0.1) <= m.cvar_mean_of_seeds(r, 0.1) + 1e-12


def test_rates_and_scores():
    steps = np.array([[1, 0], [3, 3]])
    lengths = np.array([[10, 10], [20, 10]])
    np.testing.assert_allclose(m.violation_rate(steps, lengths), [0.05, 0.2])
    np.testing.assert_allclose(m.episode_violation_rate(steps), [0.5, 1.0])
    np.testing.assert_allclose(m.mean_return([[1.0, 3.0], [2.0, 2.0]]), [2.0, 2.0])
    assert m.normalised_score(50.0, ref_min=0.0, ref_max=200.0) == 25.0
    assert m.normalised_score(-10.0, ref_min=-10.0, ref_max=30.0) == 0.0
    with pytest.raises(ValueError):
        m.normalised_score(1.0, 2.0, 2.0)
    with pytest.raises(ValueError):
        m.violation_rate(steps, lengths[:, :1])


def test_iqm():
    assert m.iqm(np.arange(1.0, 9.0)) == 4.5  # keeps 3, 4, 5, 6
    x = np.random.default_rng(9).normal(size=(3, 20))
    np.testing.assert_allclose(m.iqm(x, axis=-1), st.trim_mean(x, 0.25, axis=-1))


def test_unreliable_tail():
    assert not m.unreliable_tail(100, 0.1)
    assert m.unreliable_tail(99, 0.1)
    assert m.unreliable_tail(30, 0.3)  # 9 tail samples despite float noise
    assert not m.unreliable_tail(20, 0.5)
    assert m.unreliable_tail(100, 0.05, min_tail=6)
