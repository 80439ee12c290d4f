"""Distortion risk measures (rsbench/risk.py) against closed forms and an independent numerical integration.

Closed forms used (each derived in docs/ramac.md):
- Wang (2000), J. Risk and Insurance 67(1): for ``Z ~ N(mu, sigma^2)``, ``E[F^-1(Phi(Phi^-1(U) + eta))] =
  mu + sigma * E[Phi^-1(U) + eta] = mu + sigma * eta``.
- Power on ``Z ~ U(0, 1)`` (``F^-1(t) = t``), ``p = 1 / (1 + |eta|)``: averse ``E[1 - (1 - U)^p] = p / (1 + p)``
  (``power:-2``: 1/4), seeking ``E[U^p] = 1 / (1 + p)`` (``power:2``: 3/4).
- CPW on ``Z ~ U(0, 1)`` at ``eta = 1/2``: ``int_0^1 sqrt(u) / (sqrt(u) + sqrt(1 - u))^2 du = 1 - ln(1 + sqrt 2) / sqrt 2``
  (substitute ``u = sin^2 t`` and add the integral to its mirror ``t -> pi/2 - t``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from rsbench.eval.metrics import cvar, distortion_risk
from rsbench.methods.iqn import risk_taus
from rsbench.methods.quantile import midpoint_taus, risk_value, tail_weights
from rsbench.results.store import risk_slug
from rsbench.risk import RiskSetting

MU, SIGMA = 3.0, 2.0
CPW_HALF = 1.0 - math.log(1.0 + math.sqrt(2.0)) / math.sqrt(2.0)


def _by_quad(setting: RiskSetting, quantile_fn) -> float:
    """Independent: ``int_0^1 F^-1(h(u)) du`` by adaptive quadrature."""
    value, _ = integrate.quad(
        lambda u: quantile_fn(float(setting.distort(np.float64(u)))), 0.0, 1.0, limit=200
    )
    return value


@pytest.mark.parametrize("eta", [-0.7, -1.5, 0.0, 0.4])
def test_wang_distorted_mean_of_a_normal(eta: float) -> None:
    setting = RiskSetting.parse(f"wang:{eta}")
    closed = MU + SIGMA * eta
    normal = stats.norm(MU, SIGMA)
    assert _by_quad(setting, normal.ppf) == pytest.approx(closed, abs=1e-6)
    # the quantile critic's weights on many midpoint quantiles of the same normal
    taus = midpoint_taus(4000).double()
    quantiles = torch.as_tensor(normal.ppf(taus.numpy()))[None]
    # midpoints miss the tail beyond the outer bins: the error is O(weight of the first bin * its spread)
    assert float(risk_value(quantiles.float(), setting)) == pytest.approx(closed, abs=2e-2)


@pytest.mark.parametrize(
    ("text", "closed"), [("power:-2", 0.25), ("power:2", 0.75), ("power:-0.5", (2 / 3) / (5 / 3))]
)
def test_power_on_a_uniform(text: str, closed: float) -> None:
    setting = RiskSetting.parse(text)
    assert _by_quad(setting, lambda t: t) == pytest.approx(closed, abs=1e-9)
    w = setting.level_weights(10_000)
    assert float(w @ midpoint_taus(10_000).double().numpy()) == pytest.approx(closed, abs=1e-6)


@pytest.mark.parametrize(("eta", "closed"), [(0.5, CPW_HALF), (1.0, 0.5)])
def test_cpw_on_a_uniform(eta: float, closed: float) -> None:
    setting = RiskSetting("cpw", eta=eta)
    assert _by_quad(setting, lambda t: t) == pytest.approx(closed, abs=1e-7)
    w = setting.level_weights(10_000)
    assert float(w @ midpoint_taus(10_000).double().numpy()) == pytest.approx(closed, abs=1e-5)


@pytest.mark.parametrize(
    "text", ["wang:-0.7", "cpw:0.71", "cpw:0.28", "power:-2", "power:3", "cvar:0.3", "seeking:0.2"]
)
def test_level_cdf_inverts_the_distortion(text: str) -> None:
    setting = RiskSetting.parse(text)
    u = np.linspace(0.001, 0.999, 257)
    assert np.allclose(setting.level_cdf(setting.distort(u)), u, atol=1e-9)
    w = setting.level_weights(37)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 7, 32, 100])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.25, 0.33, 1.0])
def test_level_weights_match_the_interpolated_cvar(n: int, alpha: float) -> None:
    for kind in ("cvar", "seeking"):
        setting = RiskSetting(kind, alpha)  # type: ignore[arg-type]
        expected = tail_weights(n, setting).double().numpy()
        assert np.allclose(setting.level_weights(n), expected, atol=1e-6)


def test_episode_metric_equals_cvar_and_tends_to_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    small = rng.normal(MU, SIGMA, size=(4, 37))
    assert np.allclose(distortion_risk(small, RiskSetting("cvar", 0.1)), cvar(small, 0.1))
    assert np.allclose(distortion_risk(small, RiskSetting()), small.mean(-1))
    big = rng.normal(MU, SIGMA, size=200_000)
    assert distortion_risk(big, RiskSetting.parse("wang:-0.7")) == pytest.approx(MU - 0.7 * SIGMA, abs=0.02)
    # order does not matter, shapes follow cvar's
    assert distortion_risk(small[:, ::-1], RiskSetting.parse("power:-2")).shape == (4,)


def test_iqn_taus_follow_the_distortion() -> None:
    """RAMAC's samplers: the taus' normal scores have mean eta under Wang; power:-2 taus on a uniform
    average 1/4; CPW at 1/2 averages the closed form."""
    g = torch.Generator().manual_seed(0)
    n = 400_000
    wang = risk_taus(RiskSetting.parse("wang:-0.7"), (n,), generator=g, device="cpu").double()
    assert float(special.ndtri(wang.numpy()).mean()) == pytest.approx(-0.7, abs=0.01)
    power = risk_taus(RiskSetting.parse("power:-2"), (n,), generator=g, device="cpu")
    assert float(power.mean()) == pytest.approx(0.25, abs=0.003)
    cpw = risk_taus(RiskSetting("cpw", eta=0.5), (n,), generator=g, device="cpu")
    assert float(cpw.mean()) == pytest.approx(CPW_HALF, abs=0.003)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("cvar:0", "(0, 1]"),
        ("cvar:1.5", "(0, 1]"),
        ("wang:abc", "'abc' is not a number"),
        ("wang:nan", "finite"),
        ("cpw:0.2", "[0.28, 1]"),
        ("cpw:1.5", "[0.28, 1]"),
        ("lognormal:1", "wang:ETA"),
        ("wang", "wang:ETA"),
    ],
)
def test_bad_settings_name_the_setting_and_what_is_allowed(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        RiskSetting.parse(text)
    message = str(info.value)
    assert message.startswith(f"risk setting {text!r}: ") and fragment in message and "\n" not in message


def test_round_trip_and_slugs() -> None:
    for text in ("neutral", "cvar:0.1", "seeking:0.9", "wang:-0.7", "cpw:0.71", "power:-2", "power:2"):
        assert str(RiskSetting.parse(text)) == text
    assert risk_slug("cvar:0.1") == "cvar-0.1"
    assert risk_slug("power:-2") != risk_slug("power:2")
