"""The datasets ``rsbench data build`` can make on any machine, offline: scripted behaviour or the
committed behaviour policies (no download)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from rsbench.envs.spec import RISK_SPEC_VERSION
from rsbench.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

    from rsbench.behaviour.policy import BehaviourPolicy

# An episode policy maps (observation (obs_dim,), step index) to an action; a behaviour makes one per
# episode from the build's RNG, which is how mixtures and per-episode noise are drawn reproducibly.
EpisodePolicy = Callable[[np.ndarray, int], np.ndarray]
Behaviour = Callable[[np.random.Generator], EpisodePolicy]
# The committed policies a locomotion dataset samples from: each episode follows one, drawn uniformly.
PolicyMixture = Callable[[], "list[BehaviourPolicy]"]


@dataclass(frozen=True)
class Size:
    """How much a build records: ``count`` whole episodes, or whole episodes until at least ``count``
    transitions when ``by_steps``. Part of the dataset's identity (:func:`sized_name`)."""

    count: int
    by_steps: bool

    def done(self, episodes: int, steps: int) -> bool:
        return (steps if self.by_steps else episodes) >= self.count

    def split(self, parts: int) -> list[Size]:
        """``parts`` equal shares of this size: they sum to it and differ by at most one."""
        return [
            Size(self.count * (i + 1) // parts - self.count * i // parts, self.by_steps) for i in range(parts)
        ]

    @property
    def label(self) -> str:
        """``300k``, ``1m``, ``450`` (transitions) or ``20ep`` (episodes): the suffix of a sized name."""
        if not self.by_steps:
            return f"{self.count}ep"
        for unit, factor in (("m", 1_000_000), ("k", 1_000)):
            if self.count % factor == 0:
                return f"{self.count // factor}{unit}"
        return str(self.count)

    def to_dict(self) -> dict[str, int]:
        return {"steps" if self.by_steps else "episodes": self.count}


_SIZED = re.compile(r"(?P<recipe>.+)-(?P<count>[1-9][0-9]*)(?P<unit>k|m|ep)?")
_FACTORS = {None: 1, "k": 1_000, "m": 1_000_000}


@dataclass(frozen=True)
class Part:
    """One separately recorded piece of a concatenated dataset (D4RL's medium-expert is medium then expert,
    each recorded on its own): ``label`` names it in the metadata, ``policies`` is its behaviour."""

    label: str
    policies: PolicyMixture


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
        parts: makes the pieces of a concatenated policy recipe (instead of ``policies``): each records an
            equal share of the build's size, in order, with its own episode seeds.
    """

    name: str
    task_id: str
    behaviour: Behaviour | None
    description: str
    episodes: int = 0
    steps: int | None = None
    reference: str | None = None
    policies: PolicyMixture | None = None
    parts: Callable[[], list[Part]] | None = None

    @property
    def dataset_id(self) -> str:
        """The id of a build at the default size."""
        return dataset_id_for(self.name)

    @property
    def default_size(self) -> Size:
        return Size(self.steps, True) if self.steps is not None else Size(self.episodes, False)

    @property
    def records_policies(self) -> bool:
        return self.policies is not None or self.parts is not None

    def policy_parts(self) -> list[Part]:
        """The pieces a policy recipe records, in order (one for a plain mixture)."""
        if self.parts is not None:
            return self.parts()
        assert self.policies is not None
        return [Part(self.name, self.policies)]


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


def level_parts(task: str, *levels: str) -> Callable[[], list[Part]]:
    """The committed ``levels`` of ``task`` recorded one after the other, equal transitions each: D4RL's
    medium-expert is the concatenation of medium and expert recorded separately (50/50 by transitions)."""

    def parts() -> list[Part]:
        return [Part(level, _levels(task, level)) for level in levels]

    return parts


def replay_parts(task: str) -> Callable[[], list[Part]]:
    """Every committed training checkpoint of ``task`` from the start of training up to the medium level,
    each recorded as its own part with an equal share of the transitions: D4RL's medium-replay is the replay
    buffer of that training, where every stretch of training contributed the same number of transitions."""

    def parts() -> list[Part]:
        from rsbench.behaviour.committed import replay_checkpoints, replay_policy

        return [Part(path.stem, _checkpoint(path, replay_policy)) for path in replay_checkpoints(task)]

    return parts


def _checkpoint(path: Path, load: Callable[[Path], BehaviourPolicy]) -> PolicyMixture:
    return lambda: [load(path)]


def _mixture(*behaviours: Behaviour) -> Behaviour:
    def behaviour(rng: np.random.Generator) -> EpisodePolicy:
        return behaviours[int(rng.integers(len(behaviours)))](rng)

    return behaviour


# D4RL's sizes: 1M transitions for medium and expert, medium-expert their concatenation; medium-replay as
# D4RL's (the replay buffer up to the medium level held 202k / 402k / 302k transitions).
_LOCOMOTION = {
    "halfcheetah": "rsbench/RiskyHalfCheetah-v0",
    "hopper": "rsbench/RiskyHopper-v0",
    "walker2d": "rsbench/RiskyWalker2d-v0",
}
_LEVELS: dict[str, tuple[Callable[[str], Callable[[], list[Part]]], int, str]] = {
    "medium": (
        lambda t: level_parts(t, "medium"),
        1_000_000,
        "the medium PPO checkpoint (~1/3 of the expert's return)",
    ),
    "expert": (lambda t: level_parts(t, "expert"), 1_000_000, "the final (expert) PPO policy"),
    "medium-replay": (
        replay_parts,
        0,
        "the PPO training checkpoints up to the medium level, equal transitions from each",
    ),
    "medium-expert": (
        lambda t: level_parts(t, "medium", "expert"),
        2_000_000,
        "medium then expert, recorded separately and concatenated, 50/50 by transitions",
    ),
}


_REPLAY_STEPS = {"halfcheetah": 202_000, "hopper": 402_000, "walker2d": 302_000}


def locomotion_recipe(
    behaviour: str, level: str, task_id: str, *, name: str | None = None, reference: str | None = None
) -> Recipe:
    """The D4RL-style ``level`` dataset of ``behaviour``'s committed PPO policies (``halfcheetah``,
    ``hopper``, ``walker2d``), recorded on the registered risky task ``task_id`` at D4RL's size.

    ``name`` defaults to ``<behaviour>-<level>``; ``reference`` names the task whose committed reference
    scores go into the metadata, and must be None unless they were measured on ``task_id`` itself (they are
    the v1 risky tasks' returns: another risk spec, e.g. RAMAC's hazards, has none until measured).
    """
    if level not in _LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(_LEVELS)}")
    parts, steps, what = _LEVELS[level]
    title = task_id.split("/")[-1].removesuffix("-v0")
    return Recipe(
        name or f"{behaviour}-{level}",
        task_id,
        None,
        f"{title}: actions sampled from {what}, risk-unaware (D4RL-style {level})",
        steps=steps or _REPLAY_STEPS[behaviour],
        reference=reference,
        parts=parts(behaviour),
    )


def _locomotion_recipes() -> list[Recipe]:
    return [
        locomotion_recipe(task, level, task_id, reference=task)
        for task, task_id in _LOCOMOTION.items()
        for level in _LEVELS
    ]


def _ramac_recipes() -> list[Recipe]:
    """RAMAC's Stochastic-D4RL datasets (medium-expert, medium-replay) recorded from the same committed
    policies and sizes as the v1 locomotion recipes, on RAMAC's hazards (``rsbench/RAMAC-*-v0``, spec family
    ``ramac-1``). No reference scores: rsbench's are for the v1 tasks."""
    return [
        replace(
            locomotion_recipe(task, level, f"rsbench/RAMAC-{env}-{level}-v0", name=f"ramac-{task}-{level}"),
            description=f"RAMAC Stochastic-D4RL {env} {level}: actions sampled from {_LEVELS[level][2]}, "
            "risk-unaware",
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


def resolve(name: str) -> tuple[Recipe, Size]:
    """A catalogue name -> its recipe and size: ``hopper-medium`` is the recipe's default size,
    ``hopper-medium-300k`` 300,000 transitions, ``pointmass-mixed-200ep`` 200 episodes."""
    if name in RECIPES:
        return RECIPES[name], RECIPES[name].default_size
    match = _SIZED.fullmatch(name)
    if match is None or match["recipe"] not in RECIPES:
        raise UserError(
            f"unknown dataset {name!r}; expected a catalogue name ({', '.join(RECIPES)}), optionally with a "
            "size suffix (-300k, -1m, -5000 transitions, -200ep episodes)",
            key="name",
        )
    by_steps = match["unit"] != "ep"
    count = int(match["count"]) * _FACTORS[match["unit"]] if by_steps else int(match["count"])
    return RECIPES[match["recipe"]], Size(count, by_steps)


def is_catalogue(name: str) -> bool:
    """Whether ``name`` is a catalogue name (with or without a size suffix)."""
    try:
        resolve(name)
    except UserError:
        return False
    return True


def sized_name(recipe: Recipe, size: Size) -> str:
    """The name a build of ``recipe`` at ``size`` is known by: the recipe's name at its default size, else
    the name with the size appended, so builds of different sizes never share an id."""
    return recipe.name if size == recipe.default_size else f"{recipe.name}-{size.label}"


def minari_id(name: str) -> str:
    """A dataset as a suite or the command line names it -> its Minari id: a catalogue name (sized or not)
    maps to the id it is built under (:func:`dataset_id_for` of its :func:`sized_name`, so ``-1000k`` and
    ``-1m`` are one id); anything else already is a Minari id."""
    if not is_catalogue(name):
        return name
    return dataset_id_for(sized_name(*resolve(name)))
