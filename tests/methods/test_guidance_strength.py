"""Guidance keeps its magnitude (issue 23): one rule for DDPM and DDIM (Diffuser's n-step nudge), no per-plan
normalisation (a flat critic barely moves a plan; neutral guidance on a critic whose mean is nearly flat
pushes far less than CVaR guidance), inpainted entries excluded from the gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rsbench.methods import Space, create, get
from rsbench.methods.diffusion import DDIMSampler, DDPMSampler, Guidance, Inpainting, NoiseSchedule
from rsbench.risk import RiskSetting

SHAPE = (4, 8, 2)


def _half_x0(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A denoiser predicting ``x0 = x / 2``: every reverse step is then linear in ``x``."""
    return 0.5 * x


def _sample(sampler, guidance: Guidance | None) -> torch.Tensor:
    return sampler.sample(_half_x0, SHAPE, generator=torch.Generator().manual_seed(0), guidance=guidance)


@pytest.mark.parametrize("cls", [DDIMSampler, DDPMSampler])
def test_the_push_grows_with_the_guides_gradient(cls) -> None:
    """With a denoiser linear in x every step is linear in x, so the guided sample moves exactly in
    proportion to the guide's gain (the old per-plan normalisation made every gain push alike)."""
    sampler = cls(NoiseSchedule.create("cosine", 10), 10, predict="x0")
    plain = _sample(sampler, None)

    def push(gain: float) -> torch.Tensor:
        return _sample(sampler, Guidance(lambda x, t: gain * x[..., 0].sum(-1), 0.5, 1, 0)) - plain

    torch.testing.assert_close(push(10.0), 10 * push(1.0), rtol=1e-4, atol=1e-6)
    assert push(1.0).abs().max() > 1e-3


def test_ddim_takes_diffusers_n_guide_steps_scaled_by_the_posterior_variance() -> None:
    """Under DDIM the step is nudged n_steps times by ``scale * sigma^2 * grad`` before the DDIM update (the old
    code took one classifier-guidance step on epsilon and ignored n_steps and scale_grad_by_std)."""
    schedule = NoiseSchedule.create("cosine", 10)
    sampler = DDIMSampler(schedule, 5, predict="x0")
    target = torch.full(SHAPE[1:], 0.7)

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -(x - target).square().sum(dim=(1, 2))

    guided = _sample(sampler, Guidance(fn, scale=0.3, n_steps=2, t_stopgrad=0))
    # by hand: x_T from the generator, then per step two nudges and the DDIM update with x0 = x / 2
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    r = sampler.schedule
    for i in reversed(range(sampler.steps)):
        if i > 0:
            var = r.posterior_log_variance_clipped[i].exp()
            for _ in range(2):
                x = x + 0.3 * var * (-2 * (x - target))
        eps = (x - r.alphas_cumprod[i].sqrt() * 0.5 * x) / r.sqrt_one_minus_alphas_cumprod[i]
        x = r.alphas_cumprod_prev[i].sqrt() * 0.5 * x + (1 - r.alphas_cumprod_prev[i]).sqrt() * eps
    torch.testing.assert_close(guided, x, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(guided, _sample(sampler, Guidance(fn, scale=0.3, n_steps=1, t_stopgrad=0)))
    unscaled = _sample(sampler, Guidance(fn, scale=0.3, n_steps=2, t_stopgrad=0, scale_grad_by_std=False))
    assert not torch.allclose(guided, unscaled)


def test_inpainted_entries_are_excluded_from_the_gradient() -> None:
    """A huge gradient on the inpainted current state changes nothing: not the free entries' step, not the
    clipped norm."""
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    t = torch.zeros(SHAPE[0], dtype=torch.long)
    free = ~Inpainting({0: torch.zeros(SHAPE[0], 2)}).mask(x)

    def guide(weight: float) -> Guidance:
        return Guidance(lambda x, t: x[:, 1:].sum((1, 2)) + weight * x[:, 0].sum(-1), 1.0, 1, 0, max_norm=0.5)

    step = guide(1000.0).step(x, t, 0.2, free)
    torch.testing.assert_close(step, guide(0.0).step(x, t, 0.2, free))
    assert torch.all(step[:, 0] == 0)
    torch.testing.assert_close(step.flatten(1).norm(dim=1), torch.full((SHAPE[0],), 0.5))
    small = Guidance(lambda x, t: 1e-3 * x.sum((1, 2)), 1.0, 1, 0, max_norm=0.5).step(x, t, 0.2, free)
    torch.testing.assert_close(small, 0.2e-3 * free.float())  # below the norm bound the step is untouched


class _Critic(nn.Module):
    """Quantiles ``c_i + w_i * sum(plan)``: ``c`` far apart (their order never changes), ``w`` the critic's
    sensitivity to the plan per quantile."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("w", weights)
        self.register_buffer("c", 100.0 * torch.arange(len(weights), dtype=torch.float32))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.c + self.w * x.sum(dim=(1, 2))[:, None]


def _push(method, obs, weights: torch.Tensor, risk: str) -> float:
    """Mean distance between the guided and the unguided plan with the critic replaced by ``_Critic``."""
    real = method.aux["critic"]
    method.aux["critic"] = _Critic(weights)
    try:
        plans = [
            method.sample_plans(
                obs,
                method.settings({"guidance_scale": scale, "candidates": 1}),
                RiskSetting.parse(risk),
                torch.Generator().manual_seed(3),
            )[1]
            for scale in (0.0, 1.0)
        ]
    finally:
        method.aux["critic"] = real
    return float((plans[1] - plans[0]).abs().mean())


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_a_flat_critic_pushes_less_than_an_informed_one(pointmass_data, sampler: str) -> None:
    config = get("rs_diffuser").Config.tiny().replace(sampler=sampler, t_stopgrad=0)
    method = create("rs_diffuser", Space.from_data(pointmass_data), config)
    method.prepare(pointmass_data)
    obs = pointmass_data.observations[:6]
    m = config.n_quantiles
    for risk in ("neutral", "cvar:0.1"):
        informed = _push(method, obs, torch.ones(m), risk)
        flat = _push(method, obs, torch.full((m,), 1e-3), risk)
        assert informed > 0.01
        assert flat < 0.05 * informed, risk  # the old per-plan normalisation pushed both by the same amount
    # a critic whose mean barely depends on the plan while its lower tail does: neutral guidance (the mean)
    # pushes far less than CVaR guidance (the old code: exactly as hard)
    tail = torch.full((m,), -(1 - 0.01) / (m - 1))
    tail[0] = 1.0
    assert _push(method, obs, tail, "neutral") < 0.05 * _push(method, obs, tail, "cvar:0.1")
