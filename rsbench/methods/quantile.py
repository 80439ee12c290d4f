"""Quantile regression and risk functionals of quantile sets (shared by RS-Diffuser and IQN).

A return distribution is represented by ``M`` quantiles at the midpoints ``tau_i = (2i + 1) / 2M``
(QR-DQN, Dabney et al. 2018, https://arxiv.org/abs/1710.10044); each carries probability ``1/M``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from rsbench.risk import RiskSetting


def midpoint_taus(n: int, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(n,)`` quantile levels ``(2i + 1) / 2n``."""
    return (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n


def quantile_huber_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    taus: torch.Tensor,
    kappa: float = 1.0,
    reduction: Literal["sum", "mean"] = "sum",
) -> torch.Tensor:
    """Quantile-Huber loss (Dabney et al. 2018), averaged over the batch.

    ``pred`` ``(B, M)`` quantile estimates at levels ``taus`` (``(M,)`` or ``(B, M)``); ``target``
    ``(B, M')`` samples of the target distribution (``(B,)`` for one Monte-Carlo return). Every pair
    ``(i, j)`` contributes ``|tau_i - 1{u_ij < 0}| * huber_kappa(u_ij) / kappa`` with ``u = target_j - pred_i``;
    the loss averages over ``j`` and, over ``i``, sums (``reduction="sum"``: IQN's eq. 3) or averages
    (``"mean"``: CODAC's ``quantile_regression_loss``, ``M`` times smaller).
    """
    if target.dim() == 1:
        target = target[:, None]
    u = target[:, None, :] - pred[:, :, None]  # (B, M, M')
    abs_u = u.abs()
    huber = torch.where(abs_u <= kappa, 0.5 * u.pow(2), kappa * (abs_u - 0.5 * kappa))
    taus = taus if taus.dim() == 2 else taus.expand(pred.shape[0], -1)
    weight = (taus[:, :, None] - (u.detach() < 0).float()).abs()
    per_quantile = (weight * huber / kappa).mean(dim=2)  # (B, M)
    return (per_quantile.sum(dim=1) if reduction == "sum" else per_quantile.mean(dim=1)).mean()


def tail_weights(n: int, risk: RiskSetting, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(n,)`` weights over sorted quantiles (ascending) that sum to 1 and give the risk functional.

    ``neutral``: all ``1/n`` (the mean). ``cvar:alpha``: the lower ``alpha`` tail with the interpolated
    form of docs/design.md §6, ``k = n * alpha``: weight ``1/k`` on the lowest ``floor(k)`` quantiles and
    ``(k - floor(k)) / k`` on the next. ``seeking:alpha``: the same on the upper tail. The distortions
    (``wang``, ``cpw``, ``power``): the mass the distorted level distribution puts on each quantile's
    bin, :meth:`~rsbench.risk.RiskSetting.level_weights`.
    """
    if risk.kind == "neutral":
        return torch.full((n,), 1.0 / n, device=device)
    if risk.kind not in ("cvar", "seeking"):
        return torch.as_tensor(risk.level_weights(n), dtype=torch.float32, device=device)
    k = max(n * risk.alpha, 1.0)  # at least one quantile: below 1/n the tail is the lowest quantile
    whole = min(math.floor(k), n)
    w = torch.zeros(n, device=device)
    w[:whole] = 1.0 / k
    if whole < n:
        w[whole] = (k - whole) / k
    return w if risk.kind == "cvar" else w.flip(0)


def risk_value(quantiles: torch.Tensor, risk: RiskSetting) -> torch.Tensor:
    """The risk functional of each row: ``(B, M)`` quantiles -> ``(B,)``; differentiable (sorts first)."""
    ordered = torch.sort(quantiles, dim=-1).values
    return ordered @ tail_weights(quantiles.shape[-1], risk, device=quantiles.device)
