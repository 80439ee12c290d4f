"""Reverse-process samplers: ancestral DDPM (Ho et al. 2020) and DDIM (Song et al. 2021).

Both draw ``(B, H, D)`` trajectories from a network ``model_fn(x (B, H, D), t (B,) long) -> (B, H, D)``
trained on a :class:`NoiseSchedule` of K steps, optionally on fewer, evenly spaced steps (the network is
always fed the original timesteps), with inpainting conditions, guidance by a differentiable score and
clipping of the predicted clean trajectory. Randomness comes only from the ``generator`` passed to
:meth:`~DDPMSampler.sample` (a ``torch.Generator``, or an :class:`~rsbench.methods.noise.EpisodeNoise` with
one stream per episode), so a seed fixes the samples; sampling happens on the generator's device.
A sampler keeps no state between calls and may be shared.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, overload

import torch
from torch import Tensor

from rsbench.methods.diffusion.objective import Inpainting, ModelFn, Prediction
from rsbench.methods.diffusion.schedules import NoiseSchedule
from rsbench.methods.noise import Noise, randn

# ``guide(x, t)``: ``(B, H, D)`` trajectories, ``(B,)`` long timesteps -> ``(B,)`` scores, differentiable in x.
Guide = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Guidance:
    """Steer sampling up the gradient of ``fn`` (e.g. a learned value of the trajectory).

    One rule for both samplers, Diffuser's ``n_step_guided_p_sample`` (jannerm/diffuser
    ``diffuser/sampling/functions.py``): before the denoising step at timestep ``t >= t_stopgrad``,
    ``n_steps`` times ``x += scale * sigma_t^2 * grad fn(x)`` (``sigma_t^2``, the step's DDPM posterior
    variance, only when ``scale_grad_by_std``), the inpainted entries written back after each. DDPM then takes
    its ancestral step from the nudged ``x``, DDIM its deterministic step; ``sigma_t^2`` is the posterior
    variance of the (respaced) step in both, so a DDIM step is nudged exactly as the DDPM step at the same
    noise level. None at the last step, where the posterior variance is 0 (Diffuser's ``1e-20``).
    ``t`` is the original timestep, also when sampling on fewer steps.

    The gradient keeps its magnitude: a flat ``fn`` barely moves a plan. Its inpainted entries are zeroed
    (they are given, not planned). ``max_norm`` clips the L2 norm of each plan's step over its free entries
    (gradient-norm clipping; None: no clipping).
    """

    fn: Guide
    scale: float = 0.1
    n_steps: int = 2
    t_stopgrad: int = 2
    scale_grad_by_std: bool = True
    max_norm: float | None = None

    def __post_init__(self) -> None:
        if self.n_steps < 0:
            raise ValueError(f"guidance n_steps must be >= 0, got {self.n_steps}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise ValueError(f"guidance max_norm must be positive, got {self.max_norm}")

    def step(self, x: Tensor, t: Tensor, variance: Tensor | float, free: Tensor | None) -> Tensor:
        """One guide step's move of ``x`` ``(B, H, D)``: ``scale * variance * grad``, zero where ``free``
        (bool, like ``x``) is False, each plan's norm clipped to ``max_norm``."""
        _, grad = guide_gradient(self.fn, x, t)
        if free is not None:
            grad = grad * free
        if self.scale_grad_by_std:
            grad = grad * variance
        move = self.scale * grad
        if self.max_norm is not None:
            norm = move.flatten(1).norm(dim=1).clamp_min(torch.finfo(move.dtype).tiny)
            move = move * (self.max_norm / norm).clamp(max=1.0).view(-1, *([1] * (move.dim() - 1)))
        return move


def guide_gradient(fn: Guide, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """``fn(x, t)`` ``(B,)`` and the gradient of its sum w.r.t. ``x`` ``(B, H, D)``, both detached.

    Works inside ``torch.no_grad()`` and ``torch.inference_mode()`` callers: the graph is built on a
    fresh leaf copy of ``x`` with gradients switched back on, and is freed before returning.
    """
    with torch.inference_mode(False), torch.enable_grad():
        leaf = x.detach().clone().requires_grad_(True)
        score = fn(leaf, t.clone())
        (grad,) = torch.autograd.grad(score.sum(), leaf, allow_unused=True)
    if grad is None:  # the score does not depend on x
        grad = torch.zeros_like(leaf)
    return score.detach(), grad.detach()


def select_best(candidates: Tensor, scores: Tensor) -> tuple[Tensor, Tensor]:
    """Best-of-N: the highest-scoring of ``candidates`` ``(B, N, H, D)`` by ``scores`` ``(B, N)``.

    Returns the chosen trajectories ``(B, H, D)`` and their indices ``(B,)`` into N.
    """
    if scores.shape != candidates.shape[:2]:
        raise ValueError(f"scores {tuple(scores.shape)} do not match candidates {tuple(candidates.shape)}")
    index = scores.argmax(dim=1)
    best = candidates[torch.arange(candidates.shape[0], device=candidates.device), index]
    return best, index


class _Sampler(abc.ABC):
    """The loop shared by the samplers; subclasses define one reverse step.

    ``schedule`` is the (respaced) schedule the steps walk, ``timesteps`` its original timesteps.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        steps: int,
        clip_x0: float | None,
        predict: Prediction,
        temperature: float = 1.0,
    ) -> None:
        if predict not in ("epsilon", "x0"):
            raise ValueError(f"predict must be 'epsilon' or 'x0', got {predict!r}")
        if clip_x0 is not None and not clip_x0 > 0:
            raise ValueError(f"clip_x0 must be positive, got {clip_x0}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        # Decision Diffuser's sampling temperature: every Gaussian draw (the start and each step's noise)
        # is multiplied by it (its p_sample_loop and p_sample draw 0.5 * randn).
        self.temperature = temperature
        self.schedule, timesteps = schedule.respaced(steps)
        # Python ints: building each step's (B,) timestep tensor then needs no device sync.
        self.timesteps: tuple[int, ...] = tuple(timesteps.tolist())
        self.clip_x0 = clip_x0
        self.predict = predict

    @property
    def steps(self) -> int:
        """The number of reverse steps taken per sample."""
        return len(self.timesteps)

    @overload
    def sample(
        self,
        model_fn: ModelFn,
        shape: tuple[int, ...],
        *,
        generator: Noise,
        inpainting: Inpainting | None = ...,
        guidance: Guidance | None = ...,
        return_chain: Literal[False] = ...,
        dtype: torch.dtype = ...,
    ) -> Tensor: ...

    @overload
    def sample(
        self,
        model_fn: ModelFn,
        shape: tuple[int, ...],
        *,
        generator: Noise,
        inpainting: Inpainting | None = ...,
        guidance: Guidance | None = ...,
        return_chain: Literal[True],
        dtype: torch.dtype = ...,
    ) -> tuple[Tensor, Tensor]: ...

    @torch.no_grad()
    def sample(
        self,
        model_fn: ModelFn,
        shape: tuple[int, ...],
        *,
        generator: Noise,
        inpainting: Inpainting | None = None,
        guidance: Guidance | None = None,
        return_chain: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Draw trajectories of ``shape`` ``(B, H, D)`` and ``dtype`` on ``generator``'s device.

        Starts from ``N(0, I)`` and writes the ``inpainting`` entries in at the start and after every
        step, so they hold their values exactly. With ``return_chain`` also returns every intermediate
        ``x``, noise first: ``(B, steps + 1, H, D)``.
        """
        device = generator.device
        schedule = self.schedule.to(device)
        x = self.temperature * randn(generator, shape, dtype)
        x = _inpaint(x, inpainting)
        chain = [x] if return_chain else None
        for i in reversed(range(self.steps)):
            x = self._step(
                model_fn, schedule, x, i, generator=generator, inpainting=inpainting, guidance=guidance
            )
            x = _inpaint(x, inpainting)
            if chain is not None:
                chain.append(x)
        if chain is not None:
            return x, torch.stack(chain, dim=1)
        return x

    @abc.abstractmethod
    def _step(
        self,
        model_fn: ModelFn,
        schedule: NoiseSchedule,
        x: Tensor,
        i: int,
        *,
        generator: Noise,
        inpainting: Inpainting | None,
        guidance: Guidance | None,
    ) -> Tensor:
        """``x`` at step ``i`` of the respaced schedule -> ``x`` at step ``i - 1``, both ``(B, H, D)``."""

    def _times(self, x: Tensor, i: int) -> tuple[Tensor, Tensor]:
        """Step ``i`` as ``(B,)`` long indices into the respaced schedule, and as original timesteps."""
        b = x.shape[0]
        index = torch.full((b,), i, dtype=torch.long, device=x.device)
        return index, torch.full((b,), self.timesteps[i], dtype=torch.long, device=x.device)

    def _guide(
        self,
        schedule: NoiseSchedule,
        x: Tensor,
        i: int,
        t: Tensor,
        guidance: Guidance | None,
        inpainting: Inpainting | None,
    ) -> Tensor:
        """``x`` ``(B, H, D)`` after :class:`Guidance`'s ``n_steps`` nudges before reverse step ``i`` (none at
        ``i = 0``, where the posterior variance is 0, nor below ``t_stopgrad``)."""
        if guidance is None or i == 0 or self.timesteps[i] < guidance.t_stopgrad:
            return x
        variance = schedule.posterior_log_variance_clipped[i].exp()
        free = None if inpainting is None else ~inpainting.mask(x)
        for _ in range(guidance.n_steps):
            x = _inpaint(x + guidance.step(x, t, variance, free), inpainting)
        return x

    def _clip(self, x0: Tensor) -> Tensor:
        return x0 if self.clip_x0 is None else x0.clamp(-self.clip_x0, self.clip_x0)


def _inpaint(x: Tensor, inpainting: Inpainting | None) -> Tensor:
    return x if inpainting is None else inpainting.apply(x)


class DDPMSampler(_Sampler):
    """Ancestral sampling on ``steps`` evenly spaced of the K timesteps (all K when None)."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        steps: int | None = None,
        clip_x0: float | None = None,
        predict: Prediction = "epsilon",
        temperature: float = 1.0,
    ) -> None:
        steps = schedule.n_steps if steps is None else steps
        super().__init__(schedule, steps, clip_x0, predict, temperature)

    def _step(
        self,
        model_fn: ModelFn,
        schedule: NoiseSchedule,
        x: Tensor,
        i: int,
        *,
        generator: Noise,
        inpainting: Inpainting | None,
        guidance: Guidance | None,
    ) -> Tensor:
        index, t = self._times(x, i)
        x = self._guide(schedule, x, i, t, guidance, inpainting)
        out = model_fn(x, t)
        x0 = schedule.predict_x0_from_eps(x, index, out) if self.predict == "epsilon" else out
        mean, _, log_variance = schedule.q_posterior(self._clip(x0), x, index)
        if i == 0:
            return mean
        noise = self.temperature * randn(generator, x.shape, x.dtype)
        return mean + (0.5 * log_variance).exp() * noise


class DDIMSampler(_Sampler):
    """DDIM on ``steps`` evenly spaced of the K timesteps; deterministic given the start noise at ``eta=0``.

    ``eta = 1`` gives the DDPM posterior's noise level at every step.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        steps: int,
        eta: float = 0.0,
        clip_x0: float | None = None,
        predict: Prediction = "epsilon",
        temperature: float = 1.0,
    ) -> None:
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        super().__init__(schedule, steps, clip_x0, predict, temperature)
        self.eta = eta
        # Per-step scalars, in float64 from the precise 1 - alphā: x_{i-1} = a x0 + b eps + sigma z.
        s = self.schedule
        one_minus_abar = s.sqrt_one_minus_alphas_cumprod.double().square()
        one_minus_abar_prev = torch.cat([one_minus_abar.new_zeros(1), one_minus_abar[:-1]])
        sigma2 = eta**2 * s.posterior_variance.double()  # DDIM's sigma_t² is eta² times the DDPM posterior's
        self._coef_x0 = tuple(s.alphas_cumprod_prev.double().sqrt().tolist())
        self._coef_eps = tuple((one_minus_abar_prev - sigma2).clamp(min=0).sqrt().tolist())
        self._sigma = tuple(sigma2.sqrt().tolist())

    def _step(
        self,
        model_fn: ModelFn,
        schedule: NoiseSchedule,
        x: Tensor,
        i: int,
        *,
        generator: Noise,
        inpainting: Inpainting | None,
        guidance: Guidance | None,
    ) -> Tensor:
        index, t = self._times(x, i)
        x = self._guide(schedule, x, i, t, guidance, inpainting)
        out = model_fn(x, t)
        if self.predict == "epsilon":
            eps = out
            x0 = schedule.predict_x0_from_eps(x, index, eps)
        else:
            x0 = out
            eps = schedule.predict_eps_from_x0(x, index, x0)
        if self.clip_x0 is not None:
            # Keep eps consistent with the clipped x0, so that the step stays on the DDIM path.
            x0 = self._clip(x0)
            eps = schedule.predict_eps_from_x0(x, index, x0)

        x = self._coef_x0[i] * x0 + self._coef_eps[i] * eps
        if self._sigma[i] > 0:
            x = x + self._sigma[i] * self.temperature * randn(generator, x.shape, x.dtype)
        return x
