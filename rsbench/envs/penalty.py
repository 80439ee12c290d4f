"""Counter-based penalty draws: one uniform per (episode seed, step index, salt).

The penalty RNG is keyed by the episode's seed (docs/design.md §2). A counter-based generator (a splitmix64
hash of seed, salt and step) has no sequential state, so the online wrapper, the batched evaluator and
offline relabelling get the *same* draw for the same step without replaying anything, and a batch of
episodes with different seeds is drawn in one vectorised call.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a ``uint64`` array (wrapping arithmetic): a well-mixed hash."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def as_seed_array(seeds: int | np.ndarray | list[int]) -> np.ndarray:
    """Seeds (any Python ints, e.g. Minari's 64-bit autoseeds) as a ``uint64`` array."""
    if isinstance(seeds, np.ndarray) and seeds.dtype == np.uint64:
        return seeds
    return np.asarray([int(s) & _MASK64 for s in np.atleast_1d(np.asarray(seeds, dtype=object))], np.uint64)


def penalty_uniforms(episode_seeds: int | np.ndarray, steps: int | np.ndarray, salt: int = 0) -> np.ndarray:
    """Uniform draws in ``[0, 1)``; ``episode_seeds`` and ``steps`` broadcast to ``(N,)``.

    ``steps`` counts transitions since reset from 0. ``salt`` separates independent relabellings of the
    same episodes (``rsbench data relabel --seed``); the online wrapper uses salt 0 by default.
    """
    seeds = as_seed_array(episode_seeds)
    t = np.asarray(steps, dtype=np.uint64)
    with np.errstate(over="ignore"):
        key = mix64(mix64(np.asarray(np.uint64(int(salt) & _MASK64) + _GOLDEN)) ^ seeds)
        bits = mix64(key + (t + np.uint64(1)) * _GOLDEN)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
