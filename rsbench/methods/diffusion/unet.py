"""Diffuser's temporal U-Net and value network (Janner et al. 2022).

Trajectories are ``(B, H, D)``: batch, horizon, transition features. The networks convolve over the
horizon with the features as channels, so they work on ``(B, C, H)`` internally. Each resolution level
but the last halves the horizon, hence horizons must be divisible by ``2 ** (len(dim_mults) - 1)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class SinusoidalEmbedding(nn.Module):
    """Transformer-style embedding of diffusion timesteps: ``(B,)`` float or long -> ``(B, dim)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"sinusoidal embedding dim must be even and >= 4, got {dim}")
        half = dim // 2
        freqs = torch.exp(torch.arange(half) * (-math.log(10000.0) / (half - 1)))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        """``(B,)`` -> ``(B, dim)``."""
        angles = t.to(self.freqs.dtype)[:, None] * self.freqs
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Conv1dBlock(nn.Sequential):
    """Conv1d (length-preserving) -> GroupNorm -> Mish: ``(B, in_ch, H)`` -> ``(B, out_ch, H)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, n_groups: int = 8) -> None:
        super().__init__(
            nn.Conv1d(in_ch, out_ch, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_ch),
            nn.Mish(),
        )


class ResidualTemporalBlock(nn.Module):
    """Two :class:`Conv1dBlock` with an embedding added in between, plus a residual connection.

    ``x`` ``(B, in_ch, H)`` and ``emb`` ``(B, embed_dim)`` -> ``(B, out_ch, H)``.
    """

    def __init__(self, in_ch: int, out_ch: int, embed_dim: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.block1 = Conv1dBlock(in_ch, out_ch, kernel_size)
        self.block2 = Conv1dBlock(out_ch, out_ch, kernel_size)
        self.embed = nn.Sequential(nn.Mish(), nn.Linear(embed_dim, out_ch))
        self.residual = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """``x`` ``(B, in_ch, H)``, ``emb`` ``(B, embed_dim)`` -> ``(B, out_ch, H)``."""
        h = self.block1(x) + self.embed(emb).unsqueeze(-1)
        return self.block2(h) + self.residual(x)


def _time_mlp(dim: int) -> nn.Sequential:
    """Diffuser's timestep embedding: ``(B,)`` -> ``(B, dim)``."""
    return nn.Sequential(
        SinusoidalEmbedding(dim), nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim)
    )


def _downsample(ch: int) -> nn.Conv1d:
    """Halve the horizon (rounding up): ``(B, ch, H)`` -> ``(B, ch, ceil(H / 2))``."""
    return nn.Conv1d(ch, ch, 3, stride=2, padding=1)


def _upsample(ch: int) -> nn.ConvTranspose1d:
    """Double the horizon: ``(B, ch, H)`` -> ``(B, ch, 2H)``."""
    return nn.ConvTranspose1d(ch, ch, 4, stride=2, padding=1)


def _down_path(channels: Sequence[int], embed_dim: int, kernel_size: int) -> nn.ModuleList:
    """Per level ``[res1, res2, down]``: two residual blocks, then a halving of the horizon but at the last."""
    levels = list(itertools.pairwise(channels))
    return nn.ModuleList(
        nn.ModuleList(
            [
                ResidualTemporalBlock(c_in, c_out, embed_dim, kernel_size),
                ResidualTemporalBlock(c_out, c_out, embed_dim, kernel_size),
                _downsample(c_out) if i < len(levels) - 1 else nn.Identity(),
            ]
        )
        for i, (c_in, c_out) in enumerate(levels)
    )


def _check_config(transition_dim: int, dim: int, dim_mults: Sequence[int], kernel_size: int) -> None:
    if transition_dim < 1:
        raise ValueError(f"transition_dim must be >= 1, got {transition_dim}")
    if dim < 8 or dim % 8:
        raise ValueError(f"dim must be a positive multiple of 8 (the GroupNorm groups), got {dim}")
    if len(dim_mults) < 1 or any(int(m) != m or m < 1 for m in dim_mults):
        raise ValueError(f"dim_mults must be a non-empty sequence of positive ints, got {tuple(dim_mults)}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive (to keep the horizon), got {kernel_size}")


def _check_horizon(horizon: int, dim_mults: Sequence[int]) -> None:
    factor = 2 ** (len(dim_mults) - 1)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if horizon % factor:
        raise ValueError(
            f"horizon {horizon} must be divisible by {factor} for dim_mults of length {len(dim_mults)}"
        )


class TemporalUnet(nn.Module):
    """Diffuser's noise (or clean-trajectory) network, optionally return-conditioned.

    ``forward(x (B, H, transition_dim), t (B,), cond (B, cond_dim) | None, cond_mask (B,) | None)``
    -> ``(B, H, transition_dim)``. With ``cond_dim > 0`` a condition (Decision Diffuser's return) is
    embedded and concatenated to the timestep embedding; ``cond=None`` or ``cond_mask = 0`` replace its
    embedding by zeros, the unconditional model of classifier-free guidance.
    """

    def __init__(
        self,
        transition_dim: int,
        dim: int = 32,
        dim_mults: Sequence[int] = (1, 2, 4, 8),
        cond_dim: int = 0,
        kernel_size: int = 5,
    ) -> None:
        super().__init__()
        _check_config(transition_dim, dim, dim_mults, kernel_size)
        if cond_dim < 0:
            raise ValueError(f"cond_dim must be >= 0, got {cond_dim}")
        self.transition_dim = transition_dim
        self.dim = dim
        self.dim_mults = tuple(int(m) for m in dim_mults)
        self.cond_dim = cond_dim

        self.time_mlp = _time_mlp(dim)
        self.cond_mlp: nn.Sequential | None = None
        if cond_dim > 0:
            self.cond_mlp = nn.Sequential(
                nn.Linear(cond_dim, dim),
                nn.Mish(),
                nn.Linear(dim, 4 * dim),
                nn.Mish(),
                nn.Linear(4 * dim, dim),
            )
        embed_dim = 2 * dim if cond_dim > 0 else dim

        channels = [transition_dim, *(dim * m for m in self.dim_mults)]

        def block(c_in: int, c_out: int) -> ResidualTemporalBlock:
            return ResidualTemporalBlock(c_in, c_out, embed_dim, kernel_size)

        self.downs = _down_path(channels, embed_dim, kernel_size)
        mid = channels[-1]
        self.mid1 = block(mid, mid)
        self.mid2 = block(mid, mid)
        # One up level per down level but the first: each doubles the horizon back, so every one samples up.
        self.ups = nn.ModuleList(
            nn.ModuleList([block(2 * c_out, c_in), block(c_in, c_in), _upsample(c_in)])
            for c_in, c_out in reversed(list(itertools.pairwise(channels))[1:])
        )
        self.final = nn.Sequential(Conv1dBlock(dim, dim, kernel_size), nn.Conv1d(dim, transition_dim, 1))

    def check_horizon(self, horizon: int) -> None:
        """Raise ``ValueError`` unless ``horizon`` is divisible by ``2 ** (len(dim_mults) - 1)``."""
        _check_horizon(horizon, self.dim_mults)

    def forward(
        self, x: Tensor, t: Tensor, cond: Tensor | None = None, cond_mask: Tensor | None = None
    ) -> Tensor:
        """The prediction ``(B, H, transition_dim)`` for ``x`` ``(B, H, transition_dim)`` at ``t`` ``(B,)``.

        ``cond`` ``(B, cond_dim)`` or None; ``cond_mask`` ``(B,)`` in {0, 1} (float or bool) or None.
        """
        self.check_horizon(x.shape[1])
        emb = self.time_mlp(t)
        if self.cond_mlp is not None:
            if cond is None:
                c = emb.new_zeros(emb.shape)
            else:
                c = self.cond_mlp(cond)
                if cond_mask is not None:
                    c = c * cond_mask.to(c.dtype).unsqueeze(-1)
            emb = torch.cat([emb, c], dim=-1)
        elif cond is not None:
            raise ValueError("this TemporalUnet has cond_dim=0 and takes no cond")

        h = x.transpose(1, 2)
        # The first level's skip is never read: the up path has one level fewer (as in Diffuser).
        skips = []
        for i, (res1, res2, down) in enumerate(self.downs):
            h = res2(res1(h, emb), emb)
            if i > 0:
                skips.append(h)
            h = down(h)
        h = self.mid2(self.mid1(h, emb), emb)
        for res1, res2, up in self.ups:
            h = res2(res1(torch.cat([h, skips.pop()], dim=1), emb), emb)
            h = up(h)
        return self.final(h).transpose(1, 2)


class TemporalValue(nn.Module):
    """Diffuser's value network: the U-Net's down path, two narrowing blocks and an MLP head.

    ``forward(x (B, horizon, transition_dim), t (B,))`` -> ``(B, out_dim)``. Also usable as a guide.
    """

    def __init__(
        self,
        horizon: int,
        transition_dim: int,
        dim: int = 32,
        dim_mults: Sequence[int] = (1, 2, 4, 8),
        out_dim: int = 1,
        kernel_size: int = 5,
    ) -> None:
        super().__init__()
        _check_config(transition_dim, dim, dim_mults, kernel_size)
        _check_horizon(horizon, dim_mults)
        mid = dim * dim_mults[-1]
        if mid % 32:
            raise ValueError(
                f"dim * dim_mults[-1] = {mid} must be divisible by 32: the head narrows it to a quarter, "
                "which GroupNorm splits into 8 groups"
            )
        self.horizon = horizon
        self.transition_dim = transition_dim
        self.dim_mults = tuple(int(m) for m in dim_mults)

        self.time_mlp = _time_mlp(dim)
        channels = [transition_dim, *(dim * m for m in self.dim_mults)]
        self.downs = _down_path(channels, dim, kernel_size)
        self.mid1 = ResidualTemporalBlock(mid, mid // 2, dim, kernel_size)
        self.mid_down1 = _downsample(mid // 2)
        self.mid2 = ResidualTemporalBlock(mid // 2, mid // 4, dim, kernel_size)
        self.mid_down2 = _downsample(mid // 4)

        h = horizon // 2 ** (len(self.dim_mults) - 1)
        h = -(-h // 2)  # each stride-2 conv halves rounding up
        h = -(-h // 2)
        fc_in = (mid // 4) * h
        self.head = nn.Sequential(
            nn.Linear(fc_in + dim, fc_in // 2), nn.Mish(), nn.Linear(fc_in // 2, out_dim)
        )

    def check_horizon(self, horizon: int) -> None:
        """Raise ``ValueError`` unless ``horizon`` is this network's (the head's width depends on it)."""
        _check_horizon(horizon, self.dim_mults)
        if horizon != self.horizon:
            raise ValueError(f"expected horizon {self.horizon}, got {horizon}")

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``x`` ``(B, horizon, transition_dim)``, ``t`` ``(B,)`` -> ``(B, out_dim)``."""
        self.check_horizon(x.shape[1])
        emb = self.time_mlp(t)
        h = x.transpose(1, 2)
        for res1, res2, down in self.downs:
            h = down(res2(res1(h, emb), emb))
        h = self.mid_down1(self.mid1(h, emb))
        h = self.mid_down2(self.mid2(h, emb))
        return self.head(torch.cat([h.flatten(1), emb], dim=-1))
