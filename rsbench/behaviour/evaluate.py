"""Returns of behaviour policies on the base and the risky task, and the reference scores they define.

``ref_min_score`` is the uniform-random policy's and ``ref_max_score`` the expert's mean return on the
*risky* task at its evaluation horizon (100 episodes, the evaluator's fixed seeds), with actions drawn from
the policy's distribution as when the datasets are recorded. Normalised scores built on them are relative to
rsbench's own reference policies on the risky tasks, not to D4RL's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rsbench.behaviour.policy import BehaviourPolicy
from rsbench.envs import SPECS, TASKS
from rsbench.eval.rollout import Episodes, Policy, evaluate

BASE_HORIZON = 1000  # the MuJoCo tasks' own time limit


def stochastic(policy: BehaviourPolicy, seed: int = 0) -> Policy:
    """The policy with its Gaussian noise keyed by (episode seed, step): an episode's actions do not
    depend on which other episodes share the batch."""
    return mixture([policy], seed)


def mixture(policies: Sequence[BehaviourPolicy], seed: int = 0) -> Policy:
    """Each episode follows one of ``policies``, drawn uniformly from ``(seed, episode seed)``, with actions
    sampled from its Gaussian by noise keyed by ``(seed, episode seed, step)``. Keyed draws make an episode
    independent of the batch it runs in, so a dataset recorded in lock-step equals one recorded episode by
    episode. ``step`` may be one int for the batch or one per row."""
    std = [np.exp(p.log_std.numpy()) for p in policies]

    def act(
        obs: np.ndarray, *, step: int | np.ndarray = 0, episode_seeds: np.ndarray | None = None
    ) -> np.ndarray:
        keys = np.arange(len(obs)) if episode_seeds is None else np.asarray(episode_seeds)
        steps = np.broadcast_to(np.asarray(step), keys.shape)
        which = np.array([_choice(seed, int(k), len(policies)) for k in keys], dtype=np.int64)
        noise = np.stack(
            [
                np.random.default_rng([seed, int(k), int(t)]).standard_normal(len(std[0]))
                for k, t in zip(keys, steps, strict=True)
            ]
        )
        out = np.empty((len(obs), len(std[0])))
        for i in np.unique(which):
            rows = which == i
            out[rows] = policies[i].mean(obs[rows]) + std[i] * noise[rows]
        return np.clip(out, -1.0, 1.0)

    return act


def _choice(seed: int, key: int, n: int) -> int:
    return 0 if n == 1 else int(np.random.default_rng([seed, key, 2**32]).integers(n))


def uniform_random(act_dim: int, seed: int = 0) -> Policy:
    """Uniform actions in [-1, 1], keyed by (episode seed, step) like :func:`stochastic`."""

    def act(obs: np.ndarray, *, step: int = 0, episode_seeds: np.ndarray | None = None) -> np.ndarray:
        keys = np.arange(len(obs)) if episode_seeds is None else episode_seeds
        return np.stack([np.random.default_rng([seed, int(k), step]).uniform(-1, 1, act_dim) for k in keys])

    return act


@dataclass(frozen=True)
class PolicyReturns:
    """Mean returns of one policy: base task (no penalty, 1000 steps) and risky task (eval horizon)."""

    base_mean: float
    base_std: float
    risky_mean: float
    risky_std: float
    risky_violation_rate: float
    risky_penalty_events: float

    @classmethod
    def measure(
        cls, policy: Policy, task_id: str, episodes: int = 100, seed: int = 0, *, risky: bool = True
    ) -> PolicyReturns:
        """Both returns, or only the base task's (risky fields NaN) when ``risky`` is False."""
        base = evaluate(policy, task_id, episodes, seed=seed, horizon=BASE_HORIZON, spec=no_penalty(task_id))
        if not risky:
            nan = float("nan")
            return cls(float(base.returns.mean()), float(base.returns.std()), nan, nan, nan, nan)
        risky_eps = risky_returns(policy, task_id, episodes, seed)
        return cls(
            base_mean=float(base.returns.mean()),
            base_std=float(base.returns.std()),
            risky_mean=float(risky_eps.returns.mean()),
            risky_std=float(risky_eps.returns.std()),
            risky_violation_rate=float(risky_eps.violation_steps.sum() / risky_eps.lengths.sum()),
            risky_penalty_events=float(risky_eps.penalty_events.mean()),
        )


def no_penalty(task_id: str):  # -> RiskSpec
    """The task's risk spec with the penalty switched off: the base task's reward, violations still counted."""
    return replace(SPECS[task_id], penalty=0.0)


def risky_returns(policy: Policy, task_id: str, episodes: int = 100, seed: int = 0) -> Episodes:
    """``episodes`` episodes on the risky task at its evaluation horizon."""
    return evaluate(policy, task_id, episodes, seed=seed, horizon=TASKS[task_id].horizon)
