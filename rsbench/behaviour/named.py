"""Policies by name, which the evaluator runs without a trained method: the scripted point-mass ones, uniform
random, the committed behaviour policies, and a user's function from a file. They live here, not in ``eval/``,
because the committed ones are behaviour policies: ``eval/`` stays pure (it imports no ``behaviour/``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from rsbench.envs import TASKS, make
from rsbench.envs.policies import SCRIPTED
from rsbench.errors import UserError
from rsbench.eval.rollout import Policy


def scripted_policy(name: str, task_id: str, seed: int = 0) -> Policy:
    """``shortcut`` / ``detour`` (Risky PointMass only), ``random`` (uniform in the action box) or the
    committed behaviour policies ``medium`` / ``expert`` (Risky HalfCheetah, Hopper, Walker2d)."""
    if name == "random":
        env = make(task_id)
        low, high = env.action_space.low, env.action_space.high
        env.close()
        rng = np.random.default_rng([seed, 2])
        return lambda obs, risk=None: rng.uniform(low, high, size=(len(obs), len(low)))
    if name in SCRIPTED:
        if TASKS[task_id].base != "rsbench/PointMass":
            raise UserError(f"policy {name!r} is scripted for rsbench/RiskyPointMass-v0 only", key="--policy")
        fn = SCRIPTED[name]
        return lambda obs, risk=None: fn(obs)
    if name in ("medium", "expert"):
        return _behaviour_policy(name, task_id, seed)
    raise UserError(
        f"unknown policy {name!r}; expected shortcut, detour, random, medium or expert", key="--policy"
    )


def _behaviour_policy(level: str, task_id: str, seed: int) -> Policy:
    """A committed D4RL-style behaviour policy (locomotion tasks), actions sampled per episode and step."""
    from rsbench.behaviour.committed import TASKS as LOCOMOTION
    from rsbench.behaviour.committed import policy
    from rsbench.behaviour.evaluate import stochastic  # torch: only when a committed policy is asked for

    short = next((k for k, (_, risky) in LOCOMOTION.items() if risky == task_id), None)
    if short is None:
        raise UserError(
            f"policy {level!r} exists for the locomotion tasks only, not {task_id}", key="--policy"
        )
    return stochastic(policy(short, level), seed)


def load_policy_file(spec: str) -> Policy:
    """``path/to/file.py:NAME`` -> the callable ``NAME`` defined in that file."""
    path_text, sep, name = spec.rpartition(":")
    path = Path(path_text)
    if not sep or not name:
        raise UserError(f"expected FILE.py:NAME, got {spec!r}", key="--policy-file")
    if not path.is_file():
        raise UserError("file not found", source=path, key="--policy-file")
    module_spec = importlib.util.spec_from_file_location(f"rsbench_user_policy_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
    try:
        module_spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as e:  # the user's file failed to import: say where and why, in one line
        raise UserError(f"cannot load: {type(e).__name__}: {e}", source=path, key="--policy-file") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UserError(f"no callable {name!r} in the file", source=path, key="--policy-file")
    return fn
