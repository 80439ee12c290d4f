"""RS-Diffuser's critic as the paper describes it: quantile-regression TD with target critics (the Bellman
target checked by hand), an independent ranking critic, and a critic fitted alone for a frozen, trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsbench.data import Normalizer, OfflineData
from rsbench.methods import Space, create, get
from rsbench.methods.quantile import risk_value
from rsbench.risk import RiskSetting
from rsbench.train.checkpoint import load_checkpoint, save_checkpoint
from rsbench.train.critic import fit_critic


def _episode(length: int, terminated: bool, index: int) -> dict:
    obs = np.arange(length + 1, dtype=np.float32)[:, None].repeat(2, 1) + 10 * index
    return {
        "observations": obs,
        "actions": np.zeros((length, 1), np.float32),
        "rewards": np.arange(1, length + 1, dtype=np.float64),
        "terminations": np.array([False] * (length - 1) + [terminated]),
        "truncations": np.array([False] * (length - 1) + [not terminated]),
    }


def test_td_target_by_hand() -> None:
    """Windows of 2 states, backups of n = 1 step, discount 0.5, a target critic whose quantiles are
    ``(s, 2 s)`` of the next window's first state s, returns standardised by shift 1 and scale 2:
    target = (r_0 + 0.5 * bootstrap * Z'(s_1) - 1) / 2, per target quantile."""
    data = OfflineData.from_episodes([_episode(3, True, 0), _episode(2, False, 1)])
    config = get("rs_diffuser").Config.tiny().replace(horizon=2, td_steps=1, discount=0.5)
    method = create("rs_diffuser", Space.from_data(data), config.replace(n_quantiles=2))
    method.normalizers["obs"] = Normalizer.fit(data.observations, "identity")
    method.normalizers["returns"] = Normalizer("gaussian", np.array([1.0]), np.array([2.0]))
    assert method.data_spec().successor == 1
    batch = method.to_batch(method.data_spec().sampler(data, 64, np.random.default_rng(0)).sample())

    def target(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert torch.all(t == 0)  # the clean next window
        s = x[:, 0, 0]
        return (torch.stack([s, 2 * s], dim=1) - 1.0) / 2.0  # standardised: raw quantiles s and 2 s

    got = method.td_targets(target, batch)
    first = batch["observations"][:, 0, 0]
    # (state, r_0, next state, bootstrap): episode 1 terminates after its third step, episode 2 is truncated
    cases = {0.0: (1, 1, 1), 1.0: (2, 2, 1), 2.0: (3, 3, 0), 10.0: (1, 11, 1)}
    for state, (r0, following, bootstrap) in cases.items():
        raw = np.array([r0 + 0.5 * bootstrap * following, r0 + 0.5 * bootstrap * 2 * following])
        rows = first == state
        assert rows.any()
        np.testing.assert_allclose(
            got[rows].numpy(), np.tile((raw - 1.0) / 2.0, (int(rows.sum()), 1)), rtol=1e-6
        )


def test_target_critics_follow_by_polyak_and_no_gradient_reaches_them(pointmass_data) -> None:
    config = get("rs_diffuser").Config.tiny().replace(target_tau=0.25)
    method = create("rs_diffuser", Space.from_data(pointmass_data), config)
    method.prepare(pointmass_data)
    before_target = [p.clone() for p in method.targets["critic_target"].parameters()]
    batch = method.to_batch(method.data_spec().sampler(pointmass_data, 8, np.random.default_rng(0)).sample())
    losses = method.update(batch)
    assert np.isfinite(losses["critic_loss"])
    for old, new, critic in zip(
        before_target,
        method.targets["critic_target"].parameters(),
        method.aux["critic"].parameters(),
        strict=True,
    ):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * critic)
    assert all(not p.requires_grad for p in method.targets.parameters())
    mc = create("rs_diffuser", Space.from_data(pointmass_data), config.replace(critic="mc"))
    mc.prepare(pointmass_data)
    assert len(mc.targets) == 0 and mc.data_spec().successor == 0


def test_an_independent_critic_ranks(pointmass_data) -> None:
    config = get("rs_diffuser").Config.tiny().replace(rank_critic="independent")
    method = create("rs_diffuser", Space.from_data(pointmass_data), config)
    method.prepare(pointmass_data)
    assert set(method.targets) == {"critic_target", "rank_critic_target"}
    batch = method.to_batch(method.data_spec().sampler(pointmass_data, 8, np.random.default_rng(0)).sample())
    assert {"critic_loss", "rank_critic_loss"} <= set(method.update(batch))
    plans = torch.randn(5, config.horizon, method.transition_dim, generator=torch.Generator().manual_seed(0))
    zero = torch.zeros(5, dtype=torch.long)
    cvar = RiskSetting.parse("cvar:0.1")
    torch.testing.assert_close(
        method.score(plans, cvar), risk_value(method.aux["rank_critic"](plans, zero), cvar)
    )
    assert not torch.allclose(method.score(plans, cvar), risk_value(method.aux["critic"](plans, zero), cvar))


def test_config_problems() -> None:
    cls = get("rs_diffuser").Config
    assert "critic_target" in cls(critic="td", critic_target="segment").problems()
    assert "td_steps" in cls(horizon=8, dim_mults=(1, 2), td_steps=9).problems()
    assert cls(critic="mc", critic_target="segment").problems() == {}


@pytest.mark.parametrize("critic", ["td", "mc"])
def test_fit_critic_trains_a_new_critic_for_a_frozen_model(pointmass_data, tmp_path, critic: str) -> None:
    from rsbench.train.fit import fit

    config = get("rs_diffuser").Config.tiny().replace(critic="mc")
    method = create("rs_diffuser", Space.from_data(pointmass_data), config)
    fit(method, pointmass_data, 5, batch_size=8)
    trained = save_checkpoint(tmp_path / "trained", method)
    frozen = {k: v.clone() for k, v in method.model.state_dict().items()}
    ema = {k: v.clone() for k, v in method.ema.model.state_dict().items()}
    inverse = {k: v.clone() for k, v in method.aux["inverse_dynamics"].state_dict().items()}

    out = fit_critic(
        trained, pointmass_data, steps=4, out=tmp_path / "refit", batch_size=8, changes={"critic": critic}
    )
    refit, _ = load_checkpoint(out)
    assert refit.config.critic == critic and refit.steps == method.steps + 4
    for mine, theirs in (
        (frozen, refit.model.state_dict()),
        (ema, refit.ema.model.state_dict()),
        (inverse, refit.aux["inverse_dynamics"].state_dict()),
    ):
        for k, v in mine.items():
            assert torch.equal(v, theirs[k]), k
    old_critic = method.aux["critic"].state_dict()
    assert any(not torch.equal(v, refit.aux["critic"].state_dict()[k]) for k, v in old_critic.items())
    assert len(refit.targets) == (1 if critic == "td" else 0)


def test_rsbench_critic_refits_a_checkpoint(pointmass_data, tmp_path, run_cli) -> None:
    """The command line of fit_critic; a checkpoint of another method or a non-critic field is one line, exit 2."""
    from rsbench.train.fit import fit

    config = get("rs_diffuser").Config.tiny().replace(critic="mc")
    method = create("rs_diffuser", Space.from_data(pointmass_data), config)
    fit(method, pointmass_data, 3, batch_size=8)
    trained = save_checkpoint(tmp_path / "trained", method)
    args = ["critic", str(trained), "--dataset", "pointmass-mixed", "--steps", "2", "--batch-size", "8"]
    code, err = run_cli([*args, "--out", str(tmp_path / "refit"), "--set", "critic=td"])
    assert code == 0, err
    refit, _ = load_checkpoint(tmp_path / "refit" / "step-000000005")
    assert refit.config.critic == "td"
    code, err = run_cli([*args, "--out", str(tmp_path / "bad"), "--set", "horizon=16"])
    assert code == 2 and "changes only" in err and len(err.strip().splitlines()) == 1
    cql = create("cql", Space.from_data(pointmass_data), get("cql").Config.tiny())
    other = save_checkpoint(tmp_path / "cql", cql)
    code, err = run_cli(["critic", str(other), "--dataset", "pointmass-mixed", "--steps", "2", "--out", "x"])
    assert code == 2 and "expected an rs_diffuser checkpoint" in err
