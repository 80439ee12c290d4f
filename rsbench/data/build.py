"""Record a tail-risk dataset locally with ``minari.DataCollector`` (docs/design.md §3)."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from rich.progress import Progress

import rsbench
from rsbench.data import store
from rsbench.data.catalog import Part, Recipe, Size, dataset_id_for, is_catalogue, resolve, sized_name
from rsbench.data.offline import OfflineData, read_episodes
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


def episode_seeds(seed: int, episodes: int, stream: int = 0, exclude: np.ndarray | None = None) -> np.ndarray:
    """The reset seeds of a build (or of its ``stream``-th part): distinct, reproducible from ``seed``.

    A part's seeds skip those in ``exclude`` (the earlier parts'), so no two episodes of a concatenated
    build share a seed; part 0 of a concatenation gets exactly the seeds of a plain build, which makes
    medium-expert's medium part the medium dataset of half the size, array for array.
    """
    taken = 0 if exclude is None else len(exclude)
    seeds = np.random.default_rng([seed, stream]).choice(2**31, size=episodes + taken, replace=False)
    if exclude is not None and taken:
        seeds = seeds[~np.isin(seeds, exclude)]
    return seeds[:episodes]


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
    size in the name (``hopper-medium-300k``), or the recipe's default. The size is part of the id: a
    non-default size is built as ``rsbench/<name>-<size>-v1`` (:func:`~rsbench.data.catalog.sized_name`).
    ``built`` is False when the dataset already exists and ``force`` is not set (nothing is touched).
    """
    recipe, size = resolve(name)
    if episodes is not None or steps is not None:
        if episodes is not None and steps is not None:
            raise UserError("give --episodes or --steps, not both", key="--steps")
        if name != recipe.name:
            raise UserError(
                f"{name!r} already names its size; drop --episodes/--steps or use {recipe.name!r}",
                key="--steps" if steps is not None else "--episodes",
            )
        size = _size(episodes, steps)
    dataset_id = dataset_id_for(sized_name(recipe, size))
    if store.exists(dataset_id) and not force:
        return dataset_id, False
    with store.staging(dataset_id):
        _record(recipe, dataset_id, size, seed, progress)
    return dataset_id, True


def ensure_dataset(name: str, *, progress: bool = False) -> str:
    """The Minari id of the dataset ``name`` (see :func:`~rsbench.data.catalog.minari_id`), building a
    catalogue recipe (at the size its name gives) here when it is missing on this machine; a plain Minari
    id must already exist.

    The build runs under a file lock in the datasets root, so trials starting together on one node build it
    once (the others wait, then find it).
    """
    from filelock import FileLock

    from rsbench.data.catalog import minari_id
    from rsbench.paths import ensure_datasets_env

    dataset_id = minari_id(name)
    if is_catalogue(name) and not store.exists(dataset_id):
        with FileLock(str(ensure_datasets_env() / f".build-{name}.lock")):
            build(name, progress=progress)  # a no-op when another process built it while we waited
    return dataset_id


def content_hash(dataset_id: str) -> str:
    """The content hash a build recorded in its metadata, or computed from the arrays (older builds)."""
    recorded = store.read_metadata(dataset_id).get(store.METADATA_KEY, {}).get("content_hash")
    if recorded:
        return str(recorded)
    from rsbench.data.offline import load

    return load(dataset_id).content_hash()


def _size(episodes: int | None, steps: int | None) -> Size:
    key, value = ("--episodes", episodes) if episodes is not None else ("--steps", steps)
    if value is None or value < 1:
        raise UserError(f"expected a positive number, got {value}", key=key)
    return Size(value, by_steps=steps is not None)


def _record(recipe: Recipe, dataset_id: str, size: Size, seed: int, progress: bool) -> None:
    """Record, write the Minari dataset with rsbench's metadata block, say how long it took."""
    unit = "steps" if size.by_steps else "episodes"
    started = time.monotonic()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"recording {dataset_id} ({size.count:,} {unit})", total=size.count)

        def advance(episodes: int, steps: int) -> None:
            bar.update(task, completed=steps if size.by_steps else episodes)

        if recipe.records_policies:
            dataset, parts = _collect_policies(recipe, dataset_id, size, seed, advance)
        else:
            dataset, parts = _collect_scripted(recipe, dataset_id, size, seed, advance)
    build_seconds = time.monotonic() - started
    data = OfflineData.from_episodes(read_episodes(dataset))
    meta = _metadata(recipe, seed, size, parts, build_seconds)
    dataset.storage.update_metadata({store.METADATA_KEY: {**meta, "content_hash": data.content_hash()}})
    if progress:
        print(
            f"recorded {data.n_episodes:,} episodes, {data.n_steps:,} steps in {build_seconds:.0f} s; "
            f"content hash {data.content_hash()}",
            flush=True,
        )


def _create_kwargs(recipe: Recipe, dataset_id: str) -> dict[str, Any]:
    """What both recorders pass to Minari's dataset creation."""
    return {
        "dataset_id": dataset_id,
        "eval_env": recipe.task_id,
        "algorithm_name": f"{'policy' if recipe.records_policies else 'scripted'}:{recipe.name}",
        "author": "rsbench",
        "description": recipe.description,
        "requirements": [f"rsbench=={rsbench.__version__}"],
        **_reference_scores(recipe),
    }


def _collect_scripted(
    recipe: Recipe, dataset_id: str, size: Size, seed: int, advance: Any
) -> tuple[Any, list[dict[str, Any]]]:
    """Episode by episode through ``minari.DataCollector``: scripted behaviours draw from one sequential
    RNG, so their episodes cannot be interleaved (their pinned data stays as recorded)."""
    import minari

    env = minari.DataCollector(
        make(recipe.task_id), step_data_callback=_risk_only_callback(), record_infos=True, data_format="hdf5"
    )
    # At most one episode per transition, so this many seeds always suffice.
    seeds = episode_seeds(seed, size.count)
    rng = np.random.default_rng([seed, 1])
    episodes = steps = 0
    while not size.done(episodes, steps):
        assert recipe.behaviour is not None
        steps += _episode(env, recipe.behaviour(rng), int(seeds[episodes]))
        episodes += 1
        advance(episodes, steps)
    with _quiet_minari():
        dataset = env.create_dataset(**_create_kwargs(recipe, dataset_id))
    env.close()
    return dataset, [{"label": recipe.name, "episodes": episodes, "steps": steps}]


def _collect_policies(
    recipe: Recipe, dataset_id: str, size: Size, seed: int, advance: Any
) -> tuple[Any, list[dict[str, Any]]]:
    """Each part in turn (an equal share of ``size``, its own episode seeds), in waves of ``LOCKSTEP``
    episodes stepped together with one batched policy call per step, then
    ``minari.create_dataset_from_buffers``. The policies' draws are keyed by (episode seed, step), so the
    episodes are exactly those ``DataCollector`` would record one by one (tested), several times faster."""
    import minari

    envs = [make(recipe.task_id) for _ in range(LOCKSTEP)]
    buffers: list[Any] = []
    parts: list[dict[str, Any]] = []
    used = np.zeros(0, dtype=np.int64)
    pieces = recipe.policy_parts()
    for i, (part, share) in enumerate(zip(pieces, size.split(len(pieces)), strict=True)):
        seeds = episode_seeds(seed, share.count, stream=i, exclude=used)
        before = sum(p["steps"] for p in parts)
        recorded = _record_part(
            envs, part, share, seed, seeds, len(buffers), lambda e, s, b=before: advance(e, b + s)
        )
        buffers += recorded
        used = np.concatenate([used, seeds[: len(recorded)]])
        parts.append(
            {"label": part.label, "episodes": len(recorded), "steps": sum(len(b.rewards) for b in recorded)}
        )
    env = envs[0]
    with _quiet_minari():
        dataset = minari.create_dataset_from_buffers(
            buffer=buffers,
            env=recipe.task_id,
            observation_space=env.observation_space,
            action_space=env.action_space,
            data_format="hdf5",
            **_create_kwargs(recipe, dataset_id),
        )
    for e in envs:
        e.close()
    return dataset, parts


def _record_part(
    envs: list[Any], part: Part, size: Size, seed: int, seeds: np.ndarray, first_id: int, advance: Any
) -> list[Any]:
    """Whole episodes of one part until ``size``; episode ids continue from ``first_id``."""
    from rsbench.behaviour.evaluate import mixture

    act = mixture(part.policies(), seed)
    buffers: list[Any] = []
    steps = 0
    while not size.done(len(buffers), steps):
        wave = seeds[len(buffers) : len(buffers) + LOCKSTEP]
        for buf in _wave(envs, act, wave, first_id=first_id + len(buffers)):
            if size.done(len(buffers), steps):
                break  # the wave ran past the target: drop what sequential recording would not have
            buffers.append(buf)
            steps += len(buf.rewards)
        advance(first_id + len(buffers), steps)
    return buffers


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


def _metadata(
    recipe: Recipe, seed: int, size: Size, parts: list[dict[str, Any]], build_seconds: float
) -> dict[str, Any]:
    spec = SPECS[recipe.task_id]
    meta = {
        "task_id": recipe.task_id,
        "risk_spec": spec.to_dict(),
        "risk_spec_version": spec.version,
        "behaviour": recipe.name,
        "name": sized_name(recipe, size),
        "size": size.to_dict(),
        "seed": seed,
        "episodes": sum(p["episodes"] for p in parts),
        "parts": parts,
        "horizon": TASKS[recipe.task_id].horizon,
        "rsbench_version": rsbench.__version__,
        "build_seconds": round(build_seconds, 1),
    }
    if recipe.reference is not None:
        from rsbench.behaviour.committed import provenance

        meta["behaviour_policies"] = provenance().get(recipe.reference, {}).get("policies", {})
    return meta
