import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rsbench.envs import SPECS, TASKS, RiskSpec, make
from rsbench.envs.policies import detour, shortcut

INFO_KEYS = {"violation", "cost", "penalty", "base_reward"}


def rollout(env, policy, seed):
    obs, info = env.reset(seed=seed)
    rewards, flags = [], []
    while True:
        obs, r, term, trunc, info = env.step(policy(obs[None])[0])
        rewards.append(r)
        flags.append((info["violation"], info["penalty"], info["cost"]))
        if term or trunc:
            return rewards, flags


@pytest.mark.parametrize("task_id", list(TASKS))
def test_every_task_steps_with_risk_info(task_id, tmp_path: Path):
    env = make(task_id)
    assert env.spec.max_episode_steps == TASKS[task_id].horizon
    _, info = env.reset(seed=0)
    assert set(info) >= INFO_KEYS and info["episode_seed"] == 0
    _, reward, *_, info = env.step(env.action_space.sample())
    assert set(info) >= INFO_KEYS
    assert info["cost"] == float(info["violation"])
    assert reward == pytest.approx(info["base_reward"] + (SPECS[task_id].penalty if info["penalty"] else 0))
    env.close()
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_registered_ids_work_through_gym_make():
    env = gym.make("rsbench/RiskyPointMass-v0")
    assert env.spec.additional_wrappers == ()
    env.reset(seed=3)


def test_same_seed_same_episode_including_penalties():
    env = make("rsbench/RiskyPointMass-v0")
    assert rollout(env, shortcut, 11) == rollout(env, shortcut, 11)
    # Plain resets after a seeded one continue a reproducible stream of episode seeds.
    env.reset(seed=5)
    first = [env.reset()[1]["episode_seed"] for _ in range(3)]
    env.reset(seed=5)
    assert [env.reset()[1]["episode_seed"] for _ in range(3)] == first


def test_shortcut_crosses_the_hazard_and_detour_avoids_it():
    env = make("rsbench/RiskyPointMass-v0")
    _, flags = rollout(env, shortcut, 0)
    assert sum(v for v, _, _ in flags) >= 3
    _, flags = rollout(env, detour, 0)
    assert sum(v for v, _, _ in flags) == 0


def test_user_declared_spec_replaces_the_pinned_one():
    spec = RiskSpec.from_dict({"when": [{"obs": 0, "op": "<", "value": 2.0}], "penalty": -1.0, "prob": 1.0})
    env = make("rsbench/RiskyPointMass-v0", spec=spec, horizon=5)
    env.reset(seed=0)
    _, r, _, _, info = env.step(np.zeros(2, np.float32))
    assert info["violation"] and info["penalty"] and r == pytest.approx(info["base_reward"] - 1.0)
    assert env.spec.max_episode_steps == 5


def test_unknown_task_is_a_clear_error():
    with pytest.raises(KeyError, match="RiskyPointMass"):
        make("rsbench/Nope-v0")


# gymnasium's own checker: spaces, seeding determinism, reset/step signatures, dtypes. MuJoCo's observation
# boxes are unbounded by design (gymnasium's own v5 envs warn the same); every other warning fails the test.
_ALLOWED_CHECKER_WARNINGS = ("observation space minimum value is -infinity", "maximum value is infinity")


@pytest.mark.parametrize("task_id", list(TASKS))
@pytest.mark.parametrize("layer", ["registered", "base"])
def test_gymnasium_check_env(task_id: str, layer: str, tmp_path: Path) -> None:
    from gymnasium.utils.env_checker import check_env

    import rsbench  # noqa: F401  (the package import alone registers the ids)

    env = gym.make(task_id, disable_env_checker=True)
    target = env if layer == "registered" else env.unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(target, skip_render_check=True)
    allowed = (*_ALLOWED_CHECKER_WARNINGS, "is different from the unwrapped version")
    unexpected = [str(w.message) for w in caught if not any(a in str(w.message) for a in allowed)]
    assert unexpected == []
    env.close()
