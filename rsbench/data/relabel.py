"""Relabel a Minari dataset with a risk spec: violation/penalty flags and penalised rewards, offline.

The flags come from the next observations with the same :class:`RiskSpec` the online wrapper uses and the
penalty draws from the same counter-based generator keyed by the episode's reset seed, so a relabelled
transition gets exactly the reward ``rsbench/Risky*-v0`` would give it online (tested step for step).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import rsbench
from rsbench.data import store
from rsbench.data.catalog import dataset_id_for
from rsbench.data.offline import read_episodes
from rsbench.envs import TASKS, RiskSpec
from rsbench.envs.penalty import penalty_uniforms
from rsbench.errors import UserError


def task_for_env(env_id: str | None) -> str | None:
    """The registered risky task whose base env (or own id) is ``env_id``."""
    for task in TASKS.values():
        if env_id in (task.task_id, task.base):
            return task.task_id
    return None


def default_relabel_id(source_id: str) -> str:
    """``mujoco/halfcheetah/medium-v0`` -> ``rsbench/halfcheetah-medium-risky-v1``."""
    parts = source_id.rsplit("-v", 1)[0].split("/")
    stem = "-".join(p for p in parts if p not in ("mujoco", "rsbench", "D4RL"))
    return dataset_id_for(f"{stem}-risky")


def relabel_episode(episode: dict[str, Any], spec: RiskSpec, seed: int) -> dict[str, Any]:
    """Relabel one episode dict (see :func:`rsbench.data.offline.read_episodes`).

    The base reward is the recorded ``base_reward`` when the episode was already risky (relabelling
    replaces, never stacks, penalties), else the recorded reward.
    """
    base = np.asarray(episode.get("base_reward", episode["rewards"]), dtype=np.float64)
    violation = spec.violation(np.asarray(episode["observations"])[1:])
    episode_seed = episode.get("seed", episode["id"])
    u = penalty_uniforms(episode_seed, np.arange(len(base)), salt=seed)
    rewards, fired = spec.apply(base, violation, u)
    return {**episode, "rewards": rewards, "base_reward": base, "violation": violation, "penalty": fired}


def relabel(
    source_id: str,
    spec: RiskSpec,
    *,
    task_id: str | None = None,
    seed: int = 0,
    new_id: str | None = None,
    force: bool = False,
) -> tuple[str, bool]:
    """Write ``new_id`` (default :func:`default_relabel_id`): ``source_id`` relabelled with ``spec``.

    ``seed`` salts the penalty draws (the online wrapper's default salt is 0). Returns
    ``(new_id, written)``; an existing ``new_id`` is kept unless ``force``.
    """
    import minari
    from minari.data_collector import EpisodeBuffer

    new_id = new_id or default_relabel_id(source_id)
    if new_id == source_id:
        raise UserError("the relabelled dataset needs an id different from its source", key="--out")
    source = store.load_minari(source_id, source="source")
    if store.exists(new_id) and not force:
        return new_id, False
    env_spec = source.spec.env_spec
    task_id = task_id or task_for_env(env_spec.id if env_spec else None)
    buffers = []
    for ep in read_episodes(source):
        out = relabel_episode(ep, spec, seed)
        violation = np.asarray(out["violation"], dtype=bool)
        # Minari's infos hold one entry per observation: the reset entry first, all risk-free.
        infos = {
            "violation": np.concatenate([[False], violation]),
            "cost": np.concatenate([[0.0], violation.astype(np.float64)]),
            "penalty": np.concatenate([[False], out["penalty"]]),
            "base_reward": np.concatenate([[0.0], out["base_reward"]]),
        }
        buffers.append(
            EpisodeBuffer(
                id=out["id"],
                seed=out.get("seed"),
                observations=out["observations"],
                actions=out["actions"],
                rewards=out["rewards"],
                terminations=out["terminations"],
                truncations=out["truncations"],
                infos=infos,
            )
        )
    with store.staging(new_id), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(code_permalink|author_email|eval_env).*")
        dataset = minari.create_dataset_from_buffers(
            dataset_id=new_id,
            buffer=buffers,
            env=task_id or env_spec,
            observation_space=source.observation_space,
            action_space=source.action_space,
            algorithm_name=f"relabel:{source_id}",
            author="rsbench",
            description=f"{source_id} relabelled with risk spec {spec.name} (v{spec.version}), seed {seed}",
            data_format="hdf5",
        )
        dataset.storage.update_metadata(
            {
                store.METADATA_KEY: {
                    "task_id": task_id,
                    "risk_spec": spec.to_dict(),
                    "risk_spec_version": spec.version,
                    "relabelled_from": source_id,
                    "seed": seed,
                    "rsbench_version": rsbench.__version__,
                }
            }
        )
    return new_id, True
