"""Noise schedules: closed forms, the forward process and respacing."""

from __future__ import annotations

import math

import pytest
import torch

from rsbench.methods.diffusion import NoiseSchedule, cosine_betas, linear_betas


def test_linear_betas_are_ho_et_al_s_at_k_1000() -> None:
    betas = linear_betas(1000, start=1e-4, end=2e-2)
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    torch.testing.assert_close(
        betas, torch.linspace(1e-4, 2e-2, 1000, dtype=torch.float64), rtol=1e-2, atol=0
    )
    assert bool((betas.diff() > 0).all())


@pytest.mark.parametrize("k", [5, 20, 100, 1000])
def test_linear_schedule_ends_in_noise_at_every_k(k: int) -> None:
    """Unscaled, Ho et al.'s betas leave alphā_K = 0.82 at K = 20: the sampler's start noise is off-distribution."""
    s = NoiseSchedule.create("linear", k)
    assert s.alphas_cumprod[-1].item() < 1e-3
    # alphā_K = exp(-1000 (start + end) / 2) whatever K
    assert s.alphas_cumprod[-1].item() == pytest.approx(math.exp(-(0.1 + 20) / 2), rel=1e-3)
    assert s.alphas_cumprod[0].item() > 0.5  # the first step still adds little noise
    assert bool((s.betas < 1).all() and (s.betas.diff() > 0).all())


def test_cosine_alphas_cumprod_match_the_formula() -> None:
    k, s = 100, 0.008
    abar = torch.cumprod(1 - cosine_betas(k, s=s), 0)
    f = [math.cos((t / k + s) / (1 + s) * math.pi / 2) ** 2 for t in range(k + 1)]
    expected = torch.tensor([f[t] / f[0] for t in range(1, k + 1)], dtype=torch.float64)
    # The last beta is clipped to max_beta (alphā would reach 0), so compare before it.
    torch.testing.assert_close(abar[:-1], expected[:-1], rtol=1e-10, atol=1e-12)
    assert cosine_betas(k).max().item() == pytest.approx(0.999)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_fields_follow_ddpm(kind: str) -> None:
    s = NoiseSchedule.create(kind, 40)
    assert s.n_steps == 40
    abar = torch.cumprod(1 - s.betas.double(), 0)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    # atol: the float32 rounding of a clipped cosine beta (0.999) shifts the tiny last alphā.
    torch.testing.assert_close(s.alphas_cumprod.double(), abar, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(s.alphas_cumprod_prev.double(), abar_prev, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(s.sqrt_one_minus_alphas_cumprod.double() ** 2, 1 - abar, rtol=1e-5, atol=0)
    post_var = s.betas.double() * (1 - abar_prev) / (1 - abar)
    torch.testing.assert_close(s.posterior_variance.double(), post_var, rtol=1e-5, atol=1e-12)
    assert s.posterior_variance[0].item() == 0.0
    # The clipped log variance borrows t = 1 at t = 0, where the variance is 0.
    torch.testing.assert_close(s.posterior_log_variance_clipped[1:], s.posterior_variance[1:].log())
    assert s.posterior_log_variance_clipped[0] == s.posterior_log_variance_clipped[1]
    for name in ("betas", "alphas", "posterior_mean_coef1", "posterior_mean_coef2"):
        assert getattr(s, name).dtype == torch.float32


def test_schedule_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown schedule kind"):
        NoiseSchedule.create("quadratic", 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one step"):
        linear_betas(0)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        NoiseSchedule.from_betas(torch.tensor([0.1, 1.0]))


def test_q_sample_has_the_forward_process_moments() -> None:
    s = NoiseSchedule.create("linear", 100)
    g = torch.Generator().manual_seed(0)
    n, t_step = 200_000, 60
    x0 = torch.full((n, 1, 1), 2.0)
    t = torch.full((n,), t_step)
    xt = s.q_sample(x0, t, torch.randn(x0.shape, generator=g))
    abar = s.alphas_cumprod[t_step].item()
    assert xt.mean().item() == pytest.approx(2.0 * math.sqrt(abar), abs=0.01)
    assert xt.var().item() == pytest.approx(1 - abar, rel=0.02)


def test_eps_and_x0_predictions_invert_q_sample() -> None:
    s = NoiseSchedule.create("cosine", 50)
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(8, 4, 3, generator=g), torch.randn(8, 4, 3, generator=g)
    t = torch.randint(0, 50, (8,), generator=g)
    xt = s.q_sample(x0, t, noise)
    torch.testing.assert_close(s.predict_x0_from_eps(xt, t, noise), x0, rtol=1e-4, atol=2e-4)
    torch.testing.assert_close(s.predict_eps_from_x0(xt, t, x0), noise, rtol=1e-4, atol=2e-4)


def test_q_posterior_is_the_ddpm_posterior() -> None:
    s = NoiseSchedule.create("linear", 30)
    x0, xt = torch.randn(5, 4, 2), torch.randn(5, 4, 2)
    t = torch.tensor([0, 1, 7, 20, 29])
    mean, var, log_var = s.q_posterior(x0, xt, t)
    assert mean.shape == (5, 4, 2) and var.shape == (5, 1, 1) and log_var.shape == (5, 1, 1)
    c1, c2 = s.posterior_mean_coef1[t].view(5, 1, 1), s.posterior_mean_coef2[t].view(5, 1, 1)
    torch.testing.assert_close(mean, c1 * x0 + c2 * xt)
    # At t = 0 the posterior collapses onto x0.
    torch.testing.assert_close(mean[0], x0[0])
    torch.testing.assert_close(var.flatten(), s.posterior_variance[t])


def test_respacing_with_all_steps_is_the_identity() -> None:
    s = NoiseSchedule.create("linear", 20)
    same, timesteps = s.respaced(20)
    assert same is s
    torch.testing.assert_close(timesteps, torch.arange(20))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [1, 2, 7, 10])
def test_respaced_schedule_keeps_alphas_cumprod(kind: str, steps: int) -> None:
    s = NoiseSchedule.create(kind, 100)
    r, timesteps = s.respaced(steps)
    assert r.n_steps == steps and timesteps.shape == (steps,) and timesteps.dtype == torch.long
    assert timesteps[-1].item() == 99 and bool((timesteps.diff() > 0).all())
    if steps > 1:
        assert timesteps[0].item() == 0
    torch.testing.assert_close(r.alphas_cumprod, s.alphas_cumprod[timesteps], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        r.sqrt_one_minus_alphas_cumprod, s.sqrt_one_minus_alphas_cumprod[timesteps], rtol=1e-5, atol=0
    )


def test_respacing_rejects_bad_step_counts() -> None:
    s = NoiseSchedule.create("linear", 10)
    for steps in (0, 11):
        with pytest.raises(ValueError, match=r"respaced steps must be in \[1, 10\]"):
            s.respaced(steps)


def test_to_moves_every_field() -> None:
    s = NoiseSchedule.create("linear", 10)
    assert s.to("cpu") is s
    if torch.cuda.is_available():
        c = s.to("cuda")
        assert c.device.type == "cuda" and c.posterior_mean_coef2.device.type == "cuda"
        assert s.device.type == "cpu"
