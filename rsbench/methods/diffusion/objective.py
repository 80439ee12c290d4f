"""The DDPM training objective (Ho et al. 2020) with inpainting conditioning (Janner et al. 2022).

Trajectories are ``(B, H, D)`` tensors: batch, horizon, transition features. The network is any
``model_fn(x_t (B, H, D), t (B,) long) -> (B, H, D)`` predicting either the noise or the clean trajectory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from rsbench.methods.diffusion.schedules import NoiseSchedule

# ``model_fn(x_t, t)``: ``(B, H, D)`` noisy trajectories and ``(B,)`` long timesteps -> ``(B, H, D)``.
ModelFn = Callable[[Tensor, Tensor], Tensor]
Prediction = Literal["epsilon", "x0"]


@dataclass(frozen=True, eq=False)
class Inpainting:
    """Entries of a ``(B, H, D)`` trajectory held fixed: ``x[:, i, offset:offset + d] = v`` for ``i, v``.

    ``values`` maps a horizon index ``i`` to a ``(B, d)`` tensor (or anything broadcasting to it).
    Diffuser conditions on the current state: index 0, ``offset = action_dim`` (its transitions are
    ``[action, state]``). Decision Diffuser and RS-Diffuser diffuse states only: index 0, ``offset = 0``.
    """

    values: dict[int, Tensor]
    offset: int = 0

    def apply(self, x: Tensor) -> Tensor:
        """A copy of ``x`` ``(B, H, D)`` with the fixed entries written in; ``x`` itself is untouched."""
        out = x.clone()
        for i, v in self.values.items():
            out[:, i, self.offset : self.offset + v.shape[-1]] = v
        return out

    def mask(self, x: Tensor) -> Tensor:
        """A bool tensor shaped like ``x`` ``(B, H, D)``, True at the fixed entries."""
        m = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
        for i, v in self.values.items():
            m[:, i, self.offset : self.offset + v.shape[-1]] = True
        return m


def diffusion_noise(
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """What one :func:`diffusion_loss` on trajectories of ``shape`` ``(B, H, D)`` draws: ``t ~ U{0..K-1}``
    ``(B,)`` then ``noise ~ N(0, I)`` ``shape``, from ``generator`` on its device, moved to ``device``."""
    t = torch.randint(0, schedule.n_steps, (shape[0],), generator=generator, device=generator.device)
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return t.to(device or generator.device), noise.to(device or generator.device)


def diffusion_loss(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    x0: Tensor,
    *,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
    predict: Prediction = "epsilon",
    inpainting: Inpainting | None = None,
    weights: Tensor | None = None,
) -> Tensor:
    """The denoising loss of ``model_fn`` on clean trajectories ``x0`` ``(B, H, D)``: a scalar.

    Noises ``x0`` at timesteps ``t`` ``(B,)`` with ``noise`` ``(B, H, D)`` (drawn from ``generator`` by
    :func:`diffusion_noise` when not given), writes the inpainted entries back in clean (as in Diffuser,
    the network always sees its conditions noise-free) and regresses the model's output on ``noise``
    (``predict="epsilon"``) or on ``x0`` (``predict="x0"``). Given ``t`` and ``noise`` it draws nothing,
    reads no tensor value on the host and does not branch on one, so it runs under ``vmap`` (packing).

    The squared error is averaged over the entries not fixed by ``inpainting``: those are given, so
    there is nothing to learn there (and in epsilon mode their "noise" target would be meaningless).
    ``weights`` ``(H, D)`` or ``(B, H, D)`` scales each entry's error, e.g. Diffuser's heavier first action;
    the average is still over the count of free entries, so uniform weights ``w`` scale the loss by ``w``.
    """
    if predict not in ("epsilon", "x0"):
        raise ValueError(f"predict must be 'epsilon' or 'x0', got {predict!r}")
    schedule = schedule.to(x0.device)
    if t is None or noise is None:
        if generator is None:
            raise ValueError("diffusion_loss needs t and noise, or a generator to draw them from")
        t, noise = diffusion_noise(schedule, x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)

    xt = schedule.q_sample(x0, t, noise)
    if inpainting is not None:
        xt = inpainting.apply(xt)
    pred = model_fn(xt, t)
    target = noise if predict == "epsilon" else x0
    err = (pred - target).square()
    if weights is not None:
        err = err * weights
    if inpainting is None:
        return err.mean()
    fixed = inpainting.mask(x0)
    n_free = (fixed.numel() - fixed.sum()).clamp(min=1)
    return err.masked_fill(fixed, 0.0).sum() / n_free
