"""DDPM and DDIM sampling: exact recovery of a point mass, inpainting, seeding, guidance, best-of-N."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from rsbench.methods.diffusion import (
    DDIMSampler,
    DDPMSampler,
    Guidance,
    Inpainting,
    NoiseSchedule,
    guide_gradient,
    select_best,
)

B, H, D = 6, 8, 3
SHAPE = (B, H, D)
X_STAR = torch.linspace(-0.9, 0.9, H * D).reshape(H, D)


def _point_mass_eps(schedule: NoiseSchedule):
    """The optimal noise predictor for data that is the single point X_STAR (original timesteps)."""
    return lambda x, t: schedule.predict_eps_from_x0(x, t, X_STAR.to(x.device).expand_as(x))


def _standard_normal_eps(schedule: NoiseSchedule):
    """The optimal noise predictor for N(0, I) data, a model that knows nothing: E[eps | x_t] = sqrt(1-alphā_t) x_t."""
    return lambda x, t: schedule.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1) * x


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("steps", [None, 10, 1])
def test_ddpm_recovers_a_point_mass(steps: int | None) -> None:
    s = NoiseSchedule.create("linear", 100)
    x = DDPMSampler(s, steps=steps).sample(_point_mass_eps(s), SHAPE, generator=_gen())
    assert x.shape == SHAPE
    torch.testing.assert_close(x, X_STAR.expand(SHAPE), rtol=0, atol=1e-3)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddim_recovers_a_point_mass_in_few_steps(kind: str) -> None:
    s = NoiseSchedule.create(kind, 100)
    x = DDIMSampler(s, steps=5).sample(_point_mass_eps(s), SHAPE, generator=_gen())
    torch.testing.assert_close(x, X_STAR.expand(SHAPE), rtol=0, atol=1e-3)


@pytest.mark.parametrize("sampler_cls", [DDPMSampler, DDIMSampler])
def test_x0_prediction_and_clipping(sampler_cls: type) -> None:
    s = NoiseSchedule.create("linear", 50)
    sampler = sampler_cls(s, steps=10, predict="x0", clip_x0=0.5)
    x = sampler.sample(lambda x, t: X_STAR.expand_as(x), SHAPE, generator=_gen())
    torch.testing.assert_close(x, X_STAR.clamp(-0.5, 0.5).expand(SHAPE), rtol=0, atol=1e-5)


def test_model_is_fed_the_original_timesteps() -> None:
    s = NoiseSchedule.create("linear", 100)
    seen: list[Tensor] = []
    eps = _point_mass_eps(s)

    def model(x: Tensor, t: Tensor) -> Tensor:
        seen.append(t)
        return eps(x, t)

    DDPMSampler(s, steps=4).sample(model, SHAPE, generator=_gen())
    assert [int(t[0]) for t in seen] == [99, 66, 33, 0]
    assert all(t.shape == (B,) and t.dtype == torch.long for t in seen)


@pytest.mark.parametrize("sampler_cls", [DDPMSampler, DDIMSampler])
def test_inpainted_entries_hold_their_values_exactly(sampler_cls: type) -> None:
    s = NoiseSchedule.create("linear", 30)
    state = torch.randn(B, 2, generator=_gen(5))
    cond = Inpainting({0: state, H - 1: torch.zeros(B, 1)}, offset=1)
    # Guidance pulls every entry elsewhere; the inpainted ones must not move.
    pull = Guidance(lambda x, t: x.sum(dim=(1, 2)), scale=1.0, t_stopgrad=0)
    x, chain = sampler_cls(s, steps=10).sample(
        _standard_normal_eps(s), SHAPE, generator=_gen(), inpainting=cond, guidance=pull, return_chain=True
    )
    assert chain.shape == (B, 11, H, D)
    assert torch.equal(chain[:, -1], x)
    assert torch.equal(chain[:, :, 0, 1:3], state[:, None].expand(B, 11, 2))
    assert torch.equal(x[:, H - 1, 1], torch.zeros(B))


def test_ddpm_is_seeded_by_the_generator() -> None:
    s = NoiseSchedule.create("linear", 20)
    sampler = DDPMSampler(s)
    model = _standard_normal_eps(s)
    a = sampler.sample(model, SHAPE, generator=_gen(1))
    b = sampler.sample(model, SHAPE, generator=_gen(1))
    c = sampler.sample(model, SHAPE, generator=_gen(2))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_ddim_at_eta_0_is_deterministic_given_the_start_noise() -> None:
    s = NoiseSchedule.create("cosine", 50)
    model = _standard_normal_eps(s)
    g = _gen(4)
    x = DDIMSampler(s, steps=7).sample(model, SHAPE, generator=g)
    # It drew the start noise and nothing else...
    reference = _gen(4)
    x_start = torch.randn(SHAPE, generator=reference)
    assert torch.equal(g.get_state(), reference.get_state())
    # ...and followed the DDIM update from it.
    r, timesteps = s.respaced(7)
    for i in reversed(range(7)):
        t = torch.full((B,), i)
        eps = model(x_start, timesteps[t])
        x0 = r.predict_x0_from_eps(x_start, t, eps)
        x_start = r.alphas_cumprod_prev[i].sqrt() * x0 + (1 - r.alphas_cumprod_prev[i]).sqrt() * eps
    torch.testing.assert_close(x, x_start, rtol=1e-4, atol=1e-5)
    # With eta > 0 the sampler draws fresh noise per step.
    noisy = DDIMSampler(s, steps=7, eta=1.0).sample(model, SHAPE, generator=_gen(4))
    assert not torch.allclose(noisy, x)


def _distance_to(target: Tensor, x: Tensor) -> float:
    return (x - target).square().sum(dim=(1, 2)).sqrt().mean().item()


@pytest.mark.parametrize("sampler_cls", [DDPMSampler, DDIMSampler])
def test_guidance_moves_samples_toward_the_target(sampler_cls: type) -> None:
    s = NoiseSchedule.create("linear", 50)
    target = torch.full((H, D), 2.0)
    guidance = Guidance(lambda x, t: -(x - target).square().sum(dim=(1, 2)), scale=1.0, t_stopgrad=0)
    sampler = sampler_cls(s, steps=20)
    model = _standard_normal_eps(s)
    plain = sampler.sample(model, SHAPE, generator=_gen())
    guided = sampler.sample(model, SHAPE, generator=_gen(), guidance=guidance)
    assert _distance_to(target, guided) < 0.8 * _distance_to(target, plain)


def test_guidance_is_off_below_t_stopgrad() -> None:
    s = NoiseSchedule.create("linear", 20)
    target = torch.full((H, D), 2.0)
    off = Guidance(lambda x, t: -(x - target).square().sum(dim=(1, 2)), scale=1.0, t_stopgrad=20)
    model = _standard_normal_eps(s)
    for sampler in (DDPMSampler(s), DDIMSampler(s, steps=5)):
        plain = sampler.sample(model, SHAPE, generator=_gen())
        assert torch.equal(sampler.sample(model, SHAPE, generator=_gen(), guidance=off), plain)


def test_guide_gradient_works_under_no_grad_and_inference_mode() -> None:
    x = torch.randn(SHAPE, generator=_gen())
    t = torch.zeros(B, dtype=torch.long)
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            score, grad = guide_gradient(lambda x, t: -(x**2).sum(dim=(1, 2)), x, t)
        assert score.shape == (B,) and not score.requires_grad
        torch.testing.assert_close(grad, -2 * x)
    assert not x.requires_grad


def test_select_best_picks_the_argmax() -> None:
    candidates = torch.randn(3, 4, H, D, generator=_gen())
    scores = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    best, index = select_best(candidates, scores)
    assert index.tolist() == [1, 0, 3]
    assert torch.equal(best, candidates[[0, 1, 2], [1, 0, 3]])
    with pytest.raises(ValueError, match="do not match"):
        select_best(candidates, scores[:, :2])


def test_sampler_arguments_are_checked() -> None:
    s = NoiseSchedule.create("linear", 10)
    with pytest.raises(ValueError, match="respaced steps"):
        DDIMSampler(s, steps=11)
    with pytest.raises(ValueError, match="eta"):
        DDIMSampler(s, steps=5, eta=-1.0)
    with pytest.raises(ValueError, match="predict"):
        DDPMSampler(s, predict="v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clip_x0"):
        DDPMSampler(s, clip_x0=0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("sampler_cls", [DDPMSampler, DDIMSampler])
def test_sampling_on_cuda_follows_the_generator(sampler_cls: type) -> None:
    s = NoiseSchedule.create("linear", 50)
    g = torch.Generator("cuda").manual_seed(0)
    x = sampler_cls(s, steps=10).sample(_point_mass_eps(s.to("cuda")), SHAPE, generator=g)
    assert x.device.type == "cuda"
    torch.testing.assert_close(x.cpu(), X_STAR.expand(SHAPE), rtol=0, atol=1e-3)


def test_ddpm_guidance_never_acts_at_the_last_step() -> None:
    """Diffuser scales the guided step by the posterior variance, 0 at t = 0: no guidance there even at
    ``t_stopgrad: 0``."""
    s = NoiseSchedule.create("linear", 10)
    seen: list[int] = []

    def guide(x: Tensor, t: Tensor) -> Tensor:
        seen.append(int(t[0]))
        return -(x**2).sum(dim=(1, 2))

    for steps in (10, 4):
        seen.clear()
        DDPMSampler(s, steps).sample(
            _standard_normal_eps(s),
            SHAPE,
            generator=_gen(),
            guidance=Guidance(guide, n_steps=1, t_stopgrad=0),
        )
        assert seen and 0 not in seen
        assert min(seen) == DDPMSampler(s, steps).timesteps[1]


@pytest.mark.parametrize("sampler_cls", [DDPMSampler, DDIMSampler])
def test_episode_noise_makes_each_row_independent_of_the_batch(sampler_cls: type) -> None:
    from rsbench.methods.noise import EpisodeNoise

    s = NoiseSchedule.create("cosine", 10)
    sampler = sampler_cls(s, steps=5) if sampler_cls is DDPMSampler else DDIMSampler(s, 5, eta=1.0)
    model = _standard_normal_eps(s)
    seeds = [11, 22, 33, 44, 55, 66]
    full = sampler.sample(model, SHAPE, generator=EpisodeNoise.for_episodes(0, seeds, 3, "cpu"))
    first = sampler.sample(model, (2, H, D), generator=EpisodeNoise.for_episodes(0, seeds[:2], 3, "cpu"))
    torch.testing.assert_close(full[:2], first, rtol=0, atol=0)
    # two rows per episode (candidates): episode i owns rows 2i, 2i + 1
    pairs = sampler.sample(model, (4, H, D), generator=EpisodeNoise.for_episodes(0, seeds[1:3], 3, "cpu"))
    again = sampler.sample(model, (2, H, D), generator=EpisodeNoise.for_episodes(0, seeds[2:3], 3, "cpu"))
    torch.testing.assert_close(pairs[2:], again, rtol=0, atol=0)
    other_step = sampler.sample(model, (2, H, D), generator=EpisodeNoise.for_episodes(0, seeds[:2], 4, "cpu"))
    assert not torch.equal(other_step, first)
