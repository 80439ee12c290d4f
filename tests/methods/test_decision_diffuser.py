"""Decision Diffuser's return condition (a fixed map fitted on the conditions it trains on) and its sampling
temperature."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsbench.methods import Space, create, get
from rsbench.methods.diffusion import DDIMSampler, DDPMSampler, NoiseSchedule
from rsbench.methods.planner import torch_normalize


def _prepared(data, **changes):
    config = get("decision_diffuser").Config.tiny().replace(**changes)
    method = create("decision_diffuser", Space.from_data(data), config)
    method.prepare(data)
    return method


def test_the_condition_map_spans_the_conditions_it_trains_on(pointmass_data) -> None:
    """Every training window's return-to-go maps into [0, 1], the worst to 0 and the best to 1. The map fitted
    on episode-start returns put most of PointMass's training conditions above 1 (its returns are negative,
    and a window later in an episode has less cost to go)."""
    method = _prepared(pointmass_data)
    to_go = pointmass_data.returns_to_go(method.config.discount)
    cond = method.normalizers["returns"].normalize(to_go[method.window_starts(pointmass_data)][:, None])[:, 0]
    assert cond.min() == pytest.approx(0.0, abs=1e-6) and cond.max() == pytest.approx(1.0, abs=1e-6)
    # the batches the denoiser trains on carry exactly such conditions
    sampler = method.data_spec().sampler(pointmass_data, 256, np.random.default_rng(0))
    batch = method.to_batch(sampler.sample())
    trained = torch_normalize(method.normalizers["returns"], batch["returns"][:, None])
    assert trained.min() >= -1e-6 and trained.max() <= 1 + 1e-6


def test_the_target_is_ninety_percent_of_the_way_to_the_best_training_condition(pointmass_data) -> None:
    """``target_return: 0.9`` = lo + 0.9 (hi - lo) on the windows' returns-to-go: some windows reach it, and
    on PointMass no episode start does (it asks for better than the data from the start state)."""
    method = _prepared(pointmass_data)
    to_go = pointmass_data.returns_to_go(method.config.discount)
    windows = to_go[method.window_starts(pointmass_data)]
    target = method.normalizers["returns"].unnormalize(np.array([[method.config.target_return]]))[0, 0]
    assert target == pytest.approx(windows.min() + 0.9 * (windows.max() - windows.min()), rel=1e-5)
    assert 0.0 < (windows >= target).mean() < 1.0
    assert (to_go[pointmass_data.episode_starts] < target).all()


def test_a_fixed_returns_scale_is_the_reference_s_division(pointmass_data) -> None:
    method = _prepared(pointmass_data, returns_scale=400.0)
    r = np.array([[-40.0], [0.0], [360.0]])
    np.testing.assert_allclose(method.normalizers["returns"].normalize(r), r / 400.0, rtol=1e-6)


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_the_temperature_multiplies_every_gaussian_draw(kind: str) -> None:
    """With a model that predicts x0 = 0, a sample is linear in the sampler's draws (the start and, under
    DDPM, each step's noise), so temperature T scales the whole chain by T when every draw is scaled by T."""
    schedule = NoiseSchedule.create("cosine", 10)

    def sample(temperature: float) -> torch.Tensor:
        cls = DDPMSampler if kind == "ddpm" else DDIMSampler
        sampler = cls(schedule, 10, predict="x0", temperature=temperature)
        zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
        _, chain = sampler.sample(
            zero, (3, 4, 2), generator=torch.Generator().manual_seed(0), return_chain=True
        )
        return chain

    plain, half = sample(1.0), sample(0.5)
    torch.testing.assert_close(half, 0.5 * plain)
    assert plain[:, :-1].abs().max() > 0.1  # not a chain of zeros


def test_the_reference_temperature_is_the_default_and_reaches_the_sampler(pointmass_data) -> None:
    method = _prepared(pointmass_data, sampler="ddim", sampling_steps=5)
    assert method.config.temperature == 0.5
    assert get("decision_diffuser").Config.checkpoint_defaults == {
        "temperature": 1.0
    }  # as older runs sampled
    assert get("diffuser").Config().temperature == 1.0  # Diffuser's sampler draws N(0, I)
    obs = pointmass_data.observations[:4]
    seeded = {"generator": torch.Generator().manual_seed(3)}
    default = method.act(obs, **seeded)
    assert np.array_equal(
        default, method.act(obs, generator=torch.Generator().manual_seed(3), temperature=0.5)
    )
    assert not np.array_equal(
        default, method.act(obs, generator=torch.Generator().manual_seed(3), temperature=1.0)
    )
