"""RADAC: its VP schedule, the risk term through the reverse chain, the eta schedule, distortion risks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rsbench.methods import Space, create
from rsbench.methods.diffusion import NoiseSchedule, vp_betas
from rsbench.methods.radac import RADAC, RADACConfig, reverse_chain
from rsbench.risk import RiskSetting
from rsbench.train import fit

SPACE = Space(obs_dim=2, act_dim=2, action_low=(-1.0, -1.0), action_high=(1.0, 1.0))


def test_vp_schedule_closed_form() -> None:
    """sum_t of the rates b_min / K + (b_max - b_min)(2t - 1) / (2 K^2) is (b_min + b_max) / 2 at any K."""
    for k in (1, 5, 20):
        s = NoiseSchedule.from_betas(vp_betas(k))
        assert float(s.alphas_cumprod[-1]) == pytest.approx(math.exp(-5.05), rel=1e-5)
    b = vp_betas(5)
    assert float(b[0]) == pytest.approx(1 - math.exp(-0.1 / 5 - 0.5 * 9.9 / 25), rel=1e-9)


class _Bowl(nn.Module):
    """A stand-in critic whose every quantile is ``-|a - target|^2``: the risk term must pull actions there."""

    def __init__(self, target: float):
        super().__init__()
        self.target = target

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
        value = -(actions - self.target).pow(2).sum(-1, keepdim=True)
        return value.expand(-1, taus.shape[1])


def _radac(**changes) -> RADAC:
    config = RADACConfig.tiny().replace(**changes)
    return create("radac", SPACE, config, seed=0)  # type: ignore[return-value]


def test_the_risk_term_moves_the_actor_through_its_chain() -> None:
    """With BC off and a known critic, gradient steps through the 3-step reverse chain raise the critic's
    value of the sampled actions (plain SGD: Adam's momentum carries a toy bowl's actions past its bottom
    into the clipped region, where the chain's x0 clipping stops every gradient, as in the reference); with
    eta = 0 and BC off nothing moves the actor."""
    method = _radac(lambda_bc=0.0, eta=1.0)
    bowl = _Bowl(0.5)
    method.critics = nn.ModuleList([bowl, bowl])
    method.actor_optimizer = torch.optim.SGD(method.actor.parameters(), lr=0.05)
    method.steps = 1  # eta is 0 at step 0 (the reference's ramp)
    obs = torch.zeros(256, 2)

    def value() -> float:
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            pi = reverse_chain(method.actor, method.schedule, obs, 2, lambda s: torch.randn(s, generator=g))
        return float(bowl(obs, pi, torch.zeros(256, 1)).mean())

    before = value()
    for _ in range(30):
        method._actor_step(obs, torch.zeros(256, 2), method.eta_now())
    assert value() > before + 0.3 * abs(before)

    frozen = _radac(lambda_bc=0.0, eta=0.0)
    before = [p.detach().clone() for p in frozen.actor.parameters()]
    frozen._actor_step(obs, torch.zeros(256, 2), 0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, frozen.actor.parameters(), strict=True))


def test_the_actor_step_leaves_the_critics_gradients_alone() -> None:
    method = _radac()
    method._actor_step(torch.zeros(8, 2), torch.zeros(8, 2), 0.02)
    assert all(p.grad is None for p in method.critics.parameters())


def test_eta_warmup_then_ramp() -> None:
    method = _radac(eta=0.04, eta_warmup_steps=10, eta_ramp_steps=20)
    values = {}
    for step in (0, 9, 10, 20, 30, 100):
        method.steps = step
        values[step] = method.eta_now()
    assert values == {0: 0.0, 9: 0.0, 10: 0.0, 20: pytest.approx(0.02), 30: 0.04, 100: 0.04}
    method = _radac()  # the reference: no warm-up and eta_ramp_steps 0 -> eta 0 at step 0, then full eta
    assert method.eta_now() == 0.0
    method.steps = 1
    assert method.eta_now() == method.config.eta


def test_reverse_chain_draws_start_then_one_normal_per_step_but_the_last() -> None:
    shapes = []

    def normal(shape):
        shapes.append(shape)
        return torch.zeros(shape)

    schedule = NoiseSchedule.from_betas(vp_betas(4))
    actor = RADAC(RADACConfig.tiny(), SPACE).actor
    out = reverse_chain(actor, schedule, torch.zeros(3, 2), 2, normal)
    assert shapes == [(3, 2)] * 4 and out.shape == (3, 2) and bool((out.abs() <= 1).all())


@pytest.mark.parametrize("risk", ["wang:-0.7", "cpw:0.71", "power:-2", "neutral"])
def test_trains_at_each_of_ramacs_distortions(risk: str, pointmass_data) -> None:
    config = RADACConfig.tiny().replace(train_risk=RiskSetting.parse(risk))
    method = create("radac", Space.from_data(pointmass_data), config, seed=0)
    result = fit(method, pointmass_data, 2, batch_size=8, log_every=1)
    assert all(np.isfinite(v) for v in result.curves[-1].values())


def test_construction_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    _radac()
    assert torch.equal(torch.random.get_rng_state(), state)
