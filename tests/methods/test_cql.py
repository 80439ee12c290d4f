from __future__ import annotations

import math

import torch

from rsbench.methods.cql import TanhGaussianActor


def test_tanh_gaussian_log_density_matches_its_samples_and_integrates_to_one() -> None:
    torch.manual_seed(0)
    actor = TanhGaussianActor(3, 1, (8,))
    obs = torch.randn(4, 3)
    gen = torch.Generator().manual_seed(1)
    action, logp = actor(obs, gen)
    assert action.shape == (4, 1) and torch.all(action.abs() < 1)
    assert torch.allclose(actor.log_prob(obs, action), logp, atol=1e-4)
    # the density over (-1, 1) integrates to 1 (midpoint rule on a fine grid)
    grid = torch.linspace(-1, 1, 20001)[1:-1]
    one_obs = obs[:1].expand(grid.numel(), 3)
    density = actor.log_prob(one_obs, grid[:, None]).exp()
    assert math.isclose(float(density.sum() * (grid[1] - grid[0])), 1.0, abs_tol=2e-3)
