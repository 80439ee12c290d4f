"""The datasets ``rsbench data build`` can make on any machine, offline: scripted behaviour or the
committed behaviour policies (no download)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rsbench.envs.spec import RISK_SPEC_VERSION

if TYPE_CHECKING:
    from rsbench.behaviour.policy import BehaviourPolicy

# An episode policy maps (observation (obs_dim,), step index) to an action; a behaviour makes one per
# episode from the build's RNG, which is how mixtures and per-episode noise are drawn reproducibly.
EpisodePolicy = Callable[[np.ndarray, int], np.ndarray]
Behaviour = Callable[[np.random.Generator], EpisodePolicy]
# The committed policies a locomotion dataset samples from: each episode follows one, drawn uniformly.
PolicyMixture = Callable[[], "list[BehaviourPolicy]"]


@dataclass(frozen=True)
class Recipe:
    """How to build one local dataset.

    Attributes:
        name: short name used on the command line (``pointmass-mixed``).
        task_id: the registered risky task the data is recorded in.
        behaviour: makes the per-episode scripted policy from the build's one sequential RNG (these
            recipes record episode by episode through ``minari.DataCollector``), or None.
        policies: the committed policies of a policy recipe, or None. Their draws are keyed by episode
            and step, so these recipes record many episodes in lock-step with one batched policy call.
        description: one line written into the dataset metadata.
        episodes: default number of episodes (when ``steps`` is None).
        steps: default number of transitions: whole episodes are recorded until at least this many.
        reference: the short task name whose committed reference scores go into the metadata, or None.
    """

    name: str
    task_id: str
    behaviour: Behaviour | None
    description: str
    episodes: int = 0
    steps: int | None = None
    reference: str | None = None
    policies: PolicyMixture | None = None

    @property
    def dataset_id(self) -> str:
        return dataset_id_for(self.name)


def dataset_id_for(name: str) -> str:
    """Minari id of a locally built dataset: ``rsbench/<name>-v<risk_spec_version>`` (for ``ramac-*`` names
    the version of RAMAC's family, ``ramac-1``)."""
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


def _levels(task: str, *levels: str) -> PolicyMixture:
    def policies() -> list[BehaviourPolicy]:
        from rsbench.behaviour.committed import policy

        return [policy(task, level) for level in levels]

    return policies


def _replay(task: str) -> PolicyMixture:
    """Every training checkpoint up to the medium level, drawn uniformly per episode: each checkpoint
    interval contributed the same number of environment steps to the PPO run, like D4RL's replay buffer."""

    def policies() -> list[BehaviourPolicy]:
        from rsbench.behaviour.committed import replay_checkpoints, replay_policy

        return [replay_policy(p) for p in replay_checkpoints(task)]

    return policies


def _mixture(*behaviours: Behaviour) -> Behaviour:
    def behaviour(rng: np.random.Generator) -> EpisodePolicy:
        return behaviours[int(rng.integers(len(behaviours)))](rng)

    return behaviour


# D4RL's sizes: 1M transitions for medium and expert, medium-expert their concatenation; medium-replay as
# D4RL's (the replay buffer up to the medium level held 202k / 402k / 302k transitions).
_LOCOMOTION = {
    "halfcheetah": ("rsbench/RiskyHalfCheetah-v0", "Risky HalfCheetah"),
    "hopper": ("rsbench/RiskyHopper-v0", "Risky Hopper"),
    "walker2d": ("rsbench/RiskyWalker2d-v0", "Risky Walker2d"),
}
_LEVELS: dict[str, tuple[Callable[[str], PolicyMixture], int, str]] = {
    "medium": (
        lambda t: _levels(t, "medium"),
        1_000_000,
        "the medium PPO checkpoint (~1/3 of the expert's return)",
    ),
    "expert": (lambda t: _levels(t, "expert"), 1_000_000, "the final (expert) PPO policy"),
    "medium-replay": (_replay, 0, "the PPO training checkpoints up to the medium level"),
    "medium-expert": (
        lambda t: _levels(t, "medium", "expert"),
        2_000_000,
        "medium and expert episodes, 50/50",
    ),
}


_REPLAY_STEPS = {"halfcheetah": 202_000, "hopper": 402_000, "walker2d": 302_000}


def _locomotion_recipes() -> list[Recipe]:
    return [
        Recipe(
            f"{task}-{level}",
            task_id,
            None,
            f"{title}: actions sampled from {what}, risk-unaware (D4RL-style {level})",
            steps=steps or _REPLAY_STEPS[task],
            reference=task,
            policies=mixture(task),
        )
        for task, (task_id, title) in _LOCOMOTION.items()
        for level, (mixture, steps, what) in _LEVELS.items()
    ]


def _ramac_recipes() -> list[Recipe]:
    """RAMAC's Stochastic-D4RL datasets (medium-expert, medium-replay) recorded from the same committed
    policies and sizes as the v1 locomotion recipes, on RAMAC's hazards (``rsbench/RAMAC-*-v0``, spec family
    ``ramac-1``). No reference scores: rsbench's are for the v1 tasks."""
    return [
        Recipe(
            f"ramac-{task}-{level}",
            f"rsbench/RAMAC-{env}-{level}-v0",
            None,
            f"RAMAC Stochastic-D4RL {env} {level}: actions sampled from {_LEVELS[level][2]}, risk-unaware",
            steps=_LEVELS[level][1] or _REPLAY_STEPS[task],
            policies=_LEVELS[level][0](task),
        )
        for task, env in (("halfcheetah", "HalfCheetah"), ("hopper", "Hopper"), ("walker2d", "Walker2d"))
        for level in ("medium-expert", "medium-replay")
    ]


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        *_locomotion_recipes(),
        *_ramac_recipes(),
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


def minari_id(name: str) -> str:
    """A dataset as a suite or the command line names it -> its Minari id: a catalogue name maps to the id
    it is built under (:func:`dataset_id_for`); anything else already is a Minari id."""
    return dataset_id_for(name) if name in RECIPES else name
