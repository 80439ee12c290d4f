"""RAMAC's Stochastic-D4RL hazards as their own pinned family (``ramac-1``), beside v1, never changing it.

The numbers are RAMAC's (https://github.com/KaiFukazawa/RAMAC: environment/risky_wrappers.py,
environment/configs/*.yaml, configs/radac.yaml, main.py's default_eval_horizon), checked 2026-12-06.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rsbench.envs import SPECS, TASKS, RiskSpec, make
from rsbench.envs.registration import RAMAC_SPECS
from rsbench.envs.spec import RAMAC_SPEC_VERSION, SpecError

# task -> (observation index, a violating value, a safe value, penalty, probability, horizon)
EXPECTED = {
    "rsbench/RAMAC-HalfCheetah-medium-expert-v0": (8, -10.5, 9.9, -70.0, 0.05, 200),
    "rsbench/RAMAC-HalfCheetah-medium-replay-v0": (8, 5.1, -4.9, -60.0, 0.05, 200),
    "rsbench/RAMAC-Hopper-medium-expert-v0": (1, 0.05, -0.16, -50.0, 0.1, 500),
    "rsbench/RAMAC-Hopper-medium-replay-v0": (1, -0.11, 0.09, -50.0, 0.1, 500),
    "rsbench/RAMAC-Walker2d-medium-expert-v0": (1, 0.51, -0.49, -30.0, 0.1, 500),
    "rsbench/RAMAC-Walker2d-medium-replay-v0": (1, -0.51, 0.49, -30.0, 0.1, 500),
}


def test_six_tasks_pinned_with_their_own_version() -> None:
    assert set(RAMAC_SPECS) == set(EXPECTED)
    for task_id, (index, bad, good, penalty, prob, horizon) in EXPECTED.items():
        spec = SPECS[task_id]
        assert spec.version == RAMAC_SPEC_VERSION and (spec.penalty, spec.prob) == (penalty, prob)
        assert TASKS[task_id].horizon == horizon
        obs = np.zeros((2, 17))
        obs[0, index], obs[1, index] = bad, good
        assert spec.violation(obs).tolist() == [True, False], task_id
        assert RiskSpec.from_dict(spec.to_dict()) == spec


def test_v1_is_untouched() -> None:
    """v1 keeps O-RAAC's forward-only speed and its healthy-and-pitch conditions; the RAMAC variants differ."""
    assert SPECS["rsbench/RiskyHalfCheetah-v0"].to_dict() == {
        "name": "halfcheetah-speed",
        "version": 1,
        "when": [{"obs": 8, "op": ">", "value": 4.0}],
        "penalty": -70.0,
        "prob": 0.05,
    }
    backwards = np.zeros((1, 17))
    backwards[0, 8] = -11.0
    assert not SPECS["rsbench/RiskyHalfCheetah-v0"].violation(backwards)[0]
    assert SPECS["rsbench/RAMAC-HalfCheetah-medium-expert-v0"].violation(backwards)[0]


def test_the_base_tasks_already_end_where_ramac_ends_an_episode() -> None:
    """RAMAC ends an episode at |pitch| > done_if_exceed_factor * |high|: 100 * 0.04 = 4.0 (Hopper ME),
    2 * 0.1 = 0.2 (Hopper MR), 2 * 0.5 = 1.0 (Walker2d): never before the v5 tasks' unhealthy termination."""
    for base, ramac_limits in (("Hopper-v5", (4.0, 0.2)), ("Walker2d-v5", (1.0, 1.0))):
        env = gym.make(base).unwrapped
        low, high = env._healthy_angle_range
        assert env._terminate_when_unhealthy
        assert all(limit >= max(-low, high) for limit in ramac_limits)
        env.close()


@pytest.mark.parametrize("task_id", list(EXPECTED))
def test_penalty_is_added_and_reproducible(task_id: str) -> None:
    def episode():
        env = make(task_id, horizon=60)
        env.reset(seed=3)
        rng = np.random.default_rng(0)
        out = []
        for _ in range(60):
            _, reward, term, trunc, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
            assert reward == pytest.approx(info["base_reward"] + SPECS[task_id].penalty * info["penalty"])
            assert not info["penalty"] or info["violation"]
            out.append((reward, info["violation"]))
            if term or trunc:
                break
        env.close()
        return out

    assert episode() == episode()


def test_outside_clause_in_a_user_spec() -> None:
    spec = RiskSpec.from_dict({"when": [{"obs": 1, "outside": [-0.2, 0.1]}], "penalty": -5, "prob": 0.5})
    assert spec.violation(np.array([[0, -0.3], [0, 0.0], [0, 0.2]])).tolist() == [True, False, True]
    with pytest.raises(SpecError, match=r"risk.when\[0\].outside: expected low < high"):
        RiskSpec.from_dict({"when": [{"obs": 1, "outside": [0.1, -0.2]}], "penalty": -5, "prob": 0.5})
    with pytest.raises(SpecError, match=r"risk.version: expected 1 or 'ramac-1', got 7"):
        RiskSpec.from_dict(
            {"version": 7, "when": [{"obs": 1, "op": ">", "value": 0}], "penalty": -5, "prob": 0.5}
        )
