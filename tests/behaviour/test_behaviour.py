"""Behaviour policies: export from SB3, torch-only loading, committed files, datasets recorded from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsbench.behaviour.committed import POLICIES_DIR, provenance
from rsbench.behaviour.evaluate import stochastic
from rsbench.behaviour.policy import load_policy

COMMITTED = sorted(POLICIES_DIR.glob("**/*.pt"))
needs_committed = pytest.mark.skipif(not COMMITTED, reason="no behaviour policies committed yet")


def test_export_matches_sb3_deterministic_actions(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from rsbench.behaviour.train import _make_env, export

    venv = _make_env("Hopper-v5", seed=0, n_envs=2)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(128)  # moves the weights and the VecNormalize statistics away from their init
    export(model, venv, {"steps": 128}).save(tmp_path / "p.pt")
    policy = load_policy(tmp_path / "p.pt")
    obs = np.random.default_rng(0).normal(size=(16, 11)) * 2.0
    expected, _ = model.predict(venv.normalize_obs(obs), deterministic=True)
    np.testing.assert_allclose(policy.mean_action(obs), expected, atol=1e-5)
    assert policy.provenance == {"steps": 128}


def test_stochastic_actions_are_keyed_by_episode_and_step() -> None:
    import torch

    from rsbench.behaviour.policy import BehaviourPolicy, mlp

    g = torch.Generator().manual_seed(0)
    net = mlp(
        [torch.randn(8, 3, generator=g), torch.randn(2, 8, generator=g)], [torch.zeros(8), torch.zeros(2)]
    )
    policy = BehaviourPolicy(net, torch.full((2,), -1.0), np.zeros(3), np.ones(3))
    act = stochastic(policy, seed=1)
    obs = np.random.default_rng(0).normal(size=(5, 3))
    seeds = np.array([10, 11, 12, 13, 14])
    full = act(obs, step=3, episode_seeds=seeds)
    np.testing.assert_array_equal(act(obs[2:4], step=3, episode_seeds=seeds[2:4]), full[2:4])
    assert not np.array_equal(act(obs, step=4, episode_seeds=seeds), full)


@needs_committed
def test_committed_policies_load_with_torch_alone_and_are_small() -> None:
    code = (
        "import sys, torch\n"
        f"paths = {[str(p) for p in COMMITTED]!r}\n"
        "for p in paths:\n"
        "    d = torch.load(p, weights_only=True)\n"
        "    assert d['format'] == 'rsbench-behaviour-v1' and d['weights'], p\n"
        "assert 'stable_baselines3' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert sum(p.stat().st_size for p in COMMITTED) < 5 * 2**20


@needs_committed
@pytest.mark.parametrize("task", ["halfcheetah", "hopper", "walker2d"])
def test_provenance_records_levels_and_reference_scores(task: str) -> None:
    record = provenance()[task]
    p = record["policies"]
    assert (
        record["ref_min_score"]
        == p["random"]["risky_mean"]
        < record["ref_max_score"]
        == p["expert"]["risky_mean"]
    )
    # D4RL's medium: about a third of the expert's return on the (risk-unaware) base task.
    assert 0.2 < p["medium"]["base_mean"] / p["expert"]["base_mean"] < 0.5
    assert p["medium"]["steps"] < p["expert"]["steps"] == record["train"]["steps"]
    assert record["train"]["seed"] == 0 and "rsbench behaviour train" in record["train"]["command"]
    replay = sorted((POLICIES_DIR / task / "replay").glob("step_*.pt"))
    assert replay and int(replay[-1].stem.split("_")[1]) == p["medium"]["steps"]


@needs_committed
@pytest.mark.parametrize("name", ["hopper-medium", "halfcheetah-medium-replay", "walker2d-medium-expert"])
def test_tiny_policy_dataset_has_reference_scores_and_is_deterministic(name: str) -> None:
    import minari

    from rsbench.data.build import build
    from rsbench.data.coverage import tail_coverage
    from rsbench.data.offline import load
    from rsbench.eval.metrics import normalised_score

    dataset_id, built = build(name, episodes=2, seed=3, progress=False)
    assert built
    first = load(dataset_id)
    dataset = minari.load_dataset(dataset_id)
    task = name.split("-")[0]
    assert dataset.storage.metadata["ref_max_score"] == pytest.approx(provenance()[task]["ref_max_score"])
    returns = first.episode_returns()
    assert first.reference_scores is not None
    np.testing.assert_allclose(
        100 * minari.get_normalized_score(dataset, returns),
        normalised_score(returns, *first.reference_scores),
    )
    build(name, episodes=2, seed=3, progress=False, force=True)
    again = load(dataset_id)
    assert again.content_hash() == first.content_hash()
    assert tail_coverage(again)["content_hash"] == first.content_hash()
    build(name, episodes=2, seed=4, progress=False, force=True)
    assert load(dataset_id).content_hash() != first.content_hash()


@needs_committed
def test_build_by_steps_records_whole_episodes_up_to_the_target() -> None:
    from rsbench.data.build import build
    from rsbench.data.offline import load

    dataset_id, _ = build("halfcheetah-expert", steps=450, seed=0, progress=False)
    assert dataset_id == "rsbench/halfcheetah-expert-450-v1"
    data = load(dataset_id)
    assert data.n_steps >= 450 and data.n_steps - data.episode_lengths[-1] < 450
    assert data.metadata["build_seconds"] >= 0


def _parts(data) -> list[tuple[str, int, int, slice]]:
    """``(label, episodes, steps, episode slice)`` of each recorded part, checked against the arrays."""
    out, first = [], 0
    for part in data.metadata["parts"]:
        eps = slice(first, first + part["episodes"])
        assert int(data.episode_lengths[eps].sum()) == part["steps"]
        out.append((part["label"], part["episodes"], part["steps"], eps))
        first += part["episodes"]
    assert first == data.n_episodes
    return out


@needs_committed
def test_medium_expert_is_medium_then_expert_50_50_by_transitions() -> None:
    """D4RL's medium-expert: the medium and the expert data recorded separately and concatenated, half the
    transitions each (to within one episode), not a per-episode mixture (which gave 65% expert on Hopper)."""
    from rsbench.data.build import build
    from rsbench.data.offline import load

    both = load(build("hopper-medium-expert", steps=2000, seed=0, progress=False)[0])
    (medium, _, medium_steps, _), (expert, _, expert_steps, _) = _parts(both)
    assert (medium, expert) == ("medium", "expert")
    longest = int(both.episode_lengths.max())
    assert 1000 <= medium_steps < 1000 + longest and 1000 <= expert_steps < 1000 + longest
    assert abs(medium_steps - expert_steps) < longest
    # The medium part is the medium dataset of half the size, array for array; the expert part is not.
    alone = load(build("hopper-medium", steps=1000, seed=0, progress=False)[0])
    assert alone.n_steps == medium_steps
    np.testing.assert_array_equal(both.actions[:medium_steps], alone.actions)
    np.testing.assert_array_equal(both.rewards[:medium_steps], alone.rewards)
    assert len(set(both.episode_seeds.tolist())) == both.n_episodes  # no reset seed reused across parts


@needs_committed
@pytest.mark.parametrize("task", ["halfcheetah", "hopper", "walker2d"])
def test_replay_checkpoints_are_evenly_spaced_from_the_start_of_training_to_medium(task: str) -> None:
    """The committed checkpoints medium-replay records: evenly spaced in training steps, the first within
    one spacing of the start of training, the last the medium policy."""
    from rsbench.behaviour.committed import replay_checkpoints

    steps = np.array([int(p.stem.split("_")[1]) for p in replay_checkpoints(task)])
    spacing = np.diff(steps)
    assert len(steps) >= 3 and (spacing == spacing[0]).all()
    assert steps[0] <= spacing[0] and steps[-1] == provenance()[task]["policies"]["medium"]["steps"]


@needs_committed
def test_medium_replay_takes_equal_transitions_from_every_checkpoint() -> None:
    """D4RL's medium-replay is the replay buffer of training up to medium: every stretch of training holds
    the same number of transitions, so each checkpoint gives an equal share (to within one episode), in
    training order (not one checkpoint drawn per episode, where short early episodes were under-weighted)."""
    from rsbench.behaviour.committed import replay_checkpoints
    from rsbench.data.build import build
    from rsbench.data.offline import load

    data = load(build("hopper-medium-replay", steps=1500, seed=0, progress=False)[0])
    parts = _parts(data)
    assert [label for label, *_ in parts] == [p.stem for p in replay_checkpoints("hopper")]
    share = 1500 // len(parts)
    longest = int(data.episode_lengths.max())
    for label, _, steps, _ in parts:
        assert share <= steps < share + longest, label


def _random_policy(seed: int, obs_dim: int = 11, act_dim: int = 3):
    import torch

    from rsbench.behaviour.policy import BehaviourPolicy, mlp

    g = torch.Generator().manual_seed(seed)
    net = mlp(
        [torch.randn(16, obs_dim, generator=g) * 0.3, torch.randn(act_dim, 16, generator=g) * 0.3],
        [torch.zeros(16), torch.zeros(act_dim)],
    )
    return BehaviourPolicy(net, torch.full((act_dim,), -0.5), np.zeros(obs_dim), np.ones(obs_dim))


def test_lockstep_recording_equals_datacollector_episode_by_episode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batched policy recorder writes exactly the episodes minari.DataCollector records one by one."""
    import minari

    from rsbench.behaviour.evaluate import mixture
    from rsbench.data import build as build_module
    from rsbench.data.build import _risk_only_callback, build, episode_seeds
    from rsbench.data.catalog import RECIPES, Recipe
    from rsbench.data.offline import load, read_episodes
    from rsbench.envs import make

    policies = [_random_policy(0), _random_policy(1)]
    recipe = Recipe(
        "hopper-lockstep", "rsbench/RiskyHopper-v0", None, "test", episodes=7, policies=lambda: policies
    )
    monkeypatch.setitem(RECIPES, recipe.name, recipe)
    monkeypatch.setattr(build_module, "LOCKSTEP", 3)  # several waves, the last one cut short
    dataset_id, _ = build(recipe.name, seed=5, progress=False)

    act = mixture(policies, seed=5)
    env = minari.DataCollector(
        make(recipe.task_id), step_data_callback=_risk_only_callback(), record_infos=True
    )
    for s in episode_seeds(5, 7):
        obs, _ = env.reset(seed=int(s))
        t, done = 0, False
        while not done:
            a = act(obs[None], step=t, episode_seeds=np.array([s]))[0].astype(np.float32)
            obs, _, term, trunc, _ = env.step(a)
            t, done = t + 1, term or trunc
    reference = env.create_dataset(
        dataset_id="test/sequential-v0", algorithm_name="x", author="x", description="x"
    )
    ours, theirs = read_episodes(minari.load_dataset(dataset_id)), read_episodes(reference)
    assert len(ours) == len(theirs) == 7
    for a, b in zip(ours, theirs, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert load(dataset_id).metadata["episodes"] == 7


def test_lockstep_recording_by_steps_stops_where_sequential_recording_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rsbench.data import build as build_module
    from rsbench.data.build import build
    from rsbench.data.catalog import RECIPES, Recipe
    from rsbench.data.offline import load

    recipe = Recipe(
        "hopper-lockstep", "rsbench/RiskyHopper-v0", None, "t", policies=lambda: [_random_policy(0)]
    )
    monkeypatch.setitem(RECIPES, recipe.name, recipe)
    monkeypatch.setattr(build_module, "LOCKSTEP", 4)
    dataset_id, _ = build(recipe.name, steps=60, seed=0, progress=False)
    data = load(dataset_id)
    assert data.n_steps >= 60 and data.n_steps - data.episode_lengths[-1] < 60
    monkeypatch.setattr(build_module, "LOCKSTEP", 64)
    build(recipe.name, steps=60, seed=0, progress=False, force=True)
    assert load(dataset_id).content_hash() == data.content_hash()


def test_train_then_select_writes_levels_replay_and_provenance(tmp_path: Path) -> None:
    """A tiny PPO run end to end: checkpoints with provenance, then the levels and their records."""
    pytest.importorskip("stable_baselines3")
    import json

    from rsbench.behaviour.select import select
    from rsbench.behaviour.train import PPOConfig, train

    cfg = PPOConfig(steps=768, checkpoint_every=256, n_envs=4, n_steps=64, batch_size=64, n_epochs=1)
    run = train("hopper", tmp_path / "run", cfg)
    assert [p.name for p in sorted((run / "checkpoints").glob("*.pt"))] == [
        "step_00000000.pt",  # the untrained policy: the start of training, medium-replay's first data
        "step_00000256.pt",
        "step_00000512.pt",
        "step_00000768.pt",
    ]
    record = select("hopper", run, episodes=2, dest=tmp_path / "policies", screen_episodes=1)
    out = tmp_path / "policies" / "hopper"
    medium = record["policies"]["medium"]["steps"]
    assert medium in (256, 512) and record["policies"]["expert"]["steps"] == 768
    replay = sorted(p.name for p in (out / "replay").glob("*.pt"))
    assert replay[0] == "step_00000000.pt" and replay[-1] == f"step_{medium:08d}.pt"
    assert load_policy(out / "medium.pt").provenance["steps"] == medium
    saved = json.loads((tmp_path / "policies" / "provenance.json").read_text())["hopper"]
    assert saved["ref_min_score"] == record["policies"]["random"]["risky_mean"]
    assert saved["train"]["config"]["n_envs"] == 4


def test_behaviour_eval_of_an_unknown_task_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rsbench import cli

    monkeypatch.setattr(sys, "argv", ["rsbench", "behaviour", "eval", "ant"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no committed behaviour policies for ant" in err
