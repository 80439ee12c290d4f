"""RS-Diffuser: risk-sensitive diffusion planning with a distributional critic; the risk level is chosen at
inference time, with no retraining.

Diffuses state sequences (inverse dynamics for actions, as Decision Diffuser). A distributional critic
``Z(x_k, k)`` outputs ``M`` quantiles of the discounted Monte-Carlo return of the plan's segment (or of the
return-to-go), trained by quantile-Huber regression on noised plans. A plan holds ``s_0 .. s_{H-1}``, so its
segment return covers the ``H - 1`` transitions between them, ``sum_{h < H-1} discount^h r_h``: ``r_{H-1}``
depends on ``s_H``, which is not in the plan. Sampling follows the gradient of a
risk functional ``rho`` of those quantiles (standardised by the dataset's return mean and std) with
Diffuser's rule, ``x <- x + scale * sigma_k^2 * grad rho`` (:class:`~rsbench.methods.diffusion.Guidance`,
no per-plan normalisation: a flat critic barely moves a plan); the lower-tail
CVaR_alpha for ``cvar:alpha``, the mean for ``neutral``, the upper tail for ``seeking:alpha``; the
``candidates`` are ranked by ``rho(Z(x_0, 0))``. Without tail coverage in the data the critic cannot learn the
tail (see ``rsbench data inspect``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.base import as_risk
from rsbench.methods.diffusion import Guidance, TemporalValue
from rsbench.methods.noise import Noise
from rsbench.methods.packing import Batch, Nets
from rsbench.methods.planner import (
    StatePlanner,
    StatePlannerConfig,
    torch_normalize,
    torch_unnormalize,
    window_returns,
)
from rsbench.methods.quantile import midpoint_taus, quantile_huber_loss, risk_value
from rsbench.methods.registry import register
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class RSDiffuserConfig(StatePlannerConfig):
    """RS-Diffuser. The risk setting itself is passed to ``act`` (the suite's ``risk:`` list)."""

    n_quantiles: int = doc("M, quantiles of the critic's return distribution", 32, ge=2)
    kappa: float = doc("threshold of the quantile-Huber loss (in normalised return units)", 1.0, gt=0)
    critic_dim: int = doc(
        "base channels of the critic's temporal encoder (a critic needs less than the denoiser)", 16, ge=8
    )
    critic_target: Literal["segment", "to_go"] = doc(
        "return the critic predicts: the plan's H - 1 transitions or to episode end", "segment"
    )
    critic_weight: float = doc("weight of the critic loss beside the diffusion loss", 1.0, ge=0)
    guidance_scale: float = doc(
        "risk guidance scale on the standardised critic: x += scale * sigma_k^2 * grad rho "
        "(0 = no gradient guidance, ranking only)",
        1.0,
        ge=0,
        inference=True,
    )
    n_guide_steps: int = doc("guidance gradient steps per denoising step", 1, ge=1, inference=True)
    t_stopgrad: int = doc("no guidance at denoising steps below this noise level", 1, ge=0, inference=True)
    candidates: int = doc(
        "plans sampled per environment, ranked by the risk functional", 16, ge=1, inference=True
    )

    @classmethod
    def tiny(cls) -> RSDiffuserConfig:
        return super().tiny().replace(n_quantiles=8, candidates=2)


@register("rs_diffuser")
class RSDiffuser(StatePlanner):
    """RS-Diffuser: state diffusion guided and ranked by a risk functional of a distributional critic."""

    Config: ClassVar[type[RSDiffuserConfig]] = RSDiffuserConfig
    config: RSDiffuserConfig
    risk_aware = True

    def build_aux(self) -> nn.ModuleDict:
        aux = super().build_aux()
        c = self.config
        aux["critic"] = TemporalValue(
            c.horizon, self.transition_dim, c.critic_dim, c.dim_mults, out_dim=c.n_quantiles
        )
        return aux

    def prepare(self, data: OfflineData) -> None:
        super().prepare(data)
        c = self.config
        targets = (
            window_returns(data, self.segment_steps, c.discount)
            if c.critic_target == "segment"
            else data.returns_to_go(c.discount)
        )
        self.normalizers["returns"] = Normalizer.fit(targets[self.window_starts(data)], "gaussian")

    def quantiles(self, plans: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``(n, M)`` normalised return quantiles of noised plans ``(n, H, obs_dim)`` at noise levels ``t`` ``(n,)``."""
        return self.aux["critic"](plans, t)

    @property
    def segment_steps(self) -> int:
        """Rewards in a plan's segment return: the ``H - 1`` transitions between its ``H`` states."""
        return self.config.horizon - 1

    def critic_targets(self, batch: Batch) -> torch.Tensor:
        """``(B,)`` normalised returns the critic regresses on: the segment's or the return-to-go."""
        c = self.config
        if c.critic_target == "segment":
            n = self.segment_steps
            discounts = c.discount ** torch.arange(n, device=self.device, dtype=torch.float32)
            target = (batch["rewards"][:, :n] * discounts).sum(dim=1)
        else:
            target = batch["returns"]
        return torch_normalize(self.normalizers["returns"], target[:, None]).squeeze(-1)

    def noise(self, batch_size: int) -> dict[str, torch.Tensor]:
        """The diffusion loss's draws, then the critic loss's own noised copy of the plans."""
        draws = super().noise(batch_size)
        t, eps = self.diffusion_draws(batch_size)
        return {**draws, "critic_t": t, "critic_eps": eps}

    def aux_losses(self, nets: Nets, batch: Batch, x0: torch.Tensor, noise: Batch) -> dict[str, torch.Tensor]:
        losses = super().aux_losses(nets, batch, x0, noise)
        c, t = self.config, noise["critic_t"]
        xt = self.noised_plans(batch, x0, t, noise["critic_eps"])
        taus = midpoint_taus(c.n_quantiles, device=self.device)
        losses["critic_loss"] = c.critic_weight * quantile_huber_loss(
            nets["critic"](xt, t), self.critic_targets(batch), taus, c.kappa
        )
        return losses

    def guidance(self, settings: RSDiffuserConfig, risk: RiskSetting) -> Guidance | None:
        if settings.guidance_scale == 0:
            return None
        return Guidance(
            lambda x, t: risk_value(self.quantiles(x, t), risk),
            settings.guidance_scale,
            settings.n_guide_steps,
            settings.t_stopgrad,
        )

    def score(self, plans: torch.Tensor, risk: RiskSetting) -> torch.Tensor:
        zero = torch.zeros(plans.shape[0], dtype=torch.long, device=plans.device)
        return risk_value(self.quantiles(plans, zero), risk)

    @torch.no_grad()
    def return_quantiles(
        self,
        obs: np.ndarray,
        *,
        risk: RiskSetting | str | None = None,
        generator: Noise | None = None,
    ) -> np.ndarray:
        """``(B, M)`` predicted return quantiles (env units, ascending) of the plan chosen at ``risk`` from
        ``obs``, for calibration plots against realised returns."""
        risk = as_risk(risk)
        _, plans = self.sample_plans(obs, self.config, risk, generator or self.generator)
        q = self.quantiles(plans, torch.zeros(plans.shape[0], dtype=torch.long, device=plans.device))
        q = torch.sort(q, dim=-1).values
        return torch_unnormalize(self.normalizers["returns"], q[..., None]).squeeze(-1).cpu().numpy()
