"""Small torch building blocks shared by methods: MLPs and the inverse-dynamics model."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn


def mlp(
    in_dim: int, hidden: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.Mish
) -> nn.Sequential:
    """``in_dim -> hidden... -> out_dim`` with ``activation`` between layers (none after the last)."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class InverseDynamics(nn.Module):
    """``a_t = f(s_t, s_{t+1})`` (Decision Diffuser, Ajay et al. 2023, https://arxiv.org/abs/2211.15657).

    ``forward(s, s_next)``: ``(B, obs_dim)`` twice (normalised states) -> ``(B, act_dim)`` in ``[-1, 1]``
    (tanh), which the caller maps onto the action bounds.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256)):
        super().__init__()
        self.net = mlp(2 * obs_dim, hidden, act_dim, nn.ReLU)

    def forward(self, s: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([s, s_next], dim=-1)))


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging of target networks: ``target <- (1 - tau) * target + tau * source``."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)
