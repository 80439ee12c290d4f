"""DDPM noise schedules (Ho et al. 2020) and their respacing (Nichol & Dhariwal 2021).

A :class:`NoiseSchedule` holds the per-timestep constants of the forward process
``q(x_t | x_0) = N(sqrt(alphā_t) x_0, (1 - alphā_t) I)`` and of its posterior ``q(x_{t-1} | x_t, x_0)``.
Timesteps are 0-based: ``t = 0`` is the least noisy step, ``t = K - 1`` the noisiest.

Per-sample methods take ``x`` of shape ``(B, ...)`` (usually ``(B, H, D)``) and ``t`` of shape ``(B,)``
(long) on the schedule's device; move the schedule with :meth:`NoiseSchedule.to` first.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor


def linear_betas(n_steps: int, start: float = 1e-4, end: float = 2e-2) -> Tensor:
    """Betas of Ho et al.'s linear schedule (``start`` .. ``end`` at K = 1000), for any K: ``(n_steps,)`` float64.

    Ho et al.'s betas are for K = 1000; used unscaled at K = 20 they leave alphā_K = 0.82, so sampling would
    start from noise the model never saw. Improved DDPM (Nichol & Dhariwal 2021, ``get_named_beta_schedule``)
    scales them by ``1000 / K``: ``b_t = (1000 / K) linspace(start, end)``, which passes 1 for K < 20. Here
    ``b_t`` is used as the rate of a step, ``beta_t = 1 - exp(-b_t)``: equal to ``b_t`` to first order
    (Ho et al.'s betas to within 1% at K = 1000), always below 1, and alphā_K = ``exp(-sum b_t)`` =
    ``exp(-1000 (start + end) / 2)`` (4e-5 for the defaults) at every K >= 2.
    """
    _check_steps(n_steps)
    rates = torch.linspace(start, end, n_steps, dtype=torch.float64) * (1000.0 / n_steps)
    return -torch.expm1(-rates)


def cosine_betas(n_steps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Betas of the cosine schedule: ``(n_steps,)`` float64 (Nichol & Dhariwal 2021).

    ``alphā(t) = f(t) / f(0)`` with ``f(t) = cos²((t / K + s) / (1 + s) · π / 2)`` for ``t = 0..K``, and
    ``beta_t = 1 - alphā(t + 1) / alphā(t)`` clipped to ``max_beta`` (the last ones would otherwise reach 1).
    """
    _check_steps(n_steps)
    t = torch.arange(n_steps + 1, dtype=torch.float64)
    f = torch.cos((t / n_steps + s) / (1 + s) * (math.pi / 2)) ** 2
    alphas_cumprod = f / f[0]
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(max=max_beta)


def vp_betas(n_steps: int, b_min: float = 0.1, b_max: float = 10.0) -> Tensor:
    """Betas of the discretised variance-preserving SDE (Song et al. 2021) that Diffusion-QL (Wang et al.
    2023) and RAMAC's RADAC (``agents/radac_diffusion.py``, ``beta_schedule='vp'``) use for few-step action
    diffusion: ``beta_t = 1 - exp(-b_min / K - (b_max - b_min) (2t - 1) / (2 K^2))`` for ``t = 1..K``;
    ``(n_steps,)`` float64. At K = 5: alphā_K = exp(-(b_min + b_max) / 2) = 0.0064."""
    _check_steps(n_steps)
    t = torch.arange(1, n_steps + 1, dtype=torch.float64)
    return -torch.expm1(-b_min / n_steps - 0.5 * (b_max - b_min) * (2 * t - 1) / n_steps**2)


def _check_steps(n_steps: int) -> None:
    if n_steps < 1:
        raise ValueError(f"a schedule needs at least one step, got {n_steps}")


def _extract(a: Tensor, t: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """``a[t]`` reshaped to ``(B, 1, ..., 1)`` so that it broadcasts against a tensor of ``shape``."""
    return a[t].reshape(t.shape[0], *((1,) * (len(shape) - 1)))


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """Per-timestep DDPM constants, each a ``(K,)`` float32 tensor on one device.

    Build with :meth:`from_betas` or :meth:`create`; the fields are derived from ``betas`` in float64 and
    only then rounded, so that ``1 - alphā_t`` keeps its precision near ``t = 0``.
    """

    betas: Tensor
    alphas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    sqrt_alphas_cumprod: Tensor
    sqrt_one_minus_alphas_cumprod: Tensor
    posterior_variance: Tensor
    posterior_log_variance_clipped: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor

    @classmethod
    def from_betas(cls, betas: Tensor) -> NoiseSchedule:
        """The schedule of ``betas`` ``(K,)``, each in (0, 1); stored on ``betas``' device."""
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-d tensor, got shape {tuple(betas.shape)}")
        b = betas.detach().to(torch.float64)
        if not bool(((b > 0) & (b < 1)).all()):
            raise ValueError("betas must lie in (0, 1)")
        alphas = 1 - b
        abar = torch.cumprod(alphas, 0)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        one_minus_abar = -torch.expm1(torch.cumsum(torch.log1p(-b), 0))  # 1 - alphā without cancellation
        one_minus_abar_prev = torch.cat([abar.new_zeros(1), one_minus_abar[:-1]])
        post_var = b * one_minus_abar_prev / one_minus_abar
        # The posterior variance is 0 at t = 0; like Nichol & Dhariwal, take its log from t = 1 there.
        log_var = post_var.clone()
        if log_var.numel() > 1:
            log_var[0] = log_var[1]
        fields = {
            "betas": b,
            "alphas": alphas,
            "alphas_cumprod": abar,
            "alphas_cumprod_prev": abar_prev,
            "sqrt_alphas_cumprod": abar.sqrt(),
            "sqrt_one_minus_alphas_cumprod": one_minus_abar.sqrt(),
            "posterior_variance": post_var,
            "posterior_log_variance_clipped": log_var.clamp(min=1e-20).log(),
            "posterior_mean_coef1": b * abar_prev.sqrt() / one_minus_abar,
            "posterior_mean_coef2": one_minus_abar_prev * alphas.sqrt() / one_minus_abar,
        }
        return cls(**{k: v.to(torch.float32) for k, v in fields.items()})

    @classmethod
    def create(cls, kind: Literal["linear", "cosine"], n_steps: int) -> NoiseSchedule:
        """A ``linear`` or ``cosine`` schedule of ``n_steps`` steps with the default parameters."""
        if kind == "linear":
            return cls.from_betas(linear_betas(n_steps))
        if kind == "cosine":
            return cls.from_betas(cosine_betas(n_steps))
        raise ValueError(f"unknown schedule kind {kind!r}; expected 'linear' or 'cosine'")

    @property
    def n_steps(self) -> int:
        """K, the number of diffusion steps."""
        return self.betas.shape[0]

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """This schedule on ``device`` (``self`` when it is already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        return dataclasses.replace(
            self, **{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)}
        )

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = sqrt(alphā_t) x0 + sqrt(1 - alphā_t) noise``: ``(B, ...)`` from ``x0``/``noise`` ``(B, ...)``."""
        return (
            _extract(self.sqrt_alphas_cumprod, t, x0.shape) * x0
            + _extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise
        )

    def predict_x0_from_eps(self, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """Invert :meth:`q_sample` for ``x0`` given the noise: ``(B, ...)``."""
        return (xt - _extract(self.sqrt_one_minus_alphas_cumprod, t, xt.shape) * eps) / _extract(
            self.sqrt_alphas_cumprod, t, xt.shape
        )

    def predict_eps_from_x0(self, xt: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """Invert :meth:`q_sample` for the noise given ``x0``: ``(B, ...)``."""
        return (xt - _extract(self.sqrt_alphas_cumprod, t, xt.shape) * x0) / _extract(
            self.sqrt_one_minus_alphas_cumprod, t, xt.shape
        )

    def q_posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean ``(B, ...)``, variance and clipped log variance ``(B, 1, ..., 1)`` of ``q(x_{t-1} | x_t, x0)``."""
        mean = (
            _extract(self.posterior_mean_coef1, t, xt.shape) * x0
            + _extract(self.posterior_mean_coef2, t, xt.shape) * xt
        )
        variance = _extract(self.posterior_variance, t, xt.shape)
        log_variance = _extract(self.posterior_log_variance_clipped, t, xt.shape)
        return mean, variance, log_variance

    def respaced(self, steps: int) -> tuple[NoiseSchedule, Tensor]:
        """This schedule restricted to ``steps`` evenly spaced timesteps, and those ``(steps,)`` timesteps.

        The kept timesteps run from 0 to K - 1 (only K - 1 when ``steps == 1``), and the new schedule has
        the same alphā at them: its betas are ``1 - alphā_{t_i} / alphā_{t_{i-1}}``. Index ``i`` of the new
        schedule corresponds to the original timestep ``timesteps[i]``, which is what a network trained on
        the full schedule must be fed. ``steps == K`` returns ``self`` and ``arange(K)``.
        """
        k = self.n_steps
        if not 1 <= steps <= k:
            raise ValueError(f"respaced steps must be in [1, {k}], got {steps}")
        if steps == k:
            return self, torch.arange(k, device=self.device)
        if steps == 1:
            timesteps = torch.tensor([k - 1], device=self.device)
        else:
            # Round-half-up of i * (K - 1) / (steps - 1) in integers: exact, and distinct since the stride > 1.
            i = torch.arange(steps, device=self.device)
            timesteps = (2 * i * (k - 1) + (steps - 1)) // (2 * (steps - 1))
        # alphā from the betas in float64, so that ratios of neighbouring alphā near 1 stay accurate.
        log_abar = torch.cumsum(torch.log1p(-self.betas.to(torch.float64)), 0)[timesteps]
        log_ratio = log_abar - torch.cat([log_abar.new_zeros(1), log_abar[:-1]])
        return NoiseSchedule.from_betas(-torch.expm1(log_ratio)), timesteps
