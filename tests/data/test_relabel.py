"""Offline relabelling gives exactly the rewards and flags of the online risky env."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rsbench import cli
from rsbench.behaviour.committed import task_reference_scores
from rsbench.data import store
from rsbench.data.catalog import dataset_id_for
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
    env.close()  # removes the collector's temporary directory from the datasets root
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
        new_id, _ = relabel("rsbench/pointmass-mixed-200ep-v1", spec, seed=seed, new_id=f"test/pm-{name}-v0")
        out[name] = load(new_id)
    assert np.array_equal(out["a"].rewards, out["b"].rewards)
    assert np.array_equal(out["a"].penalties, out["b"].penalties)
    assert not np.array_equal(out["a"].penalties, out["c"].penalties)
    # Relabelling replaces the recorded penalty instead of stacking a second one on top.
    src = load("rsbench/pointmass-mixed-200ep-v1")
    base = src.rewards - SPECS["rsbench/RiskyPointMass-v0"].penalty * src.penalties
    np.testing.assert_allclose(out["a"].rewards, base + spec.penalty * out["a"].penalties)
    assert out["a"].metadata["relabelled_from"] == "rsbench/pointmass-mixed-200ep-v1"


def test_default_relabel_id():
    assert default_relabel_id("mujoco/halfcheetah/medium-v0") == "rsbench/halfcheetah-medium-risky-v1"


# -- Minari's remote layout (fixture: tests/data/conftest.py) --

HALFCHEETAH_SOURCE = "mujoco/halfcheetah/medium-v0"
HALFCHEETAH_RISKY = "rsbench/halfcheetah-medium-risky-v1"


def _relabel_cli(args: list[str]) -> dict:
    """``rsbench data relabel ... --json`` through the typer app; returns its JSON report."""
    result = CliRunner().invoke(cli.app, ["data", "relabel", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


STEP_KEYS = ("observations", "actions", "rewards", "terminations", "truncations")
FLAG_KEYS = ("violation", "penalty", "base_reward")


def _arrays(dataset_id: str, keys: tuple[str, ...] = STEP_KEYS + FLAG_KEYS) -> dict[str, np.ndarray]:
    """Per-step arrays of a local dataset, episodes concatenated (``observations`` without the last one)."""
    episodes = read_episodes(store.load_minari(dataset_id))
    out = {k: np.concatenate([ep[k] for ep in episodes]) for k in keys if k != "observations"}
    if "observations" in keys:
        out["observations"] = np.concatenate([ep["observations"][:-1] for ep in episodes])
        out["next_observations"] = np.concatenate([ep["observations"][1:] for ep in episodes])
    return out


def test_remote_layout_is_what_minari_download_leaves(minari_remote_root: Path):
    import minari
    from minari.namespace import get_namespace_metadata, list_local_namespaces

    assert (minari_remote_root / "mujoco/halfcheetah/medium-v0/data/main_data.hdf5").is_file()
    assert list_local_namespaces() == ["mujoco", "mujoco/halfcheetah", "mujoco/hopper"]
    assert get_namespace_metadata("mujoco")["display_name"] == "MuJoCo"
    dataset = minari.load_dataset(HALFCHEETAH_SOURCE)
    meta = dataset.storage.metadata
    assert dataset.spec.env_spec.id == "HalfCheetah-v5" and dataset.spec.env_spec.max_episode_steps == 1000
    assert json.loads(meta["eval_env_spec"])["id"] == "HalfCheetah-v5"
    assert meta["data_format"] == "hdf5" and meta["total_episodes"] == 3 and meta["total_steps"] == 3000
    assert {"algorithm_name", "author", "code_permalink", "minari_version", "dataset_size"} <= meta.keys()
    assert dataset.observation_space.dtype == np.float64 and dataset.observation_space.shape == (17,)
    assert dataset.action_space.dtype == np.float32 and dataset.action_space.shape == (6,)
    ep = next(dataset.iterate_episodes())
    assert ep.observations.shape == (1001, 17) and ep.actions.shape == (1000, 6)
    assert ep.infos == {} and ep.truncations[-1] and not ep.terminations.any()
    hopper = minari.load_dataset("mujoco/hopper/medium-v0")
    assert all(e.terminations[-1] for e in hopper.iterate_episodes())
    assert "ref_min_score" not in hopper.storage.metadata


def test_relabel_remote_halfcheetah_through_the_cli(minari_remote_root: Path):
    import minari

    report = _relabel_cli([HALFCHEETAH_SOURCE])
    assert report["dataset"] == HALFCHEETAH_RISKY == dataset_id_for("halfcheetah-medium-risky")
    assert report["written"] and report["risk_spec"] == SPECS["rsbench/RiskyHalfCheetah-v0"].to_dict()

    spec = SPECS["rsbench/RiskyHalfCheetah-v0"]
    src, out = _arrays(HALFCHEETAH_SOURCE, STEP_KEYS), _arrays(HALFCHEETAH_RISKY)
    for key in ("observations", "next_observations", "actions", "terminations", "truncations"):
        np.testing.assert_array_equal(out[key], src[key])
    np.testing.assert_array_equal(out["base_reward"], src["rewards"])
    np.testing.assert_array_equal(out["violation"], spec.violation(out["next_observations"]))
    assert out["violation"].mean() > 0.1  # the gait runs faster than 4 m/s a good part of the time
    assert not (out["penalty"] & ~out["violation"]).any() and out["penalty"].sum() > 5
    np.testing.assert_allclose(out["rewards"], out["base_reward"] + spec.penalty * out["penalty"])

    relabelled = minari.load_dataset(HALFCHEETAH_RISKY)
    meta = relabelled.storage.metadata
    # Minari's top-level references are the risky task's at its horizon (rsbench's random and PPO expert on
    # RiskyHalfCheetah, 200 steps), never the source's risk-free 1000-step ones, which keep a source_ name.
    risky = task_reference_scores("rsbench/RiskyHalfCheetah-v0")
    assert (meta["ref_min_score"], meta["ref_max_score"]) == (risky["ref_min_score"], risky["ref_max_score"])
    assert (meta["source_ref_min_score"], meta["source_ref_max_score"]) == (-275.0, 11000.0)
    returns = np.array([risky["ref_min_score"], risky["ref_max_score"], 11000.0])
    score = minari.get_normalized_score(relabelled, returns)
    np.testing.assert_allclose(score[:2], [0.0, 1.0])
    assert score[2] > 20  # the source's expert return is off the risky task's scale, not 1.0
    assert load(HALFCHEETAH_RISKY).reference_scores == (risky["ref_min_score"], risky["ref_max_score"])
    assert meta["rsbench"]["source_reference_scores"]["env_id"] == "HalfCheetah-v5"
    assert "risk-free" in meta["rsbench"]["source_reference_scores"]["note"]
    assert meta["rsbench"]["relabelled_from"] == HALFCHEETAH_SOURCE
    assert meta["rsbench"]["task_id"] == "rsbench/RiskyHalfCheetah-v0"
    assert relabelled.spec.env_spec.max_episode_steps == 1000  # the data's own time limit ...
    assert relabelled.recover_environment(eval_env=True).spec.max_episode_steps == 200  # ... and the task's


def test_recovered_env_of_a_relabelled_remote_dataset_replays_its_rewards(minari_remote_root: Path):
    """The relabelled dataset names its env (risk spec, penalty salt, time limit): replaying the recorded
    actions in ``recover_environment()`` gives back the recorded rewards and flags."""
    import minari

    new_id, _ = relabel(HALFCHEETAH_SOURCE, LOW_SPEED, seed=7)
    dataset = minari.load_dataset(new_id)
    env = dataset.recover_environment()
    ep = read_episodes(dataset)[1]
    obs, _ = env.reset(seed=ep["seed"])
    np.testing.assert_array_equal(obs, ep["observations"][0])
    for t, action in enumerate(ep["actions"]):
        obs, reward, terminated, truncated, info = env.step(action)
        assert reward == ep["rewards"][t] and info["penalty"] == ep["penalty"][t]
    assert truncated and not terminated and t == 999
    assert ep["penalty"].sum() > 5
    # Evaluation: the same risk spec on the task at its own horizon.
    eval_spec = dataset.recover_environment(eval_env=True).spec
    assert eval_spec.kwargs["spec"] == LOW_SPEED.to_dict() and eval_spec.max_episode_steps == 200


def test_relabel_remote_hopper_keeps_terminations_and_gets_the_risky_task_references(
    minari_remote_root: Path,
):
    report = _relabel_cli(["mujoco/hopper/medium-v0", "--seed", "3"])
    assert report["dataset"] == "rsbench/hopper-medium-risky-v1"
    data = load(report["dataset"])
    assert data.terminals[data.episode_starts + data.episode_lengths - 1].all()
    assert data.has_risk_flags and data.penalties.sum() > 0
    meta = store.read_metadata(report["dataset"])
    assert meta["ref_max_score"] == task_reference_scores("rsbench/RiskyHopper-v0")["ref_max_score"]
    assert "source_ref_min_score" not in meta and "source_reference_scores" not in meta["rsbench"]


def test_a_user_spec_relabel_has_no_reference_scores_and_minari_cannot_normalise_it(minari_remote_root: Path):
    """With a spec of the user's, no references exist for the risky task: the source's risk-free ones are
    kept only as source_*, so ``minari.get_normalized_score`` raises instead of returning a number
    computed from them."""
    import minari

    new_id, _ = relabel(HALFCHEETAH_SOURCE, LOW_SPEED, seed=0, new_id="test/slow-v0")
    dataset = minari.load_dataset(new_id)
    meta = dataset.storage.metadata
    assert "ref_min_score" not in meta and "ref_max_score" not in meta
    assert (meta["source_ref_min_score"], meta["source_ref_max_score"]) == (-275.0, 11000.0)
    with pytest.raises(ValueError, match="Reference score not provided"):
        minari.get_normalized_score(dataset, np.array([100.0]))
    assert load(new_id).reference_scores is None


def test_relabelling_the_remote_layout_twice_with_one_seed_is_identical(minari_remote_root: Path):
    for out_id, seed in (("test/a-v0", 5), ("test/b-v0", 5), ("test/c-v0", 6)):
        relabel(HALFCHEETAH_SOURCE, LOW_SPEED, seed=seed, new_id=out_id)
    a, b, c = _arrays("test/a-v0"), _arrays("test/b-v0"), _arrays("test/c-v0")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(a["penalty"], c["penalty"])


def test_relabel_of_a_remote_id_not_downloaded_names_minari_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(sys, "argv", ["rsbench", "data", "relabel", HALFCHEETAH_SOURCE])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    root = tmp_path / "datasets"
    assert lines[0].startswith(f"rsbench: error: source: no Minari dataset '{HALFCHEETAH_SOURCE}'")
    assert lines[0].endswith(f"`MINARI_DATASETS_PATH={root} minari download {HALFCHEETAH_SOURCE}`")
