"""The conformance suite: every registered method (and the example method files) honours the protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rsbench.eval.rollout import evaluate
from rsbench.methods import Space, available, create, get, load_method_file
from rsbench.methods.base import MethodConfig
from rsbench.risk import RiskSetting
from rsbench.train import fit, load_checkpoint, save_checkpoint

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bc_method.py"
NOISY = Path(__file__).resolve().parent / "noisy_method.py"  # a method file that draws while acting
load_method_file(EXAMPLE)
load_method_file(NOISY)
METHODS = available()
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


def _obs(data, n: int = 5) -> np.ndarray:
    return data.observations[np.linspace(0, data.n_steps - 1, n).astype(int)]


def _trained(name: str, data, device: str = "cpu", steps: int = 3):
    method = create(name, Space.from_data(data), get(name).Config.tiny(), seed=0, device=device)
    fit(method, data, steps, batch_size=8, log_every=1)
    return method


def test_the_builtin_planners_are_registered() -> None:
    assert {"diffuser", "decision_diffuser", "rs_diffuser", "bc_example", "noisy_example"} <= set(METHODS)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", METHODS)
def test_update_returns_finite_losses(name: str, device: str, pointmass_data) -> None:
    method = create(name, Space.from_data(pointmass_data), get(name).Config.tiny(), device=device)
    result = fit(method, pointmass_data, 3, batch_size=8, log_every=1)
    assert len(result.curves) == 3
    losses = {k: v for k, v in result.curves[-1].items() if k not in ("step", "wall_time")}
    assert losses and all(np.isfinite(v) for v in losses.values())
    assert method.steps == 3


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", METHODS)
def test_act_is_batched_and_within_bounds(name: str, device: str, pointmass_data) -> None:
    method = _trained(name, pointmass_data, device)
    space = method.space
    risks = (
        [None, "neutral", "cvar:0.1", RiskSetting("seeking", 0.9), "wang:-0.7"]
        if method.risk_aware
        else [None]
    )
    for risk in risks:
        for n in (1, 7):
            actions = method.act(_obs(pointmass_data, n), risk=risk)
            assert actions.shape == (n, space.act_dim) and actions.dtype == np.float32
            assert np.all(actions >= np.array(space.action_low) - 1e-6)
            assert np.all(actions <= np.array(space.action_high) + 1e-6)


@pytest.mark.parametrize("name", METHODS)
def test_a_method_that_is_not_risk_aware_ignores_the_inference_risk(name: str, pointmass_data) -> None:
    """What suites rely on to accept only its training risk as a label (docs/design.md §4 "Risk labels")."""
    method = _trained(name, pointmass_data)
    accepted = method.accepted_risks(method.config)
    if method.risk_aware:  # any label: act follows it
        assert accepted is None
        return
    assert accepted == (method.training_risk(method.config),)
    obs = _obs(pointmass_data, 4)
    actions = [
        method.act(obs, risk=risk, generator=torch.Generator().manual_seed(1))
        for risk in ("neutral", "cvar:0.1", "seeking:0.9")
    ]
    assert all(np.array_equal(a, actions[0]) for a in actions[1:])


# Inference overrides at which a risk-aware method declares that it ignores the risk (``Method.ignores_risk``).
RISK_FREE_POINTS = {"rs_diffuser": {"guidance_scale": 0.0, "candidates": 1}}


@pytest.mark.parametrize("name", METHODS)
def test_a_declared_risk_free_point_acts_the_same_at_every_risk(name: str, pointmass_data) -> None:
    """What the evaluation relies on to roll such a point out once and store it under every risk setting."""
    method = _trained(name, pointmass_data)
    point = RISK_FREE_POINTS.get(name, {})
    assert method.ignores_risk(**point), f"{name} at {point} should declare that it ignores the risk"
    obs = _obs(pointmass_data, 4)
    actions = [
        method.act(obs, risk=risk, generator=torch.Generator().manual_seed(1), **point)
        for risk in ("neutral", "cvar:0.1", "seeking:0.9")
    ]
    assert all(np.array_equal(a, actions[0]) for a in actions[1:])


@pytest.mark.parametrize("name", METHODS)
def test_save_load_round_trip_gives_identical_actions(name: str, pointmass_data, tmp_path: Path) -> None:
    method = _trained(name, pointmass_data)
    obs = _obs(pointmass_data)
    risk = "cvar:0.1" if method.risk_aware else None

    def actions(m) -> np.ndarray:
        return m.act(obs, risk=risk, generator=torch.Generator().manual_seed(7))

    expected = actions(method)
    assert np.array_equal(actions(method), expected), "act is not deterministic under a fixed generator"
    clone = create(name, method.space, method.config, seed=123)
    clone.load_state_dict(method.state_dict())
    assert np.array_equal(actions(clone), expected)
    restored, _ = load_checkpoint(save_checkpoint(tmp_path, method))
    assert type(restored) is type(method) and restored.steps == method.steps
    assert np.array_equal(actions(restored), expected)


@pytest.mark.parametrize("name", METHODS)
def test_config_yaml_round_trip(name: str) -> None:
    cls = get(name).Config
    assert issubclass(cls, MethodConfig)
    for config in (cls(), cls.tiny()):
        text = yaml.safe_dump(config.to_dict())
        assert cls.from_dict(yaml.safe_load(text)) == config
    import dataclasses

    undocumented = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("doc")]
    assert not undocumented, f"{name}: config fields without documentation: {undocumented}"


@pytest.mark.parametrize("name", METHODS)
def test_same_seed_same_weights_and_training(name: str, pointmass_data) -> None:
    a, b = _trained(name, pointmass_data), _trained(name, pointmass_data)
    for (ka, va), (kb, vb) in zip(
        a.state_dict()["components"].items(), b.state_dict()["components"].items(), strict=True
    ):
        assert ka == kb
        if isinstance(va, dict) and all(torch.is_tensor(v) for v in va.values()):
            for key in va:
                assert torch.equal(va[key], vb[key]), f"{name}: {ka}.{key} differs between identical runs"


@pytest.mark.parametrize("name", METHODS)
def test_inference_overrides_are_checked(name: str, pointmass_data) -> None:
    method = _trained(name, pointmass_data, steps=1)
    training_only = [f for f in method.config.to_dict() if f not in method.Config.inference_fields()]
    with pytest.raises(ValueError, match="cannot change at inference time"):
        method.act(_obs(pointmass_data), **{training_only[0]: method.config.to_dict()[training_only[0]]})
    for field in method.Config.inference_fields():
        method.act(_obs(pointmass_data, 2), **{field: getattr(method.config, field)})


@pytest.mark.parametrize("name", METHODS)
def test_policy_follows_the_evaluator_protocol(name: str, pointmass_data) -> None:
    method = _trained(name, pointmass_data, steps=1)
    extra = {"replan_every": 2} if "replan_every" in method.Config.inference_fields() else {}
    policy = method.policy(risk="cvar:0.1" if method.risk_aware else None, seed=3, **extra)
    obs = _obs(pointmass_data, 6)
    ids = np.arange(6)
    for step in range(4):  # episodes drop out of the batch as they end
        actions = policy(obs[ids], env_ids=ids, step=step)
        assert actions.shape == (ids.size, method.space.act_dim)
        ids = ids[:-1]


def _risk_settings(method) -> list[str | None]:
    return ["neutral", "cvar:0.1", "seeking:0.9"] if method.risk_aware else [None]


@pytest.mark.parametrize("name", METHODS)
def test_an_episode_does_not_depend_on_the_batch_it_is_evaluated_in(name: str, pointmass_data) -> None:
    """Per-episode randomness (docs/design.md §4): the first k episodes of an n-episode evaluation equal a
    k-episode evaluation, at every risk setting the method supports, replanning or not. Equal up to float
    rounding: a matrix product's rounding may depend on the batch size."""
    method = _trained(name, pointmass_data)
    replan = "replan_every" in method.Config.inference_fields()
    for i, risk in enumerate(_risk_settings(method)):
        setting = RiskSetting.parse(risk) if risk else None
        for extra in [{}, {"replan_every": 2}] if replan and i == 0 else [{}]:

            def run(n: int, risk=risk, setting=setting, extra=extra):
                policy = method.policy(risk=risk, seed=5, **extra)
                return evaluate(policy, "rsbench/RiskyPointMass-v0", n, seed=1, horizon=5, risk=setting)

            few, many = run(2), run(4)
            where = f"{name} at {risk} {extra}"
            np.testing.assert_allclose(many.returns[:2], few.returns, rtol=1e-5, atol=1e-6, err_msg=where)
            assert np.array_equal(many.violation_steps[:2], few.violation_steps), where
