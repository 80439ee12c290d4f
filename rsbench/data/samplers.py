"""The shared samplers: uniform transitions (CQL, IQN) and fixed-horizon sequences (diffusion planners).

Both draw from an explicit ``numpy.random.Generator`` and return dicts of numpy arrays; methods move
them to torch. Observations come out normalised when a normaliser is given.
"""

from __future__ import annotations

import numpy as np

from rsbench.data.normalize import Normalizer
from rsbench.data.offline import OfflineData


class TransitionSampler:
    """Uniform minibatches of single transitions.

    ``sample()`` returns ``observations`` / ``next_observations`` ``(B, obs_dim)``, ``actions``
    ``(B, act_dim)``, ``rewards`` ``(B,)`` (times ``reward_scale``), ``terminals``, ``violations``,
    ``penalties`` ``(B,)`` as float32.
    """

    def __init__(
        self,
        data: OfflineData,
        batch_size: int,
        rng: np.random.Generator,
        obs_normalizer: Normalizer | None = None,
        reward_scale: float = 1.0,
    ):
        self.data, self.batch_size, self.rng = data, batch_size, rng
        norm = obs_normalizer or Normalizer.fit(data.observations, "identity")
        self._obs = norm.normalize(data.observations)
        self._next = norm.normalize(data.next_observations)
        self._rewards = (data.rewards * reward_scale).astype(np.float32)

    def sample(self) -> dict[str, np.ndarray]:
        idx = self.rng.integers(self.data.n_steps, size=self.batch_size)
        d = self.data
        return {
            "observations": self._obs[idx],
            "actions": d.actions[idx],
            "rewards": self._rewards[idx],
            "next_observations": self._next[idx],
            "terminals": d.terminals[idx].astype(np.float32),
            "violations": d.violations[idx].astype(np.float32),
            "penalties": d.penalties[idx].astype(np.float32),
        }


def _terminated(data: OfflineData) -> np.ndarray:
    """``(n_episodes,)`` whether each episode ended in a terminal state (else a timeout or the data's end)."""
    return data.terminals[data.episode_starts + data.episode_lengths - 1]


def window_starts(data: OfflineData, horizon: int) -> np.ndarray:
    """Dataset steps where a training window of ``horizon`` steps may start, ascending.

    After a **termination** the terminal state is absorbing, so a window may run past the episode's end
    (padded with that state): every step starts one. After a **truncation** (timeout, or the data's end)
    the episode would have gone on, and padding with its last state would teach "stand still": only
    windows that fit inside the episode start (``length - horizon + 1`` of them, none when it is shorter).
    This is what Diffuser's and Decision Diffuser's ``SequenceDataset.make_indices`` do with
    ``max_start = min(path_length - 1, max_path_length - horizon)``: D4RL's timeouts end episodes at
    ``max_path_length``, so only terminated episodes reach the padding.
    """
    starts = []
    for first, length, term in zip(data.episode_starts, data.episode_lengths, _terminated(data), strict=True):
        count = length if term else max(length - horizon + 1, 0)
        starts.append(first + np.arange(count))
    out = np.concatenate(starts).astype(np.int64)
    if out.size == 0:
        raise ValueError(f"no episode is long enough for windows of {horizon} steps")
    return out


def window_states(data: OfflineData, horizon: int) -> np.ndarray:
    """``(M, obs_dim)`` every state a training window can contain: the states of episodes with a window,
    and the terminal state that pads after a termination. A state normaliser fitted on these maps every
    training window into its range (the limits normaliser: into [-1, 1])."""
    parts = []
    for first, length, term in zip(data.episode_starts, data.episode_lengths, _terminated(data), strict=True):
        if term:
            parts += [
                data.observations[first : first + length],
                data.next_observations[first + length - 1][None],
            ]
        elif length >= horizon:
            parts.append(data.observations[first : first + length])
    return np.concatenate(parts)


class SequenceSampler:
    """Windows of ``horizon`` consecutive steps starting at the steps of :func:`window_starts`.

    Windows that run past a terminated episode's end are padded: the terminal state is repeated, actions
    and rewards are zero and ``mask`` is 0 there (Diffuser's padding, with the absorbing state); windows of a
    truncated episode never run past its end. ``sample()`` returns:

    - ``observations`` ``(B, H, obs_dim)``: ``s_t .. s_{t+H-1}``;
    - ``actions`` ``(B, H, act_dim)``, ``rewards`` ``(B, H)``, ``mask`` ``(B, H)``;
    - ``returns`` ``(B,)``: discounted Monte-Carlo return from ``s_t`` to the end of the episode
      (times ``reward_scale``), the target of return-conditioned and distributional guidance;
      with ``termination_penalty``, rewards and returns hold it at a terminated episode's last step
      (:meth:`OfflineData.penalised_rewards`);
    - ``violations`` ``(B, H)``;
    - with ``successor`` n > 0 (TD backups between consecutive windows): ``next_observations`` ``(B, H, obs_dim)``
      the window starting n steps later (its first state is ``s_{t+n}``; past a terminated episode's end the
      terminal state repeats, past a truncated one's its last state), and ``bootstrap`` ``(B,)``, 1 where
      ``s_{t+n}`` is a state of the episode and 0 where the episode terminated before it (absorbing, value 0).
    """

    def __init__(
        self,
        data: OfflineData,
        horizon: int,
        batch_size: int,
        rng: np.random.Generator,
        obs_normalizer: Normalizer | None = None,
        discount: float = 0.99,
        reward_scale: float = 1.0,
        termination_penalty: float = 0.0,
        successor: int = 0,
    ):
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if successor < 0:
            raise ValueError(f"successor must be >= 0, got {successor}")
        self.successor = successor
        self.data, self.horizon, self.batch_size, self.rng = data, horizon, batch_size, rng
        norm = obs_normalizer or Normalizer.fit(data.observations, "identity")
        to_go = data.returns_to_go(discount, termination_penalty=termination_penalty)
        self._returns = (to_go * reward_scale).astype(np.float32)
        penalised = data.penalised_rewards(termination_penalty)
        pad = horizon - 1
        states, actions, rewards, mask, violations, starts, last = [], [], [], [], [], [], []
        offset = 0
        for start, length in zip(data.episode_starts, data.episode_lengths, strict=True):
            sl = slice(start, start + length)
            final = data.next_observations[start + length - 1]
            states.append(np.concatenate([data.observations[sl], np.repeat(final[None], pad, 0)]))
            actions.append(np.concatenate([data.actions[sl], np.zeros((pad, data.act_dim), np.float32)]))
            rewards.append(np.concatenate([penalised[sl] * reward_scale, np.zeros(pad)]))
            mask.append(np.concatenate([np.ones(length), np.zeros(pad)]))
            violations.append(np.concatenate([data.violations[sl], np.zeros(pad, bool)]))
            starts.append(offset + np.arange(length))
            last.append(np.full(length, offset + length + pad - 1))
            offset += length + pad
        self._states = norm.normalize(np.concatenate(states))
        self._actions = np.concatenate(actions).astype(np.float32)
        self._rewards = np.concatenate(rewards).astype(np.float32)
        self._mask = np.concatenate(mask).astype(np.float32)
        self._violations = np.concatenate(violations).astype(np.float32)
        self._window_starts = np.concatenate(starts)  # one per dataset step, in step order
        self._window_last = np.concatenate(last)  # the last padded row of each step's episode
        ends = (data.episode_starts + data.episode_lengths)[data.episode_index]
        terminated = data.terminals[ends - 1]
        self._bootstrap = ((np.arange(data.n_steps) + successor < ends) | ~terminated).astype(np.float32)
        self._steps = window_starts(data, horizon)  # the dataset steps a window may start at

    def sample(self) -> dict[str, np.ndarray]:
        step = self._steps[self.rng.integers(self._steps.size, size=self.batch_size)]
        idx = self._window_starts[step][:, None] + np.arange(self.horizon)
        out = {
            "observations": self._states[idx],
            "actions": self._actions[idx],
            "rewards": self._rewards[idx],
            "mask": self._mask[idx],
            "returns": self._returns[step],
            "violations": self._violations[idx],
        }
        if self.successor:
            later = np.minimum(idx + self.successor, self._window_last[step][:, None])
            out |= {"next_observations": self._states[later], "bootstrap": self._bootstrap[step]}
        return out
