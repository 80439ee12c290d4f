"""Risky PointMass: rsbench's own 2-D point mass with a hazard disc on the straight way to the goal.

State ``(x, y)`` in ``[0, 1]^2``; action ``(dx, dy)`` clipped to ``[-0.1, 0.1]``; start near ``(0.85, 0.85)``
(uniform noise of ±0.02); goal ``(0.1, 0.1)`` reached within 0.05 terminates; reward
``-distance_to_goal - 0.1`` per step. The hazard (disc at ``(0.5, 0.5)``, radius 0.3) is a risk spec
applied by :class:`~rsbench.envs.wrapper.RiskWrapper`, not part of the dynamics.

The dynamics are pure functions on ``(N, 2)`` arrays so the gymnasium env (N = 1) and the batched
evaluator share one implementation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

START = np.array([0.85, 0.85])
START_NOISE = 0.02
GOAL = np.array([0.1, 0.1])
GOAL_RADIUS = 0.05
MAX_STEP = 0.1
STEP_COST = 0.1
HAZARD_CENTER = (0.5, 0.5)
HAZARD_RADIUS = 0.3


def reset_positions(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` start positions ``(n, 2)`` drawn from ``rng``."""
    return START + rng.uniform(-START_NOISE, START_NOISE, size=(n, 2))


def step_positions(pos: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, 2)`` positions and actions -> next positions ``(N, 2)``, rewards ``(N,)``, terminated ``(N,)``."""
    nxt = np.clip(pos + np.clip(action, -MAX_STEP, MAX_STEP), 0.0, 1.0)
    dist = np.linalg.norm(nxt - GOAL, axis=-1)
    return nxt, -dist - STEP_COST, dist <= GOAL_RADIUS


class PointMassEnv(gym.Env):
    """The plain (risk-free) point mass; ``rsbench/RiskyPointMass-v0`` wraps it with the hazard spec."""

    # gymnasium declares metadata on Env as an instance attribute; every env overrides it per class.
    metadata: ClassVar[dict] = {"render_modes": []}  # type: ignore[misc]

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-MAX_STEP, MAX_STEP, shape=(2,), dtype=np.float32)
        self._pos = START.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._pos = reset_positions(self.np_random, 1)[0]
        return self._pos.astype(np.float32), {}

    def step(self, action: Any):
        nxt, reward, terminated = step_positions(self._pos[None], np.asarray(action, dtype=np.float64)[None])
        self._pos = nxt[0]
        return self._pos.astype(np.float32), float(reward[0]), bool(terminated[0]), False, {}
