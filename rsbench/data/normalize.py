"""Observation / reward normalisers fitted on a dataset; their state travels with a method's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

NormKind = Literal["gaussian", "limits", "identity"]


@dataclass(frozen=True)
class Normalizer:
    """Per-dimension affine map ``y = (x - shift) / scale``.

    ``gaussian``: shift = mean, scale = std (floored at ``eps``); ``limits`` (Diffuser's): maps
    ``[min, max]`` onto ``[-1, 1]``; ``identity``: no change. Arrays are ``(..., dim)``.
    """

    kind: NormKind
    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, kind: NormKind = "gaussian", eps: float = 1e-6) -> Normalizer:
        """Fit on ``x`` of shape ``(N, dim)`` (or ``(N,)`` for a scalar such as reward)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        dim = x.shape[-1]
        if kind == "identity":
            return cls(kind, np.zeros(dim), np.ones(dim))
        if kind == "gaussian":
            return cls(kind, x.mean(axis=0), np.maximum(x.std(axis=0), eps))
        if kind == "limits":
            lo, hi = x.min(axis=0), x.max(axis=0)
            return cls(kind, (hi + lo) / 2.0, np.maximum((hi - lo) / 2.0, eps))
        raise ValueError(f"unknown normaliser {kind!r}; expected gaussian, limits or identity")

    def normalize(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x) - self.shift) / self.scale).astype(np.float32)

    def unnormalize(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y) * self.scale + self.shift).astype(np.float32)

    def state_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "shift": self.shift.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> Normalizer:
        return cls(
            state["kind"], np.asarray(state["shift"], np.float64), np.asarray(state["scale"], np.float64)
        )
