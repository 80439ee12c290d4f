"""Batched, seeded evaluation rollouts (docs/design.md §6).

All episodes of one evaluation run in lock-step: one policy call per step for every live episode,
finished episodes drop out. Evaluation seeds are fixed per (eval seed, task, training seed, episode index)
(protocol 2, :func:`eval_seeds`): training seed s of every method meets the same start states and the same
penalty draws, which are keyed by those seeds (common random numbers), and different training seeds meet
independent episodes, so seed-level intervals carry the episode noise.

Risky PointMass steps as one numpy batch (no per-env Python objects); other tasks step a list of
unwrapped gymnasium envs in a plain loop (on few cores that beats subprocess vector envs) and the risk
spec, penalty draws and time limit are applied to the whole batch at once.
"""

from __future__ import annotations

import functools
import inspect
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rsbench.envs import SPECS, TASKS, RiskSpec
from rsbench.envs.penalty import as_seed_array, mix64, penalty_uniforms
from rsbench.envs.registration import make_base
from rsbench.risk import RiskSetting

# ``policy(obs_batch, **kw)``: ``(B, obs_dim)`` -> ``(B, act_dim)``. Of the keywords ``risk`` (the risk
# setting), ``env_ids`` (``(B,)`` which episodes of the batch the rows are), ``step`` (the episode step,
# shared by every live episode) and ``episode_seeds`` (``(B,)`` the rows' evaluation seeds, which key a
# policy's own draws per episode: rsbench.methods.noise), the evaluator passes those the signature names.
Policy = Callable[..., np.ndarray]
_KEYWORDS = ("risk", "env_ids", "step", "episode_seeds")


def _accepted(policy: Policy) -> set[str]:
    try:
        params = inspect.signature(policy).parameters
    except (TypeError, ValueError):  # builtins and C callables: positional observations only
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return set(_KEYWORDS)
    return set(_KEYWORDS) & set(params)


@dataclass(frozen=True)
class Episodes:
    """Per-episode records of one evaluation, every array ``(n_episodes,)`` in episode-index order."""

    returns: np.ndarray
    lengths: np.ndarray
    violation_steps: np.ndarray
    penalty_events: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    seeds: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        """Column arrays, e.g. for a results table."""
        return asdict(self)


_TRAIN_SALT = np.uint64(0xBB67AE8584CAA73B)  # separates a training seed's key from the protocol-1 key


def eval_seeds(task_id: str, episodes: int, base_seed: int = 0, train_seed: int | None = None) -> np.ndarray:
    """Reset seeds ``(episodes,)``: fixed per (task, base seed, training seed, episode index), whatever
    ``episodes`` is (the first k of n equal a k-episode evaluation).

    ``train_seed`` (protocol 2, docs/design.md §6): training seed s of every method gets the episode set of
    (``base_seed``, task, s); two training seeds get independent sets (counter-based splitmix64 keys, so
    they collide only by chance: 31-bit seeds, about n^2 / 2^32 expected repeats in n episodes).
    ``None``: the set of (``base_seed``, task) alone, which protocol 1 gave every seed of every method and
    which a policy evaluated on its own (``rsbench eval --policy``, reference scores) still uses.
    """
    key = np.asarray((zlib.crc32(task_id.encode()) << 32) | (base_seed & 0xFFFFFFFF), dtype=np.uint64)
    with np.errstate(over="ignore"):
        if train_seed is not None:
            key = mix64(key ^ mix64(as_seed_array(train_seed) + _TRAIN_SALT))[0]
        mixed = mix64(key ^ mix64(np.arange(episodes, dtype=np.uint64) + np.uint64(1)))
    return (mixed >> np.uint64(33)).astype(np.int64)  # 31-bit: valid for every env's seeding


def evaluate(
    policy: Policy,
    task_id: str,
    episodes: int,
    *,
    seed: int = 0,
    horizon: int | None = None,
    spec: RiskSpec | None = None,
    risk: RiskSetting | None = None,
    train_seed: int | None = None,
) -> Episodes:
    """Run ``episodes`` evaluation episodes of ``policy`` on ``task_id`` in lock-step.

    ``seed`` is the evaluation base seed (the suite's ``eval.seed``), ``train_seed`` the training seed of
    the policy under protocol 2 (None: the base seed's set alone, see :func:`eval_seeds`), ``horizon`` overrides the task's,
    ``spec`` a user risk spec, and ``risk`` is passed to the policy as ``risk=`` when given (and recorded
    by the caller); ``env_ids``, ``step`` and ``episode_seeds`` are passed to policies that name them
    (planners replan every few steps, keep a plan per episode and key their noise by episode and step).
    """
    if task_id not in TASKS:
        raise KeyError(f"unknown task {task_id!r}; expected one of {', '.join(TASKS)}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    seeds = eval_seeds(task_id, episodes, seed, train_seed)
    horizon = horizon or TASKS[task_id].horizon
    spec = spec or SPECS[task_id]
    base = TASKS[task_id].base
    batch: _Batch = _PointMassBatch() if base == "rsbench/PointMass" else _GymBatch(base, len(seeds))
    return _run(batch, policy, seeds, horizon, spec, risk)


def _run(
    batch: _Batch, policy: Policy, seeds: np.ndarray, horizon: int, spec: RiskSpec, risk: RiskSetting | None
) -> Episodes:
    """The lock-step loop; the risk spec is applied to the whole batch at once, exactly as
    :class:`~rsbench.envs.wrapper.RiskWrapper` applies it to one env (tested equal)."""
    n = len(seeds)
    obs = batch.reset(seeds)
    key = as_seed_array(seeds)
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    violations, penalties = np.zeros(n, np.int64), np.zeros(n, np.int64)
    terminated, truncated = np.zeros(n, bool), np.zeros(n, bool)
    live = np.arange(n)
    accepted = _accepted(policy)
    for t in range(horizon):
        kwargs: dict[str, object] = {"env_ids": live, "step": t, "episode_seeds": seeds[live]}
        if risk is not None:
            kwargs["risk"] = risk
        action = np.asarray(policy(obs[live], **{k: v for k, v in kwargs.items() if k in accepted}))
        nxt, base_reward, term = batch.step(live, action)
        obs[live] = nxt
        violation = spec.violation(obs[live])
        reward, fired = spec.apply(base_reward, violation, penalty_uniforms(key[live], t))
        returns[live] += reward
        lengths[live] += 1
        violations[live] += violation
        penalties[live] += fired
        terminated[live] = term
        truncated[live] = ~term & (t + 1 >= horizon)
        live = live[~term]
        if live.size == 0:
            break
    return Episodes(returns, lengths, violations, penalties, terminated, truncated, seeds)


class _Batch:
    """A batch of episodes of one base environment (no risk, no time limit): the loop adds both."""

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        """Reset episode ``i`` with ``seeds[i]``; returns observations ``(n, obs_dim)`` float32."""
        raise NotImplementedError

    def step(self, live: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step the ``live`` episodes; returns next obs ``(m, obs_dim)``, base rewards and terminated ``(m,)``."""
        raise NotImplementedError


class _PointMassBatch(_Batch):
    """Risky PointMass as one numpy array of positions."""

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        from rsbench.envs.pointmass import reset_positions

        # Same start states as PointMassEnv.reset(seed=s): gymnasium seeds np_random as default_rng(s).
        self.pos = np.concatenate([reset_positions(np.random.default_rng(int(s)), 1) for s in seeds])
        return self.pos.astype(np.float32)

    def step(self, live: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from rsbench.envs.pointmass import step_positions

        nxt, reward, terminated = step_positions(self.pos[live], np.asarray(actions, dtype=np.float64))
        self.pos[live] = nxt
        return nxt.astype(np.float32), reward, terminated


# Building a MuJoCo model costs about as much as 60 steps; evaluations in one process (every risk
# setting of a trial, every benchmark repeat) reuse the envs, which reset(seed=...) fully re-initialises.
_POOL: dict[str, list] = {}


class _GymBatch(_Batch):
    """A list of unwrapped gymnasium envs stepped in a plain loop."""

    def __init__(self, base: str, n: int):
        pool = _POOL.setdefault(base, [])
        pool.extend(make_base(base) for _ in range(n - len(pool)))
        self.envs = pool[:n]

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        return np.stack([env.reset(seed=int(s))[0] for env, s in zip(self.envs, seeds, strict=True)])

    def step(self, live: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = [self.envs[i].step(a) for i, a in zip(live, actions, strict=True)]
        obs = np.stack([o[0] for o in out])
        return obs, np.array([o[1] for o in out], dtype=np.float64), np.array([o[2] for o in out], dtype=bool)


@dataclass
class ActTimer:
    """Decision latency: the wall time of a policy's calls during an evaluation, not of the env steps.

    ``timer.wrap(policy)`` is the policy with every call timed (its signature is the policy's, so the
    evaluator passes it the same keywords); ``calls`` counts the calls, ``rows`` the observations they
    decided (the live episodes of each lock-step call), ``seconds`` their total wall time.
    """

    calls: int = 0
    rows: int = 0
    seconds: float = 0.0
    clock: Callable[[], float] = time.perf_counter

    def wrap(self, policy: Policy) -> Policy:
        @functools.wraps(policy)
        def timed(obs: np.ndarray, *args: Any, **kwargs: Any) -> Any:
            start = self.clock()
            action = policy(obs, *args, **kwargs)
            self.seconds += self.clock() - start
            self.calls += 1
            self.rows += len(obs)
            return action

        return timed

    def to_dict(self) -> dict[str, float]:
        """``calls``, ``rows``, ``seconds`` and ``ms_per_env``: milliseconds per ``act`` call per environment
        (seconds / rows), at the batch the evaluation ran."""
        ms = 1000.0 * self.seconds / self.rows if self.rows else float("nan")
        return {"calls": self.calls, "rows": self.rows, "seconds": self.seconds, "ms_per_env": ms}
