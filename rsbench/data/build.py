"""Record a tail-risk dataset locally with ``minari.DataCollector`` (docs/design.md §3)."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.progress import Progress

import rsbench
from rsbench.data import store
from rsbench.data.catalog import RECIPES, Recipe, minari_id
from rsbench.envs import SPECS, TASKS, make
from rsbench.envs.wrapper import RISK_INFO_KEYS
from rsbench.errors import UserError


def _risk_only_callback() -> type:
    from minari import StepDataCallback

    class RiskInfoCallback(StepDataCallback):
        """Record only the risk keys of info: MuJoCo's reset and step infos differ in keys, and Minari
        needs one info structure per episode."""

        def __call__(self, env: Any, **kwargs: Any) -> dict[str, Any]:
            step_data = super().__call__(env, **kwargs)
            step_data["info"] = {k: step_data["info"][k] for k in RISK_INFO_KEYS}
            return step_data

    return RiskInfoCallback


def episode_seeds(seed: int, episodes: int) -> np.ndarray:
    """The reset seeds of a build: distinct, reproducible from ``seed``."""
    return np.random.default_rng([seed, 0]).choice(2**31, size=episodes, replace=False)


def build(
    name: str,
    *,
    episodes: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> tuple[str, bool]:
    """Build the catalogue dataset ``name``; returns ``(dataset_id, built)``.

    The size is ``episodes`` whole episodes, or whole episodes until at least ``steps`` transitions, or the
    recipe's default. ``built`` is False when the dataset already exists and ``force`` is not set (nothing
    is touched).
    """
    if name not in RECIPES:
        raise UserError(f"unknown dataset {name!r}; expected one of {', '.join(RECIPES)}", key="name")
    if episodes is not None and steps is not None:
        raise UserError("give --episodes or --steps, not both", key="--steps")
    recipe = RECIPES[name]
    size = _size(recipe, episodes, steps)
    if store.exists(recipe.dataset_id) and not force:
        return recipe.dataset_id, False
    with store.staging(recipe.dataset_id):
        _record(recipe, size, seed, progress)
    return recipe.dataset_id, True


def ensure_dataset(name: str, *, progress: bool = False) -> str:
    """The Minari id of the dataset ``name`` (see :func:`~rsbench.data.catalog.minari_id`), building a
    catalogue recipe here when it is missing on this machine; a plain Minari id must already exist.

    The build runs under a file lock in the datasets root, so trials starting together on one node build it
    once (the others wait, then find it).
    """
    from filelock import FileLock

    from rsbench.paths import ensure_datasets_env

    dataset_id = minari_id(name)
    if name in RECIPES and not store.exists(dataset_id):
        with FileLock(str(ensure_datasets_env() / f".build-{name}.lock")):
            build(name, progress=progress)  # a no-op when another process built it while we waited
    return dataset_id


@dataclass(frozen=True)
class _Size:
    """Record ``count`` episodes, or episodes until ``count`` transitions when ``by_steps``."""

    count: int
    by_steps: bool

    def done(self, episodes: int, steps: int) -> bool:
        return (steps if self.by_steps else episodes) >= self.count


def _size(recipe: Recipe, episodes: int | None, steps: int | None) -> _Size:
    if episodes is not None or steps is not None:
        key, value = ("--episodes", episodes) if episodes is not None else ("--steps", steps)
        if value is None or value < 1:
            raise UserError(f"expected a positive number, got {value}", key=key)
        return _Size(value, by_steps=steps is not None)
    if recipe.steps is not None:
        return _Size(recipe.steps, by_steps=True)
    return _Size(recipe.episodes, by_steps=False)


def _record(recipe: Recipe, size: _Size, seed: int, progress: bool) -> None:
    """Record, write the Minari dataset with rsbench's metadata block, say how long it took."""
    # At most one episode per transition, so this many seeds always suffice.
    seeds = episode_seeds(seed, size.count)
    unit = "steps" if size.by_steps else "episodes"
    started = time.monotonic()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"recording {recipe.dataset_id} ({size.count:,} {unit})", total=size.count)

        def advance(episodes: int, steps: int) -> None:
            bar.update(task, completed=steps if size.by_steps else episodes)

        record = _collect_scripted if recipe.policies is None else _collect_policies
        dataset, (episodes, steps) = record(recipe, size, seed, seeds, advance)
    build_seconds = time.monotonic() - started
    dataset.storage.update_metadata({store.METADATA_KEY: _metadata(recipe, seed, episodes, build_seconds)})
    if progress:
        print(f"recorded {episodes:,} episodes, {steps:,} steps in {build_seconds:.0f} s", flush=True)


def _create_kwargs(recipe: Recipe) -> dict[str, Any]:
    """What both recorders pass to Minari's dataset creation."""
    return {
        "dataset_id": recipe.dataset_id,
        "eval_env": recipe.task_id,
        "algorithm_name": f"{'scripted' if recipe.policies is None else 'policy'}:{recipe.name}",
        "author": "rsbench",
        "description": recipe.description,
        "requirements": [f"rsbench=={rsbench.__version__}"],
        **_reference_scores(recipe),
    }


def _collect_scripted(recipe: Recipe, size: _Size, seed: int, seeds: np.ndarray, advance: Any) -> Any:
    """Episode by episode through ``minari.DataCollector``: scripted behaviours draw from one sequential
    RNG, so their episodes cannot be interleaved (their pinned data stays as recorded)."""
    import minari

    env = minari.DataCollector(
        make(recipe.task_id), step_data_callback=_risk_only_callback(), record_infos=True, data_format="hdf5"
    )
    rng = np.random.default_rng([seed, 1])
    episodes = steps = 0
    while not size.done(episodes, steps):
        assert recipe.behaviour is not None
        steps += _episode(env, recipe.behaviour(rng), int(seeds[episodes]))
        episodes += 1
        advance(episodes, steps)
    with _quiet_minari():
        dataset = env.create_dataset(**_create_kwargs(recipe))
    env.close()
    return dataset, (episodes, steps)


def _collect_policies(recipe: Recipe, size: _Size, seed: int, seeds: np.ndarray, advance: Any) -> Any:
    """Waves of ``LOCKSTEP`` episodes stepped together with one batched policy call per step, then
    ``minari.create_dataset_from_buffers``. The policies' draws are keyed by (episode seed, step), so the
    episodes are exactly those ``DataCollector`` would record one by one (tested), several times faster."""
    import minari

    from rsbench.behaviour.evaluate import mixture

    assert recipe.policies is not None
    act = mixture(recipe.policies(), seed)
    envs = [make(recipe.task_id) for _ in range(LOCKSTEP)]
    buffers: list[Any] = []
    steps = 0
    while not size.done(len(buffers), steps):
        wave = seeds[len(buffers) : len(buffers) + LOCKSTEP]
        for buf in _wave(envs, act, wave, first_id=len(buffers)):
            if size.done(len(buffers), steps):
                break  # the wave ran past the target: drop what sequential recording would not have
            buffers.append(buf)
            steps += len(buf.rewards)
        advance(len(buffers), steps)
    env = envs[0]
    with _quiet_minari():
        dataset = minari.create_dataset_from_buffers(
            buffer=buffers,
            env=recipe.task_id,
            observation_space=env.observation_space,
            action_space=env.action_space,
            data_format="hdf5",
            **_create_kwargs(recipe),
        )
    for e in envs:
        e.close()
    return dataset, (len(buffers), steps)


# Episodes stepped together by the policy recorder: one policy call serves this many MuJoCo steps.
LOCKSTEP = 64


def _wave(envs: list[Any], act: Any, seeds: np.ndarray, first_id: int) -> list[Any]:
    """Run ``len(seeds)`` episodes in lock-step; returns their Minari episode buffers in seed order."""
    from minari.data_collector import EpisodeBuffer

    n = len(seeds)
    obs, infos = zip(*(envs[i].reset(seed=int(s)) for i, s in enumerate(seeds)), strict=True)
    record: list[dict[str, list]] = [
        {"obs": [o], "act": [], "rew": [], "term": [], "trunc": [], **{k: [info[k]] for k in RISK_INFO_KEYS}}
        for o, info in zip(obs, infos, strict=True)
    ]
    live, t = list(range(n)), 0
    while live:
        actions = act(np.stack([record[i]["obs"][-1] for i in live]), step=t, episode_seeds=seeds[live])
        for i, a in zip(list(live), actions.astype(np.float32), strict=True):
            o, r, term, trunc, info = envs[i].step(a)
            rec = record[i]
            rec["obs"].append(o)
            rec["act"].append(a)
            rec["rew"].append(r)
            rec["term"].append(term)
            rec["trunc"].append(trunc)
            for k in RISK_INFO_KEYS:
                rec[k].append(info[k])
            if term or trunc:
                live.remove(i)
        t += 1
    return [
        EpisodeBuffer(
            id=first_id + i,
            seed=int(seeds[i]),
            observations=np.asarray(rec["obs"]),
            actions=np.asarray(rec["act"]),
            rewards=rec["rew"],
            terminations=rec["term"],
            truncations=rec["trunc"],
            infos={k: np.asarray(rec[k]) for k in RISK_INFO_KEYS},
        )
        for i, rec in enumerate(record)
    ]


@contextlib.contextmanager
def _quiet_minari() -> Iterator[None]:
    with warnings.catch_warnings():
        # Minari recommends an author email and a code link for published datasets; these are local.
        warnings.filterwarnings("ignore", message=".*(code_permalink|author_email).*", category=UserWarning)
        yield


def _episode(env: Any, policy: Any, reset_seed: int) -> int:
    """Record one episode; returns its length."""
    obs, _ = env.reset(seed=reset_seed)
    t = 0
    while True:
        obs, _, terminated, truncated, _ = env.step(policy(obs, t))
        t += 1
        if terminated or truncated:
            return t


def _reference_scores(recipe: Recipe) -> dict[str, float]:
    """Minari's ``ref_min_score`` / ``ref_max_score`` (so ``minari.get_normalized_score`` works)."""
    if recipe.reference is None:
        return {}
    from rsbench.behaviour.committed import reference_scores

    return reference_scores(recipe.reference)


def _metadata(recipe: Recipe, seed: int, episodes: int, build_seconds: float) -> dict[str, Any]:
    spec = SPECS[recipe.task_id]
    meta = {
        "task_id": recipe.task_id,
        "risk_spec": spec.to_dict(),
        "risk_spec_version": spec.version,
        "behaviour": recipe.name,
        "seed": seed,
        "episodes": episodes,
        "horizon": TASKS[recipe.task_id].horizon,
        "rsbench_version": rsbench.__version__,
        "build_seconds": round(build_seconds, 1),
    }
    if recipe.reference is not None:
        from rsbench.behaviour.committed import provenance

        meta["behaviour_policies"] = provenance().get(recipe.reference, {}).get("policies", {})
    return meta
