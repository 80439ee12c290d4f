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


# CORL's algorithms/offline/cql.py TrainConfig (continuous control): the settings rsbench claims.
CORL = {
    "hidden": (256, 256, 256),  # q_n_hidden_layers 3 of 256, actor 3 x 256
    "actor_lr": 3e-5,  # policy_lr
    "critic_lr": 3e-4,  # qf_lr
    "alpha_lr": 3e-5,  # alpha_optimizer = Adam(log_alpha, lr=policy_lr)
    "discount": 0.99,
    "tau": 5e-3,  # soft_target_update_rate
    "cql_alpha": 10.0,
    "cql_n_actions": 10,
    "cql_temp": 1.0,
    "cql_lagrange": False,
    "target_entropy_scale": 1.0,  # target_entropy = -act_dim
    "bc_steps": 0,
    "normalize_obs": True,
    "orthogonal_init": True,
    "reward_scale": 1.0,
}


def _cql(pointmass_data, **changes):
    from rsbench.methods import Space, create, get

    config = get("cql").Config.tiny().replace(**changes)
    method = create("cql", Space.from_data(pointmass_data), config, seed=0)
    method.prepare(pointmass_data)
    import numpy as np

    sampler = method.data_spec().sampler(pointmass_data, 32, np.random.default_rng(0))
    return method, method.to_batch(sampler.sample())


def test_defaults_are_corl_s() -> None:
    from rsbench.methods.cql import CQLConfig

    config = CQLConfig()
    assert {k: getattr(config, k) for k in CORL} == CORL


def test_temperature_learns_at_the_policy_rate(pointmass_data) -> None:
    method, _ = _cql(pointmass_data)
    assert method.alpha_opt.param_groups[0]["lr"] == method.config.actor_lr == 3e-5
    assert method.critic_opt.param_groups[0]["lr"] == 3e-4


def test_critic_loss_is_corl_s_full_td_error_plus_alpha_times_each_gap(pointmass_data) -> None:
    """CORL: qf_loss = mse(q1, y) + mse(q2, y) + cql_alpha * (gap1 + gap2); the TD term is not halved."""
    import torch.nn.functional as F

    method, batch = _cql(pointmass_data, cql_alpha=10.0)
    y = torch.randn(32, generator=torch.Generator().manual_seed(3))
    method.td_target = lambda batch, nets, noise: y
    td, gap, q = method.critic_loss_terms(batch, method.nets(), method.noise(32))
    actions = method.unit_actions(batch["actions"]).clamp(-1, 1)
    q1, q2 = method.critic(batch["observations"], actions)
    torch.testing.assert_close(td, F.mse_loss(q1, y) + F.mse_loss(q2, y))
    torch.testing.assert_close(method._penalty(gap, method.log_cql_alpha)[0], 10.0 * (gap[0] + gap[1]))
    # the conservative gap is in the same units as Q: a constant shift of Q leaves it unchanged
    assert gap.shape == (2,) and torch.isfinite(gap).all() and q.shape == (2, 32)


def test_critics_start_near_zero_with_corl_s_initialisation(pointmass_data) -> None:
    method, batch = _cql(pointmass_data)
    q = method.critic(batch["observations"], method.unit_actions(batch["actions"]).clamp(-1, 1))
    assert q.abs().max() < 0.1  # last layer gain 1e-2
