"""The one gymnasium wrapper that applies a :class:`RiskSpec` online."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from rsbench.envs.penalty import penalty_uniforms
from rsbench.envs.spec import RiskSpec

RISK_INFO_KEYS = ("violation", "cost", "penalty", "base_reward")


class RiskWrapper(gym.Wrapper):
    """Marks violations from the next observation and adds the stochastic penalty to the base reward.

    Every step's info gets ``violation`` (bool), ``cost`` (1.0 on violation), ``penalty`` (bool, the penalty
    fired) and ``base_reward``; reset's info gets the same keys (all false) plus ``episode_seed``, so a
    ``minari.DataCollector`` can record a consistent info structure.

    The penalty draw for step ``t`` of an episode is ``penalty_uniforms(episode_seed, t, salt)``. A seeded
    reset uses its seed; an unseeded reset takes the next seed from a stream started by the last seeded
    reset, so ``reset(seed=s)`` followed by plain resets stays reproducible.
    """

    def __init__(self, env: gym.Env, spec: RiskSpec, *, salt: int = 0, part_of_task: bool = False):
        super().__init__(env)
        # Inside a registered task id the wrapper is part of the env itself: its spec must not list the
        # wrapper again, or gym.make(spec) (Minari's recover_environment) would apply it twice.
        self._part_of_task = part_of_task
        self.risk_spec = spec
        self.salt = salt
        self._seed_stream: np.random.Generator | None = None
        self._episode_seed = 0
        self._t = 0

    @property
    def spec(self):  # type: ignore[override]
        return self.env.spec if self._part_of_task else super().spec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._seed_stream = np.random.default_rng(seed)
            episode_seed = int(seed)
        else:
            if self._seed_stream is None:
                self._seed_stream = np.random.default_rng()
            episode_seed = int(self._seed_stream.integers(2**63))
            seed = episode_seed
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode_seed = episode_seed
        self._t = 0
        info = {**info, "violation": False, "cost": 0.0, "penalty": False, "base_reward": 0.0}
        info["episode_seed"] = episode_seed
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, base_reward, terminated, truncated, info = self.env.step(action)
        violation = self.risk_spec.violation(np.asarray(obs)[None], info)
        u = penalty_uniforms(self._episode_seed, self._t, self.salt)
        reward, fired = self.risk_spec.apply(np.asarray([base_reward]), violation, u)
        self._t += 1
        info = {
            **info,
            "violation": bool(violation[0]),
            "cost": float(violation[0]),
            "penalty": bool(fired[0]),
            "base_reward": float(base_reward),
        }
        return obs, float(reward[0]), terminated, truncated, info
