"""IQN: the conformance checks with its tiny config (plain and conservative), tail sampling and learning."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import rsbench.methods.iqn  # noqa: F401 - registers "iqn" until the registry lists it as a built-in
from rsbench.data.offline import OfflineData
from rsbench.methods import Space, create
from rsbench.methods.iqn import IQN, IQNConfig, risk_taus
from rsbench.risk import RiskSetting
from rsbench.train import fit, load_checkpoint, save_checkpoint

CONFIGS = {"plain": IQNConfig.tiny(), "conservative": IQNConfig.tiny().replace(conservative=True)}
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


def _obs(data, n: int = 5) -> np.ndarray:
    return data.observations[np.linspace(0, data.n_steps - 1, n).astype(int)]


def _trained(config: IQNConfig, data, device: str = "cpu", steps: int = 3) -> IQN:
    method = create("iqn", Space.from_data(data), config, seed=0, device=device)
    fit(method, data, steps, batch_size=8, log_every=1)
    return method


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_update_gives_finite_losses_and_bounded_batched_actions(config, device, pointmass_data) -> None:
    method = create("iqn", Space.from_data(pointmass_data), config, device=device)
    result = fit(method, pointmass_data, 3, batch_size=8, log_every=1)
    losses = {k: v for k, v in result.curves[-1].items() if k not in ("step", "wall_time")}
    expected = {"critic_loss", "actor_loss", "q_mean"} | (
        {"cql_penalty", "td_loss"} if config.conservative else set()
    )
    assert set(losses) == expected and all(np.isfinite(v) for v in losses.values())
    assert method.steps == 3
    space = method.space
    for n in (1, 7):
        for risk in (None, "cvar:0.1"):  # risk is ignored: the actor was trained at train_risk
            actions = method.act(_obs(pointmass_data, n), risk=risk)
            assert actions.shape == (n, space.act_dim) and actions.dtype == np.float32
            assert np.all(actions >= np.array(space.action_low) - 1e-6)
            assert np.all(actions <= np.array(space.action_high) + 1e-6)
        q = method.return_quantiles(_obs(pointmass_data, n), n=6)
        assert q.shape == (n, 6) and np.all(np.diff(q, axis=1) >= 0)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_save_load_round_trip_and_seeded_training(config, pointmass_data, tmp_path: Path) -> None:
    method = _trained(config, pointmass_data)
    obs = _obs(pointmass_data)
    expected = method.act(obs)
    clone = create("iqn", method.space, method.config, seed=123)
    clone.load_state_dict(method.state_dict())
    assert np.array_equal(clone.act(obs), expected)
    restored, _ = load_checkpoint(save_checkpoint(tmp_path, method))
    assert type(restored) is IQN and restored.steps == method.steps
    assert np.array_equal(restored.act(obs), expected)
    assert np.array_equal(restored.return_quantiles(obs), method.return_quantiles(obs))
    again = _trained(config, pointmass_data)
    for key, value in method.state_dict()["components"]["critics"].items():
        assert torch.equal(value, again.state_dict()["components"]["critics"][key]), key


def test_config_yaml_round_trip_and_documentation() -> None:
    import dataclasses

    for config in (IQNConfig(), IQNConfig.tiny(), CONFIGS["conservative"]):
        assert IQNConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config
    parsed = IQNConfig.from_dict(yaml.safe_load('train_risk: "cvar:0.25"\nhidden: [16, 16]'))
    assert parsed.train_risk == RiskSetting("cvar", 0.25) and parsed.hidden == (16, 16)
    assert not [f.name for f in dataclasses.fields(IQNConfig) if not f.metadata.get("doc")]
    assert IQNConfig.inference_fields() == ()


def test_cql_taus_beyond_n_taus_is_a_one_line_config_error() -> None:
    from rsbench.errors import UserError
    from rsbench.methods.iqn import IQNConfig

    with pytest.raises(
        UserError, match=re.escape("suite.yaml: methods.iqn.config.cql_taus: cql_taus 8 must be <= n_taus 4")
    ):
        IQNConfig.from_dict({"n_taus": 4, "cql_taus": 8}, source="suite.yaml", path="methods.iqn.config")


def test_act_rejects_inference_overrides(pointmass_data) -> None:
    method = _trained(IQNConfig.tiny(), pointmass_data, steps=1)
    with pytest.raises(ValueError, match="cannot change at inference time"):
        method.act(_obs(pointmass_data), n_taus=4)
    policy = method.policy(risk="cvar:0.1", seed=3)
    assert policy(_obs(pointmass_data, 4), env_ids=np.arange(4), step=0).shape == (4, method.space.act_dim)


@pytest.mark.parametrize(
    ("risk", "low", "high"),
    [("cvar:0.1", 0.0, 0.1), ("seeking:0.1", 0.9, 1.0), ("seeking:0.9", 0.1, 1.0), ("neutral", 0.0, 1.0)],
)
def test_risk_taus_lie_in_the_risk_tail(risk: str, low: float, high: float) -> None:
    taus = risk_taus(
        RiskSetting.parse(risk), (64, 32), generator=torch.Generator().manual_seed(0), device="cpu"
    )
    assert taus.shape == (64, 32)
    assert taus.min() >= low and taus.max() <= high
    # uniform over the tail: the sample spans it and its mean is the tail's midpoint
    assert taus.min() < low + 0.01 * (high - low) and taus.max() > high - 0.01 * (high - low)
    assert abs(float(taus.mean()) - (low + high) / 2) < 0.02 * (high - low)


def _bandit(n: int = 512, seed: int = 0) -> OfflineData:
    """One-step episodes: action +1 pays 1; action -1 pays 3 or -2 with equal probability (mean 0.5)."""
    rng = np.random.default_rng(seed)
    episodes = []
    for _ in range(n):
        a = rng.choice([-1.0, 1.0])
        r = 1.0 if a > 0 else rng.choice([3.0, -2.0])
        episodes.append(
            {
                "observations": rng.normal(size=(2, 2)).astype(np.float32),
                "actions": np.array([[a]], np.float32),
                "rewards": np.array([r]),
                "terminations": np.array([True]),
                "truncations": np.array([False]),
            }
        )
    return OfflineData.from_episodes(episodes, action_bounds=(np.array([-1.0]), np.array([1.0])))


@pytest.mark.slow  # ~2 s each on an idle CPU; much longer on a contended one
@pytest.mark.parametrize(("risk", "sign"), [("cvar:0.25", 1.0), ("seeking:0.5", -1.0)])
def test_learns_the_bandits_return_distributions_and_the_risk_preferred_arm(risk: str, sign: float) -> None:
    data = _bandit()
    config = IQNConfig.tiny().replace(
        hidden=(64, 64), critic_lr=3e-3, actor_lr=3e-3, bc_weight=10.0, train_risk=RiskSetting.parse(risk)
    )
    method = create("iqn", Space.from_data(data), config, seed=0)
    fit(method, data, 300, batch_size=64, log_every=100)
    obs = data.observations[:32]
    safe = method.return_quantiles(obs, n=4, actions=np.ones((32, 1), np.float32)).mean(0)
    risky = method.return_quantiles(obs, n=4, actions=-np.ones((32, 1), np.float32)).mean(0)
    np.testing.assert_allclose(safe, 1.0, atol=0.3)
    assert risky[0] < -1.0 and risky[-1] > 2.0  # quantiles 1/8, 7/8 of {-2, 3}: near -2 and 3
    assert np.all(sign * method.act(obs) > 0.5)  # CVaR_0.25 prefers +1; the upper half prefers -1


def _prepared(data, **changes) -> tuple[IQN, dict[str, torch.Tensor]]:
    method = create("iqn", Space.from_data(data), IQNConfig.tiny().replace(**changes), seed=0)
    method.prepare(data)
    sampler = method.data_spec().sampler(data, 16, np.random.default_rng(0))
    return method, method.to_batch(sampler.sample())


def test_td3_settings_are_the_defaults() -> None:
    c = IQNConfig()
    # TD3+BC (sfujim/TD3_BC main.py): policy_noise 0.2, noise_clip 0.5, policy_freq 2, tau 0.005, alpha 2.5
    assert (c.policy_noise, c.noise_clip, c.policy_freq, c.tau, c.bc_weight) == (0.2, 0.5, 2, 0.005, 2.5)
    assert (c.actor_lr, c.critic_lr, c.discount) == (3e-4, 3e-4, 0.99)


def test_target_policy_smoothing_is_clipped_noise_around_the_target_actor(pointmass_data) -> None:
    method, batch = _prepared(pointmass_data)
    s = batch["next_observations"].repeat(500, 1)
    smoothed = method.target_actions(s)
    plain = method._act(method.actor_target, s)
    noise = smoothed - plain
    inside = (plain.abs() < 0.4).all(-1)  # where clamping to [-1, 1] cannot act
    assert noise.abs().max() <= 0.5 + 1e-6 and smoothed.abs().max() <= 1.0
    assert 0.15 < noise[inside].std().item() < 0.22  # N(0, 0.2^2) clipped at 0.5 has std 0.197


def test_the_actor_and_the_targets_update_every_second_step(pointmass_data) -> None:
    method, batch = _prepared(pointmass_data)

    def snapshot(module: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten().clone() for p in module.parameters()])

    changed = []
    for step in range(4):
        before = [
            snapshot(m) for m in (method.actor, method.actor_target, method.critics_target, method.critics)
        ]
        losses = method.update(batch)
        method.steps += 1
        after = [
            snapshot(m) for m in (method.actor, method.actor_target, method.critics_target, method.critics)
        ]
        changed.append([not torch.equal(a, b) for a, b in zip(before, after, strict=True)])
        assert np.isfinite(losses["actor_loss"]), step
    assert changed == [[True, True, True, True], [False, False, False, True]] * 2


def test_codac_penalty_weights_uniform_and_policy_samples_at_s_and_s_next(pointmass_data) -> None:
    method, batch = _prepared(pointmass_data, conservative=True, cql_samples=3, cql_policy_std=0.2)
    obs, next_obs = batch["observations"], batch["next_observations"]
    actions, log_density = method.penalty_actions(obs, next_obs)
    b, d = obs.shape[0], method.space.act_dim
    assert actions.shape == (b, 9, d) and log_density.shape == (b, 9)
    assert torch.allclose(log_density[:, :3], torch.tensor(-d * math.log(2.0)))  # uniform on [-1, 1]^d
    near_s = (actions[:, 3:6] - method._act(method.actor, obs)[:, None]).abs()
    near_next = (actions[:, 6:9] - method._act(method.actor, next_obs)[:, None]).abs()
    assert near_s.mean() < 0.3 and near_next.mean() < 0.3
    # the penalty is logsumexp of Q - log q over the candidates, minus Q(data): with a constant critic,
    # exactly logsumexp(-log q)
    const = lambda o, a, t: torch.full(t.shape, 5.0)  # noqa: E731
    z_data = torch.full((b, 4), 5.0)
    penalty = method._cql_penalty(const, obs, actions, log_density, torch.rand(b, 2), z_data)
    torch.testing.assert_close(penalty, torch.logsumexp(-log_density, dim=1).mean())
