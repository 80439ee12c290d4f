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


class SequenceSampler:
    """Windows of ``horizon`` consecutive steps starting at any step of any episode.

    Windows that run past an episode's end are padded: the final state is repeated, actions and rewards
    are zero and ``mask`` is 0 there (Diffuser's padding). ``sample()`` returns:

    - ``observations`` ``(B, H, obs_dim)``: ``s_t .. s_{t+H-1}``;
    - ``actions`` ``(B, H, act_dim)``, ``rewards`` ``(B, H)``, ``mask`` ``(B, H)``;
    - ``returns`` ``(B,)``: discounted Monte-Carlo return from ``s_t`` to the end of the episode
      (times ``reward_scale``), the target of return-conditioned and distributional guidance;
    - ``violations`` ``(B, H)``.
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
    ):
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.data, self.horizon, self.batch_size, self.rng = data, horizon, batch_size, rng
        norm = obs_normalizer or Normalizer.fit(data.observations, "identity")
        self._returns = (data.returns_to_go(discount) * reward_scale).astype(np.float32)
        pad = horizon - 1
        states, actions, rewards, mask, violations, starts = [], [], [], [], [], []
        offset = 0
        for start, length in zip(data.episode_starts, data.episode_lengths, strict=True):
            sl = slice(start, start + length)
            final = data.next_observations[start + length - 1]
            states.append(np.concatenate([data.observations[sl], np.repeat(final[None], pad, 0)]))
            actions.append(np.concatenate([data.actions[sl], np.zeros((pad, data.act_dim), np.float32)]))
            rewards.append(np.concatenate([data.rewards[sl] * reward_scale, np.zeros(pad)]))
            mask.append(np.concatenate([np.ones(length), np.zeros(pad)]))
            violations.append(np.concatenate([data.violations[sl], np.zeros(pad, bool)]))
            starts.append(offset + np.arange(length))
            offset += length + pad
        self._states = norm.normalize(np.concatenate(states))
        self._actions = np.concatenate(actions).astype(np.float32)
        self._rewards = np.concatenate(rewards).astype(np.float32)
        self._mask = np.concatenate(mask).astype(np.float32)
        self._violations = np.concatenate(violations).astype(np.float32)
        self._window_starts = np.concatenate(starts)  # one per dataset step, in step order

    def sample(self) -> dict[str, np.ndarray]:
        step = self.rng.integers(self.data.n_steps, size=self.batch_size)
        idx = self._window_starts[step][:, None] + np.arange(self.horizon)
        return {
            "observations": self._states[idx],
            "actions": self._actions[idx],
            "rewards": self._rewards[idx],
            "mask": self._mask[idx],
            "returns": self._returns[step],
            "violations": self._violations[idx],
        }
