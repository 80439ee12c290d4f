"""Behaviour policies as plain torch: a Gaussian MLP plus observation-normalisation statistics.

A committed policy file loads with torch alone (``torch.load(weights_only=True)``): no stable-baselines3,
no pickled classes. The file holds the layer weights of SB3's ``MlpPolicy`` actor (the mean network and
the state-independent log standard deviation), the running mean / variance of ``VecNormalize`` and a
provenance record (command, steps, seed, returns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT = "rsbench-behaviour-v1"


@dataclass
class BehaviourPolicy:
    """A Gaussian policy ``a ~ N(mu(norm(s)), exp(log_std)^2)``, clipped to [-1, 1] like SB3 does.

    Attributes:
        net: the mean network (``Linear``/``Tanh`` stack).
        log_std: per-dimension log standard deviation, state independent (SB3's PPO).
        obs_mean, obs_var: ``VecNormalize`` running statistics of the training run.
        clip_obs: normalised observations are clipped to +-clip_obs (VecNormalize's default 10).
        provenance: plain data saying how the policy was made.
    """

    net: nn.Sequential
    log_std: torch.Tensor
    obs_mean: np.ndarray
    obs_var: np.ndarray
    clip_obs: float = 10.0
    provenance: dict[str, Any] = field(default_factory=dict)

    EPS = 1e-8  # VecNormalize's epsilon

    @property
    def act_dim(self) -> int:
        return int(self.log_std.shape[0])

    def normalise(self, obs: np.ndarray) -> np.ndarray:
        """VecNormalize's observation transform, in float64."""
        z = (np.asarray(obs, dtype=np.float64) - self.obs_mean) / np.sqrt(self.obs_var + self.EPS)
        return np.clip(z, -self.clip_obs, self.clip_obs)

    def mean(self, obs: np.ndarray) -> np.ndarray:
        """The Gaussian's mean ``(n, act_dim)`` for a batch of observations (unclipped, as SB3 samples).

        Computed in float64 with ``einsum``'s fixed summation order, not a BLAS matmul, so a row's result
        does not depend on the batch it is in: lock-step recording equals episode-by-episode recording.
        """
        x = self.normalise(obs)
        layers = self._layers()
        for i, (w, b) in enumerate(layers):
            x = np.einsum("bi,oi->bo", x, w) + b
            if i < len(layers) - 1:
                x = np.tanh(x)
        return x

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if not hasattr(self, "_cache"):
            linears = [m for m in self.net if isinstance(m, nn.Linear)]
            self._cache = [
                (m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in linears
            ]
        return self._cache

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions for a batch of observations ``(n, obs_dim)``."""
        return np.clip(self.mean(obs), -1.0, 1.0)

    def to_file_dict(self) -> dict[str, Any]:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        return {
            "format": FORMAT,
            "weights": [m.weight.detach().clone() for m in linears],
            "biases": [m.bias.detach().clone() for m in linears],
            "log_std": self.log_std.detach().clone(),
            "obs_mean": torch.as_tensor(self.obs_mean, dtype=torch.float64),
            "obs_var": torch.as_tensor(self.obs_var, dtype=torch.float64),
            "clip_obs": float(self.clip_obs),
            "provenance": self.provenance,
        }

    def save(self, path: Path) -> None:
        import io

        from rsbench.results.fs import locate

        buf = io.BytesIO()
        torch.save(self.to_file_dict(), buf)
        locate(path).write_bytes(buf.getvalue())


def mlp(weights: list[torch.Tensor], biases: list[torch.Tensor]) -> nn.Sequential:
    """Rebuild SB3's ``Linear -> Tanh -> ... -> Linear`` mean network from its weights."""
    layers: list[nn.Module] = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.data.copy_(w)
        lin.bias.data.copy_(b)
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers).eval()


def load_policy(path: str | Path) -> BehaviourPolicy:
    """Load a policy file written by :meth:`BehaviourPolicy.save` (torch only)."""
    from rsbench.errors import UserError

    try:
        d = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as e:
        raise UserError(f"cannot read behaviour policy: {e}", source=path) from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise UserError(
            f"not a behaviour policy file (expected format {FORMAT!r})", source=path, key="format"
        )
    return BehaviourPolicy(
        net=mlp(d["weights"], d["biases"]),
        log_std=d["log_std"],
        obs_mean=d["obs_mean"].numpy(),
        obs_var=d["obs_var"].numpy(),
        clip_obs=d["clip_obs"],
        provenance=d["provenance"],
    )
