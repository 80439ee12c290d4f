"""A Minari dataset flattened into transition arrays, the one in-memory layout every sampler reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rsbench.data import store

REF_SCORE_KEYS = ("ref_min_score", "ref_max_score")


def reference_scores(metadata: dict[str, Any]) -> tuple[float, float] | None:
    """``(ref_min_score, ref_max_score)`` of a dataset's metadata, or None where it has no usable pair.

    They are the references of :func:`rsbench.eval.metrics.normalised_score`: on rsbench's datasets its
    random and PPO-expert returns on the risky task at its evaluation horizon, not D4RL's.
    """
    lo, hi = metadata.get("ref_min_score"), metadata.get("ref_max_score")
    if lo is None or hi is None or hi == lo:
        return None
    return float(lo), float(hi)


@dataclass(frozen=True)
class OfflineData:
    """Flat transitions of ``E`` episodes with ``N`` steps in total.

    Attributes:
        observations: ``(N, obs_dim)`` float32, the state a step starts in.
        actions: ``(N, act_dim)`` float32.
        rewards: ``(N,)`` float64, penalties included.
        next_observations: ``(N, obs_dim)`` float32.
        terminals: ``(N,)`` bool, the step ended the episode in a terminal state.
        timeouts: ``(N,)`` bool, the step ended the episode by truncation.
        violations: ``(N,)`` bool, the next state is risky (all False when the data has no risk flags).
        penalties: ``(N,)`` bool, the penalty fired on the step.
        episode_starts: ``(E,)`` int, index of each episode's first step.
        episode_lengths: ``(E,)`` int.
        episode_seeds: ``(E,)`` int64 reset seeds (-1 where unknown).
        dataset_id: the Minari id the data came from.
        metadata: rsbench's metadata block (task id, risk spec, ...) or ``{}``.
        has_risk_flags: whether violation/penalty flags were recorded.
        action_low, action_high: ``(act_dim,)`` bounds of the recorded action space, or None if unknown.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    violations: np.ndarray
    penalties: np.ndarray
    episode_starts: np.ndarray
    episode_lengths: np.ndarray
    episode_seeds: np.ndarray
    dataset_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    has_risk_flags: bool = True
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def n_episodes(self) -> int:
        return int(self.episode_starts.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def episode_index(self) -> np.ndarray:
        """``(N,)`` episode number of every step."""
        return np.repeat(np.arange(self.n_episodes), self.episode_lengths)

    def episode_returns(self, discount: float = 1.0) -> np.ndarray:
        """``(E,)`` (discounted) return of every episode."""
        return self.returns_to_go(discount)[self.episode_starts]

    def content_hash(self) -> str:
        """SHA-256 (first 16 hex digits) of every array a method reads: same seed, same hash."""
        h = hashlib.sha256()
        for a in (
            self.observations,
            self.actions,
            self.rewards,
            self.next_observations,
            self.terminals,
            self.timeouts,
            self.violations,
            self.penalties,
            self.episode_lengths,
        ):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    @property
    def reference_scores(self) -> tuple[float, float] | None:
        """The dataset's ``(ref_min_score, ref_max_score)`` (see :func:`reference_scores`), or None."""
        return reference_scores(self.metadata)

    def penalised_rewards(self, termination_penalty: float = 0.0) -> np.ndarray:
        """``(N,)`` rewards with ``termination_penalty`` added at the last step of every episode that ended in a
        terminal state (Diffuser's ``ReplayBuffer.add_path``: -100 for falling in locomotion); timeouts and
        the data's end are not penalised."""
        rewards = self.rewards.copy()
        if termination_penalty:
            last = self.episode_starts + self.episode_lengths - 1
            rewards[last[self.terminals[last]]] += termination_penalty
        return rewards

    def returns_to_go(self, discount: float = 1.0, *, termination_penalty: float = 0.0) -> np.ndarray:
        """``(N,)`` discounted Monte-Carlo return from every step to the end of its episode, of
        :meth:`penalised_rewards`."""
        rewards = self.penalised_rewards(termination_penalty)
        out = np.empty_like(rewards)
        for start, length in zip(self.episode_starts, self.episode_lengths, strict=True):
            acc = 0.0
            for i in range(start + length - 1, start - 1, -1):
                acc = rewards[i] + discount * acc
                out[i] = acc
        return out

    @classmethod
    def from_episodes(
        cls,
        episodes: list[dict[str, np.ndarray]],
        *,
        dataset_id: str = "",
        metadata: dict | None = None,
        action_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> OfflineData:
        """Flatten per-episode dicts with ``observations`` ``(T+1, d)``, ``actions``, ``rewards``,
        ``terminations``, ``truncations`` ``(T, ...)``, optional ``violation``/``penalty`` ``(T,)`` and
        optional scalar ``seed``."""
        if not episodes:
            raise ValueError("dataset has no episodes")
        lengths = np.array([len(e["rewards"]) for e in episodes], dtype=np.int64)
        flags = all("violation" in e and "penalty" in e for e in episodes)

        def cat(key: str, sl: slice = slice(None), dtype: Any = None) -> np.ndarray:
            return np.concatenate([np.asarray(e[key])[sl] for e in episodes]).astype(dtype)

        n = int(lengths.sum())
        return cls(
            observations=cat("observations", slice(None, -1), np.float32),
            actions=cat("actions", slice(None), np.float32),
            rewards=cat("rewards", slice(None), np.float64),
            next_observations=cat("observations", slice(1, None), np.float32),
            terminals=cat("terminations", slice(None), bool),
            timeouts=cat("truncations", slice(None), bool),
            violations=cat("violation", slice(None), bool) if flags else np.zeros(n, bool),
            penalties=cat("penalty", slice(None), bool) if flags else np.zeros(n, bool),
            episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            episode_lengths=lengths,
            episode_seeds=np.array([int(e.get("seed", -1)) for e in episodes], dtype=np.int64),
            dataset_id=dataset_id,
            metadata=metadata or {},
            has_risk_flags=flags,
            action_low=None if action_bounds is None else np.asarray(action_bounds[0], np.float32),
            action_high=None if action_bounds is None else np.asarray(action_bounds[1], np.float32),
        )


def read_episodes(dataset: Any) -> list[dict[str, Any]]:
    """Episodes of a ``MinariDataset`` as plain dicts (with ``seed`` from the episode metadata)."""
    ids = list(dataset.episode_indices)
    metas = list(dataset.storage.get_episode_metadata(ids))
    episodes = []
    for ep, meta in zip(dataset.iterate_episodes(ids), metas, strict=True):
        d: dict[str, Any] = {
            "id": ep.id,
            "observations": np.asarray(ep.observations),
            "actions": np.asarray(ep.actions),
            "rewards": np.asarray(ep.rewards),
            "terminations": np.asarray(ep.terminations),
            "truncations": np.asarray(ep.truncations),
        }
        if meta.get("seed") is not None:
            d["seed"] = int(meta["seed"])
        for key in ("violation", "penalty", "base_reward"):
            if key in ep.infos:
                d[key] = np.asarray(ep.infos[key])[1:]  # infos[0] is the reset info
        episodes.append(d)
    return episodes


def load(dataset_id: str, *, source: str = "dataset") -> OfflineData:
    """Load a local Minari dataset into :class:`OfflineData` (``source`` names the key in errors)."""
    dataset = store.load_minari(dataset_id, source=source)
    minari_meta = store.read_metadata(dataset_id)
    meta = dict(minari_meta.get(store.METADATA_KEY, {}))
    # Minari keeps the reference scores at its top level (what `minari.get_normalized_score` reads).
    # Datasets relabelled before the source's references moved to `source_ref_*` carry the source's
    # risk-free ones there, marked by a `reference_scores` note: those are never used.
    if "reference_scores" not in meta:
        meta.update({k: float(minari_meta[k]) for k in REF_SCORE_KEYS if minari_meta.get(k) is not None})
    space = dataset.action_space
    bounds = (space.low, space.high) if hasattr(space, "low") else None
    return OfflineData.from_episodes(
        read_episodes(dataset), dataset_id=dataset_id, metadata=meta, action_bounds=bounds
    )
