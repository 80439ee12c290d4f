"""Offline relabelling gives exactly the rewards and flags of the online risky env."""

from pathlib import Path

import numpy as np
import pytest

from rsbench.data import store
from rsbench.data.offline import load, read_episodes
from rsbench.data.relabel import default_relabel_id, relabel
from rsbench.envs import SPECS, RiskSpec, make

# A low speed threshold makes violations (and so penalty draws) frequent in a short random rollout.
LOW_SPEED = RiskSpec.from_dict(
    {"name": "cheetah-slow", "when": [{"obs": 8, "op": ">", "value": 0.3}], "penalty": -70.0, "prob": 0.3}
)


def record_plain_halfcheetah(episodes: int = 3, steps: int = 60) -> str:
    """A risk-free HalfCheetah-v5 dataset recorded with seeded resets and random actions."""
    import gymnasium as gym
    import minari
    import mujoco

    mujoco.set_mju_user_warning(lambda m: None)
    store.ensure_datasets_env()
    env = minari.DataCollector(gym.make("HalfCheetah-v5"), data_format="hdf5")
    rng = np.random.default_rng(0)
    for ep in range(episodes):
        env.reset(seed=100 + ep)
        for _ in range(steps):
            env.step(rng.uniform(-1, 1, 6).astype(np.float32))
    env.create_dataset("test/halfcheetah/random-v0", algorithm_name="random", author="test")
    return "test/halfcheetah/random-v0"


@pytest.mark.parametrize(
    "spec", [SPECS["rsbench/RiskyHalfCheetah-v0"], LOW_SPEED], ids=["pinned", "low-speed"]
)
def test_relabelled_matches_online_rollout_step_for_step(spec, tmp_path: Path):
    source = record_plain_halfcheetah()
    new_id, written = relabel(source, spec, task_id="rsbench/RiskyHalfCheetah-v0")
    assert written and new_id == "rsbench/test-halfcheetah-random-risky-v1"
    relabelled = read_episodes(store.load_minari(new_id))
    online_env = make("rsbench/RiskyHalfCheetah-v0", spec=spec, horizon=1000)
    fired = 0
    for ep in relabelled:
        obs, _ = online_env.reset(seed=ep["seed"])
        np.testing.assert_array_equal(obs, ep["observations"][0])
        for t, action in enumerate(ep["actions"]):
            obs, reward, _, _, info = online_env.step(action)
            np.testing.assert_array_equal(obs, ep["observations"][t + 1])
            assert reward == ep["rewards"][t]
            assert info["violation"] == ep["violation"][t] and info["penalty"] == ep["penalty"][t]
            fired += info["penalty"]
    if spec is LOW_SPEED:
        assert fired > 5
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_relabelling_twice_with_same_seed_is_identical(pointmass_root: Path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    spec = RiskSpec.from_dict(
        {
            "when": [{"disc": {"indices": [0, 1], "center": [0.5, 0.5], "radius": 0.3}}],
            "penalty": -50,
            "prob": 0.5,
        }
    )
    out = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        new_id, _ = relabel("rsbench/pointmass-mixed-v1", spec, seed=seed, new_id=f"test/pm-{name}-v0")
        out[name] = load(new_id)
    assert np.array_equal(out["a"].rewards, out["b"].rewards)
    assert np.array_equal(out["a"].penalties, out["b"].penalties)
    assert not np.array_equal(out["a"].penalties, out["c"].penalties)
    # Relabelling replaces the recorded penalty instead of stacking a second one on top.
    src = load("rsbench/pointmass-mixed-v1")
    base = src.rewards - SPECS["rsbench/RiskyPointMass-v0"].penalty * src.penalties
    np.testing.assert_allclose(out["a"].rewards, base + spec.penalty * out["a"].penalties)
    assert out["a"].metadata["relabelled_from"] == "rsbench/pointmass-mixed-v1"


def test_default_relabel_id():
    assert default_relabel_id("mujoco/halfcheetah/medium-v0") == "rsbench/halfcheetah-medium-risky-v1"
