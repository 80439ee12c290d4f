"""Pinned risk specs (v1, and RAMAC's Stochastic-D4RL family ``ramac-1``), the registered task ids and a
``make`` that accepts a user spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from rsbench.envs.pointmass import HAZARD_CENTER, HAZARD_RADIUS, PointMassEnv
from rsbench.envs.spec import RAMAC_SPEC_VERSION, Between, Compare, InDisc, Outside, RiskSpec
from rsbench.envs.wrapper import RiskWrapper

# Calibrated so the shortcut through the hazard has the higher mean return but the clearly worse
# CVaR_0.1 than the detour (tests/envs/test_calibration.py checks it over 1000 episodes each).
POINTMASS_PENALTY = -15.0
POINTMASS_PROB = 0.05

# The MuJoCo specs follow O-RAAC (Urpi et al., ICLR 2021); rsbench/envs/spec.py's docstring lists where v1
# differs (it keeps HalfCheetah's forward reward when the penalty fires; O-RAAC drops it).
SPECS: dict[str, RiskSpec] = {
    "rsbench/RiskyPointMass-v0": RiskSpec(
        "pointmass-hazard-disc",
        (InDisc((0, 1), HAZARD_CENTER, HAZARD_RADIUS),),
        penalty=POINTMASS_PENALTY,
        prob=POINTMASS_PROB,
    ),
    "rsbench/RiskyHalfCheetah-v0": RiskSpec(
        "halfcheetah-speed", (Compare("obs", 8, ">", 4.0),), penalty=-70.0, prob=0.05
    ),
    # "Healthy" repeats the v5 defaults (obs excludes x, so obs[0] is z, obs[1] the pitch, obs[1:] the
    # state vector MuJoCo checks); it makes the condition a function of the next observation alone.
    "rsbench/RiskyHopper-v0": RiskSpec(
        "hopper-pitch",
        (
            Between(0, 1, 0.7, float("inf")),
            Between(1, 2, -0.2, 0.2),
            Between(1, None, -100.0, 100.0),
            Compare("obs", 1, "abs>", 0.1),
        ),
        penalty=-50.0,
        prob=0.10,
    ),
    "rsbench/RiskyWalker2d-v0": RiskSpec(
        "walker2d-pitch",
        (Between(0, 1, 0.8, 2.0), Between(1, 2, -1.0, 1.0), Compare("obs", 1, "abs>", 0.5)),
        penalty=-30.0,
        prob=0.10,
    ),
}


# RAMAC's Stochastic-D4RL (https://github.com/KaiFukazawa/RAMAC, environment/risky_wrappers.py and
# environment/configs/*.yaml, checked 2026-12-06): per dataset, a violation is |x-velocity| (obs[8]) above
# max_vel for HalfCheetah and the pitch (obs[1]) outside healthy_angle_range for Hopper and Walker2d, with no
# "healthy" condition; the penalty is added. Its extra termination, |pitch| > done_if_exceed_factor *
# |high|, never ends an episode earlier than the v5 base task's own unhealthy termination (Hopper: 4.0 rad
# on medium-expert, 0.2 = Hopper's healthy angle on medium-replay; Walker2d: 1.0 = its healthy angle), so
# the base tasks carry it (tests/envs/test_ramac_tasks.py checks those gymnasium defaults).
RAMAC_SPECS: dict[str, RiskSpec] = {
    f"rsbench/RAMAC-{env}-{level}-v0": RiskSpec(
        f"ramac-{env.lower()}-{level}", (clause,), penalty=penalty, prob=prob, version=RAMAC_SPEC_VERSION
    )
    for env, level, clause, penalty, prob in (
        ("HalfCheetah", "medium-expert", Compare("obs", 8, "abs>", 10.0), -70.0, 0.05),
        ("HalfCheetah", "medium-replay", Compare("obs", 8, "abs>", 5.0), -60.0, 0.05),
        ("Hopper", "medium-expert", Outside(1, -0.17, 0.04), -50.0, 0.1),
        ("Hopper", "medium-replay", Outside(1, -0.1, 0.1), -50.0, 0.1),
        ("Walker2d", "medium-expert", Outside(1, -0.5, 0.5), -30.0, 0.1),
        ("Walker2d", "medium-replay", Outside(1, -0.5, 0.5), -30.0, 0.1),
    )
}
SPECS.update(RAMAC_SPECS)
# RAMAC's default_eval_horizon (main.py): 200 for HalfCheetah, 500 for Hopper and Walker2d.
RAMAC_HORIZONS = {"HalfCheetah": 200, "Hopper": 500, "Walker2d": 500}


@dataclass(frozen=True)
class TaskInfo:
    """A registered risky task: its base environment and evaluation horizon."""

    task_id: str
    base: str
    horizon: int


TASKS: dict[str, TaskInfo] = {
    t.task_id: t
    for t in (
        TaskInfo("rsbench/RiskyPointMass-v0", "rsbench/PointMass", 100),
        TaskInfo("rsbench/RiskyHalfCheetah-v0", "HalfCheetah-v5", 200),
        TaskInfo("rsbench/RiskyHopper-v0", "Hopper-v5", 500),
        TaskInfo("rsbench/RiskyWalker2d-v0", "Walker2d-v5", 500),
        *(
            TaskInfo(task_id, f"{env}-v5", RAMAC_HORIZONS[env])
            for task_id in RAMAC_SPECS
            for env in (task_id.split("-")[1],)
        ),
    )
}


def silence_mujoco() -> None:
    # MuJoCo 4 warns that HalfCheetah's XML uses a deprecated attribute and logs it to MUJOCO_LOG.TXT in
    # the working directory; the warning is about the gymnasium asset, not about anything a user can fix.
    import mujoco

    mujoco.set_mju_user_warning(lambda message: None)


def make_base(base: str) -> gym.Env:
    """The risk-free base environment (no time limit: the registered id adds the eval horizon)."""
    if base == "rsbench/PointMass":
        return PointMassEnv()
    silence_mujoco()
    return gym.make(base, max_episode_steps=None, disable_env_checker=True).unwrapped


def make_risky(task_id: str, spec: dict | None = None, salt: int = 0) -> gym.Env:
    """Entry point of the registered ids. ``spec`` is a plain-data risk spec (JSON-serialisable, so
    Minari can store the env spec of a dataset); ``None`` means the pinned v1 spec of ``task_id``."""
    risk = SPECS[task_id] if spec is None else RiskSpec.from_dict(spec)
    return RiskWrapper(make_base(TASKS[task_id].base), risk, salt=salt, part_of_task=True)


def register_tasks() -> None:
    """Register the ``rsbench/Risky*-v0`` and ``rsbench/RAMAC-*-v0`` ids with gymnasium (idempotent)."""
    for task in TASKS.values():
        if task.task_id in gym.registry:
            continue
        gym.register(
            id=task.task_id,
            entry_point="rsbench.envs.registration:make_risky",
            max_episode_steps=task.horizon,
            kwargs={"task_id": task.task_id},
        )


def make(task_id: str, *, spec: RiskSpec | None = None, horizon: int | None = None, salt: int = 0) -> gym.Env:
    """Make a risky task, optionally with a user-declared risk spec and a different horizon."""
    register_tasks()
    if task_id not in TASKS:
        raise KeyError(f"unknown task {task_id!r}; expected one of {', '.join(TASKS)}")
    task = TASKS[task_id]
    kwargs: dict[str, Any] = {"spec": None if spec is None else spec.to_dict(), "salt": salt}
    return gym.make(task_id, max_episode_steps=horizon or task.horizon, **kwargs)
