"""The datasets ``rsbench data build`` can make on any machine, offline, from scripted behaviour."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rsbench.envs.spec import RISK_SPEC_VERSION

# An episode policy maps (observation (obs_dim,), step index) to an action; a behaviour makes one per
# episode from the build's RNG, which is how mixtures and per-episode noise are drawn reproducibly.
EpisodePolicy = Callable[[np.ndarray, int], np.ndarray]
Behaviour = Callable[[np.random.Generator], EpisodePolicy]


@dataclass(frozen=True)
class Recipe:
    """How to build one local dataset.

    Attributes:
        name: short name used on the command line (``pointmass-mixed``).
        task_id: the registered risky task the data is recorded in.
        behaviour: makes the per-episode behaviour policy.
        description: one line written into the dataset metadata.
        episodes: default number of episodes.
    """

    name: str
    task_id: str
    behaviour: Behaviour
    description: str
    episodes: int

    @property
    def dataset_id(self) -> str:
        return dataset_id_for(self.name)


def dataset_id_for(name: str) -> str:
    """Minari id of a locally built dataset: ``rsbench/<name>-v<risk_spec_version>``."""
    return f"rsbench/{name}-v{RISK_SPEC_VERSION}"


def _pointmass_mixed(rng: np.random.Generator) -> EpisodePolicy:
    from rsbench.envs.pointmass import MAX_STEP
    from rsbench.envs.policies import detour, shortcut

    # Half the episodes take the shortcut through the hazard, half the detour; Gaussian action noise
    # spreads the paths so the data covers the band between them.
    scripted = shortcut if rng.random() < 0.5 else detour
    noise = rng.uniform(0.0, 0.03)

    def act(obs: np.ndarray, t: int) -> np.ndarray:
        a = scripted(obs[None])[0] + rng.normal(0.0, noise, size=2)
        return np.clip(a, -MAX_STEP, MAX_STEP).astype(np.float32)

    return act


def _uniform(act_dim: int) -> Behaviour:
    def behaviour(rng: np.random.Generator) -> EpisodePolicy:
        return lambda obs, t: rng.uniform(-1.0, 1.0, size=act_dim).astype(np.float32)

    return behaviour


def _noisy_gait(base: str) -> Behaviour:
    def behaviour(rng: np.random.Generator) -> EpisodePolicy:
        from rsbench.envs.gaits import GAITS

        gait = GAITS[base]
        sigma = rng.uniform(0.05, 0.3)

        def act(obs: np.ndarray, t: int) -> np.ndarray:
            a = gait.action(np.asarray([t]), np.asarray(obs)[None])[0]
            return np.clip(a + rng.normal(0.0, sigma, size=a.shape), -1.0, 1.0).astype(np.float32)

        return act

    return behaviour


def _mixture(*behaviours: Behaviour) -> Behaviour:
    def behaviour(rng: np.random.Generator) -> EpisodePolicy:
        return behaviours[int(rng.integers(len(behaviours)))](rng)

    return behaviour


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "pointmass-mixed",
            "rsbench/RiskyPointMass-v0",
            _pointmass_mixed,
            "Risky PointMass: scripted shortcut-through-hazard and detour policies, 50/50, with action noise",
            episodes=1000,
        ),
        Recipe(
            "halfcheetah-mixed",
            "rsbench/RiskyHalfCheetah-v0",
            _mixture(_uniform(6), _noisy_gait("HalfCheetah-v5")),
            "Risky HalfCheetah: uniform random and noisy scripted-gait episodes, 50/50",
            episodes=100,
        ),
        Recipe(
            "hopper-mixed",
            "rsbench/RiskyHopper-v0",
            _mixture(_uniform(3), _noisy_gait("Hopper-v5")),
            "Risky Hopper: uniform random and noisy scripted-gait episodes, 50/50",
            episodes=200,
        ),
        Recipe(
            "walker2d-mixed",
            "rsbench/RiskyWalker2d-v0",
            _mixture(_uniform(6), _noisy_gait("Walker2d-v5")),
            "Risky Walker2d: uniform random and noisy scripted-gait episodes, 50/50",
            episodes=200,
        ),
    )
}
