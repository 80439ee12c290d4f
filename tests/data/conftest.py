"""A datasets root laid out as ``minari download`` leaves Minari's remote ``mujoco/<task>/medium-v0`` datasets.

What the real datasets hold (Farama-Foundation/minari-dataset-generation-scripts, ``scripts/mujoco``; Minari's
"Dataset Standards" page; the ``farama-minari/mujoco`` repository on Hugging Face), and so what is built here:

- recorded by ``minari.DataCollector(gym.make("<Task>-v5"), record_infos=False)``: the ``infos`` group of every
  episode is empty; observations ``(T+1, obs_dim)`` float64 (``Box(-inf, inf, (17,), float64)`` for
  HalfCheetah), actions float32 in ``Box(-1, 1)``, rewards float64, terminations/truncations bool;
- resets seeded 123, 124, ... (the seed is in each episode's metadata); HalfCheetah episodes run to the
  1000-step time limit (truncated), Hopper episodes end early when the hopper falls (terminated);
- metadata written by ``create_dataset``: ``dataset_id``, ``env_spec`` / ``eval_env_spec`` (``<Task>-v5``),
  ``algorithm_name`` (``SB3/TQC``, ``SB3/SAC``), ``author``, ``author_email``, ``code_permalink``,
  ``requirements``, ``description``, ``minari_version``, ``total_episodes``, ``total_steps``,
  ``dataset_size``, ``data_format`` (``hdf5``), ``ref_min_score`` / ``ref_max_score`` where published;
- namespace metadata ``mujoco/namespace_metadata.json`` and ``mujoco/<task>/namespace_metadata.json``, which
  ``minari download`` fetches next to the dataset.

What differs, to stay fast: 3 episodes instead of about a thousand, and the behaviour is rsbench's noisy
scripted gait instead of the SB3 "medium" policy (like it, the gait runs forward, so the speed/pitch risk
specs fire). The reference scores below are illustrative numbers of the right magnitude, not the published
ones; the Hopper fixture has none, as the first ``-v0`` upload had none (the relabel must handle both).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CODE_PERMALINK = "https://github.com/Farama-Foundation/minari-dataset-generation-scripts"
SEEDS_FROM = 123  # the generation script seeds the resets 123, 124, ...
EPISODES = 3

MUJOCO_NAMESPACE = {
    "display_name": "MuJoCo",
    "description": "Dataset group for the MuJoCo environments in the Gymnasium library",
    "namespaces": ["mujoco/halfcheetah", "mujoco/hopper"],
    "datasets": ["mujoco/halfcheetah/medium-v0", "mujoco/hopper/medium-v0"],
}


@dataclass(frozen=True)
class RemoteDataset:
    """One of Minari's remote MuJoCo datasets as the fixture reproduces it."""

    dataset_id: str
    env_id: str
    display_name: str
    algorithm: str
    ref_scores: dict[str, float]

    @property
    def namespace(self) -> str:
        return self.dataset_id.rsplit("/", 1)[0]


HALFCHEETAH_MEDIUM = RemoteDataset(
    "mujoco/halfcheetah/medium-v0",
    "HalfCheetah-v5",
    "HalfCheetah",
    "SB3/TQC",
    {"ref_min_score": -275.0, "ref_max_score": 11000.0},
)
HOPPER_MEDIUM = RemoteDataset("mujoco/hopper/medium-v0", "Hopper-v5", "Hopper", "SB3/SAC", {})
REMOTE_DATASETS = (HALFCHEETAH_MEDIUM, HOPPER_MEDIUM)


def _record(remote: RemoteDataset, episodes: int, rng: np.random.Generator) -> Any:
    """Record ``remote`` through ``minari.DataCollector`` the way the generation script does."""
    import gymnasium as gym
    import minari

    from rsbench.envs.gaits import GAITS
    from rsbench.envs.registration import silence_mujoco

    silence_mujoco()
    gait = GAITS[remote.env_id]
    env = minari.DataCollector(gym.make(remote.env_id), record_infos=False)
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=SEEDS_FROM + ep)
            done, t = False, 0
            while not done:
                a = gait.action(np.asarray([t]), np.asarray(obs)[None])[0]
                a = np.clip(a + rng.normal(0.0, 0.2, a.shape), -1.0, 1.0).astype(np.float32)
                obs, _, terminated, truncated, _ = env.step(a)
                done, t = terminated or truncated, t + 1
        return env.create_dataset(
            dataset_id=remote.dataset_id,
            eval_env=remote.env_id,
            algorithm_name=remote.algorithm,
            author="Kallinteris Andreas",
            author_email="kallinteris@protonmail.com",
            code_permalink=CODE_PERMALINK,
            requirements=["mujoco==3.2.3", "gymnasium>=1.0.0"],
            description=f"{remote.display_name} medium-level behaviour (test fixture in Minari's remote layout)",
            **remote.ref_scores,
        )
    finally:
        env.close()  # removes the collector's temporary directory from the datasets root


def _create_namespaces() -> None:
    """Namespace metadata as ``minari download`` writes it next to the datasets."""
    from minari.namespace import create_namespace

    create_namespace("mujoco", **MUJOCO_NAMESPACE)
    for remote in REMOTE_DATASETS:
        create_namespace(
            remote.namespace,
            display_name=remote.display_name,
            description=f"Datasets for the {remote.display_name} environment",
            datasets=[remote.dataset_id],
        )


def build_remote_layout(root: Path, episodes: int = EPISODES, seed: int = 0) -> Path:
    """Write ``mujoco/halfcheetah/medium-v0`` and ``mujoco/hopper/medium-v0`` under the Minari root ``root``."""
    rng = np.random.default_rng(seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root))
        _create_namespaces()
        for remote in REMOTE_DATASETS:
            _record(remote, episodes, rng)
    return root


@pytest.fixture(scope="session")
def _remote_layout_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_remote_layout(tmp_path_factory.mktemp("minari-remote-layout"))


@pytest.fixture
def minari_remote_root(_remote_layout_master: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's datasets root (``MINARI_DATASETS_PATH``), holding a fresh copy of the remote layout."""
    root = tmp_path / "datasets"
    shutil.copytree(_remote_layout_master, root, dirs_exist_ok=True)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root
