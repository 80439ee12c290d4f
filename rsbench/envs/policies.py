"""Scripted point-mass policies: the behaviour in ``pointmass-mixed`` and the calibration references.

Each maps an observation batch ``(N, 2)`` to an action batch ``(N, 2)`` within ``[-0.1, 0.1]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rsbench.envs.pointmass import GOAL, MAX_STEP

# The detour goes straight down the right edge, then left along the bottom: its closest approach to the
# hazard centre is about 0.35, clear of the 0.3 radius.
DETOUR_WAYPOINT = np.array([0.86, 0.12])


def shortcut(obs: np.ndarray) -> np.ndarray:
    """Head straight for the goal: the diagonal through the hazard disc."""
    return np.clip(GOAL - np.asarray(obs, dtype=np.float64), -MAX_STEP, MAX_STEP)


def detour(obs: np.ndarray) -> np.ndarray:
    """Go around the hazard: down to the waypoint near the bottom-right corner, then to the goal."""
    obs = np.asarray(obs, dtype=np.float64)
    before_corner = (obs[:, 1] > DETOUR_WAYPOINT[1] + 0.04) & (obs[:, 0] > 0.5)
    target = np.where(before_corner[:, None], DETOUR_WAYPOINT, GOAL)
    return np.clip(target - obs, -MAX_STEP, MAX_STEP)


def make_random(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Uniform random actions drawn from ``rng``."""

    def random(obs: np.ndarray) -> np.ndarray:
        return rng.uniform(-MAX_STEP, MAX_STEP, size=(np.asarray(obs).shape[0], 2))

    return random


SCRIPTED = {"shortcut": shortcut, "detour": detour}
