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

    ``seed`` salts the penalty draws (the online wrapper's default salt is 0). The new dataset's env is
    the risky task with ``spec``, ``seed`` and the source's time limit, so ``recover_environment()``
    gives back the env that would have recorded it; its evaluation env is the task with ``spec`` at the
    task's evaluation horizon.

    Reference scores: Minari's top-level ``ref_min_score`` / ``ref_max_score`` (what
    ``minari.get_normalized_score`` reads) are only ever the risky task's at its evaluation horizon, so they
    are written only when ``spec`` is the task's pinned spec and rsbench has committed references for it
    (:func:`rsbench.behaviour.committed.task_reference_scores`); otherwise there are none and Minari's
    normaliser raises. The source's own references, measured on its risk-free env over its episodes, are
    kept as ``source_ref_min_score`` / ``source_ref_max_score``. Returns ``(new_id, written)``; an existing
    ``new_id`` is kept unless ``force``.
    """
    import minari

    new_id = new_id or default_relabel_id(source_id)
    if new_id == source_id:
        raise UserError("the relabelled dataset needs an id different from its source", key="--id")
    source = store.load_minari(source_id, source="source")
    if store.exists(new_id) and not force:
        return new_id, False
    env_spec = source.spec.env_spec
    task_id = task_id or task_for_env(env_spec.id if env_spec else None)
    buffers = [_relabelled_buffer(ep, spec, seed) for ep in read_episodes(source)]
    source_refs = _source_reference_scores(source.storage.metadata)
    refs = _risky_reference_scores(task_id, spec)
    with store.staging(new_id), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(code_permalink|author_email|eval_env).*")
        dataset = minari.create_dataset_from_buffers(
            dataset_id=new_id,
            buffer=buffers,
            env=_task_spec(task_id, spec, seed, _time_limit(env_spec)) if task_id else env_spec,
            eval_env=_task_spec(task_id, spec) if task_id else None,
            observation_space=source.observation_space,
            action_space=source.action_space,
            algorithm_name=f"relabel:{source_id}",
            author="rsbench",
            description=f"{source_id} relabelled with risk spec {spec.name} (v{spec.version}), seed {seed}",
            data_format="hdf5",
        )
        block = _provenance(
            source_id, task_id, spec, seed, env_spec.id if env_spec else None, bool(source_refs)
        )
        dataset.storage.update_metadata({**refs, **source_refs, store.METADATA_KEY: block})
    return new_id, True


def _provenance(
    source_id: str, task_id: str | None, spec: RiskSpec, seed: int, source_env: str | None, source_refs: bool
) -> dict[str, Any]:
    """The rsbench metadata block of a relabelled dataset: what it was relabelled from, with which spec."""
    block: dict[str, Any] = {
        "task_id": task_id,
        "risk_spec": spec.to_dict(),
        "risk_spec_version": spec.version,
        "relabelled_from": source_id,
        "seed": seed,
        "rsbench_version": rsbench.__version__,
    }
    if source_refs:
        block["source_reference_scores"] = {
            "from": source_id,
            "env_id": source_env,
            "note": "source_ref_*: the source's reference scores, on its risk-free env, not the risky task's",
        }
    return block


def _relabelled_buffer(ep: dict[str, Any], spec: RiskSpec, seed: int) -> Any:
    """One relabelled episode as a Minari ``EpisodeBuffer`` with the risk flags in its infos."""
    from minari.data_collector import EpisodeBuffer

    out = relabel_episode(ep, spec, seed)
    violation = np.asarray(out["violation"], dtype=bool)
    # Minari's infos hold one entry per observation: the reset entry first, all risk-free.
    infos = {
        "violation": np.concatenate([[False], violation]),
        "cost": np.concatenate([[0.0], violation.astype(np.float64)]),
        "penalty": np.concatenate([[False], out["penalty"]]),
        "base_reward": np.concatenate([[0.0], out["base_reward"]]),
    }
    return EpisodeBuffer(
        id=out["id"],
        seed=out.get("seed"),
        observations=out["observations"],
        actions=out["actions"],
        rewards=out["rewards"],
        terminations=out["terminations"],
        truncations=out["truncations"],
        infos=infos,
    )


def _task_spec(task_id: str, spec: RiskSpec, salt: int = 0, max_episode_steps: int | None = None) -> Any:
    """The registered ``task_id``'s env spec with risk ``spec``, penalty ``salt`` and a time limit
    (default: the task's evaluation horizon)."""
    import dataclasses

    import gymnasium as gym

    task = gym.spec(task_id)
    kwargs = {**task.kwargs, "spec": spec.to_dict(), "salt": salt}
    return dataclasses.replace(
        task, kwargs=kwargs, max_episode_steps=max_episode_steps or task.max_episode_steps
    )


def _time_limit(source_spec: Any) -> int | None:
    """The source env's time limit: its episodes run to it (1000 steps in Minari's MuJoCo datasets), while
    the task's own horizon is its evaluation horizon (200 for HalfCheetah)."""
    return getattr(source_spec, "max_episode_steps", None)


def _source_reference_scores(metadata: dict[str, Any]) -> dict[str, Any]:
    """The source's ``ref_min_score`` / ``ref_max_score`` (and how many episodes they average) renamed
    ``source_*``: they were measured on the source's risk-free task, so they must not normalise the risky
    one."""
    keys = ("ref_min_score", "ref_max_score", "num_episodes_average_score")
    return {f"source_{k}": metadata[k] for k in keys if metadata.get(k) is not None}


def _risky_reference_scores(task_id: str | None, spec: RiskSpec) -> dict[str, float]:
    """rsbench's references of the risky task (random and PPO expert at its evaluation horizon), when the
    relabelling applies that task's pinned spec; ``{}`` for a user spec, whose task has no references."""
    from rsbench.behaviour.committed import task_reference_scores
    from rsbench.envs import SPECS

    if task_id is None or SPECS.get(task_id) != spec:
        return {}
    return task_reference_scores(task_id) or {}
