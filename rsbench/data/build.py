"""Record a tail-risk dataset locally with ``minari.DataCollector`` (DESIGN.md §3)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import rsbench
from rsbench.data import store
from rsbench.data.catalog import RECIPES, Recipe
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
    name: str, *, episodes: int | None = None, seed: int = 0, force: bool = False, progress: bool = True
) -> tuple[str, bool]:
    """Build the catalogue dataset ``name``; returns ``(dataset_id, built)``.

    ``built`` is False when the dataset already exists and ``force`` is not set (nothing is touched).
    """
    if name not in RECIPES:
        raise UserError(f"unknown dataset {name!r}; expected one of {', '.join(RECIPES)}", key="name")
    recipe = RECIPES[name]
    n = recipe.episodes if episodes is None else episodes
    if n < 1:
        raise UserError(f"expected at least 1 episode, got {n}", key="--episodes")
    if store.exists(recipe.dataset_id) and not force:
        return recipe.dataset_id, False
    with store.staging(recipe.dataset_id):
        _record(recipe, n, seed, progress)
    return recipe.dataset_id, True


def _record(recipe: Recipe, n: int, seed: int, progress: bool) -> None:
    import minari
    from rich.progress import track

    env = minari.DataCollector(
        make(recipe.task_id), step_data_callback=_risk_only_callback(), record_infos=True, data_format="hdf5"
    )
    rng = np.random.default_rng([seed, 1])
    seeds = episode_seeds(seed, n)
    it = track(range(n), description=f"recording {recipe.dataset_id}", disable=not progress, transient=True)
    for i in it:
        policy = recipe.behaviour(rng)
        obs, _ = env.reset(seed=int(seeds[i]))
        t = 0
        while True:
            obs, _, terminated, truncated, _ = env.step(policy(obs, t))
            t += 1
            if terminated or truncated:
                break
    with warnings.catch_warnings():
        # Minari recommends an author email and a code link for published datasets; these are local.
        warnings.filterwarnings("ignore", message=".*(code_permalink|author_email).*", category=UserWarning)
        dataset = env.create_dataset(
            dataset_id=recipe.dataset_id,
            eval_env=recipe.task_id,
            algorithm_name=f"scripted:{recipe.name}",
            author="rsbench",
            description=recipe.description,
            requirements=[f"rsbench=={rsbench.__version__}"],
        )
    spec = SPECS[recipe.task_id]
    meta = {
        "task_id": recipe.task_id,
        "risk_spec": spec.to_dict(),
        "risk_spec_version": spec.version,
        "behaviour": recipe.name,
        "seed": seed,
        "episodes": n,
        "horizon": TASKS[recipe.task_id].horizon,
        "rsbench_version": rsbench.__version__,
    }
    dataset.storage.update_metadata({store.METADATA_KEY: meta})
    env.close()
