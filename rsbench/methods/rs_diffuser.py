"""RS-Diffuser: risk-sensitive diffusion planning with a distributional critic; the risk level is chosen at
inference time, with no retraining.

Diffuses state sequences (inverse dynamics for actions, as Decision Diffuser). A distributional critic
``Z(x_k, k)`` outputs ``M`` quantiles of the plan's discounted return-to-go, standardised by the dataset's
mean and std of that return, from noised plans. As the paper describes, it is learned by quantile-regression
TD (``critic: td``): a distributional Bellman backup from each training window to the window that starts
``td_steps`` later (by default at the plan's last state), ``Z(x_k, k) <- sum_{h<n} discount^h r_h +
discount^n Z'(x'_0, 0)`` with a Polyak-averaged target critic ``Z'``, the quantile-Huber loss over every pair
of predicted and target quantiles. ``critic: mc`` regresses the Monte-Carlo return instead, of the episode's
rest or of the plan's segment (``critic_target``; a plan holds ``s_0 .. s_{H-1}``, so the segment return
covers the ``H - 1`` transitions between them). The critic trains beside the denoiser, or alone on an already
trained, frozen diffusion model (:meth:`RSDiffuser.start_critic_fit`, ``rsbench critic``).

Sampling follows the gradient of a risk functional ``rho`` of those quantiles with Diffuser's rule
(:class:`~rsbench.methods.diffusion.Guidance`): ``x <- x + scale * sigma_k^2 * grad rho(Z(x, k))``, the
lower-tail CVaR_alpha for ``cvar:alpha``, the mean for ``neutral``, the upper tail for ``seeking:alpha``.
The gradient keeps its magnitude (one global scale, the standardisation, for every plan): a flat critic
barely moves a plan, and an optional ``guide_max_norm`` clips each plan's step. The ``candidates`` are
ranked by ``rho`` of the same critic at ``k = 0``, or of an independent second critic (``rank_critic:
independent``) so that ranking does not pick what guidance over-rated. Without tail coverage in the data
the critic cannot learn the tail (see ``rsbench data inspect``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.base import DataSpec, Space, as_risk, seeded
from rsbench.methods.diffusion import Guidance, TemporalValue
from rsbench.methods.noise import Noise
from rsbench.methods.packing import Batch, Nets, Stage
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
    critic: Literal["td", "mc"] = doc(
        "how the critic learns: quantile-regression TD with a target critic (the paper's), or quantile "
        "regression on Monte-Carlo returns",
        "td",
    )
    critic_target: Literal["segment", "to_go"] = doc(
        "return the mc critic predicts: the plan's H - 1 transitions or to episode end (td: always to_go)",
        "to_go",
    )
    td_steps: int | None = doc(
        "n of the TD backup: the target window starts n steps later (None: H - 1, at the plan's last state)",
        None,
        ge=1,
    )
    target_tau: float = doc("Polyak rate of the TD target critic per update", 0.005, gt=0, le=1)
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
    guide_max_norm: float | None = doc(
        "clip each plan's guidance step to this L2 norm in normalised units (None: no clipping)",
        None,
        gt=0,
        inference=True,
    )
    rank_critic: Literal["same", "independent"] = doc(
        "critic that ranks the candidates: the guiding one, or a second one trained alike from its own "
        "initialisation and noise draws",
        "same",
    )
    candidates: int = doc(
        "plans sampled per environment, ranked by the risk functional", 16, ge=1, inference=True
    )

    # an older checkpoint's config lacks these fields: it was trained as they say
    checkpoint_defaults: ClassVar[dict[str, Any]] = {"critic": "mc"}

    @classmethod
    def tiny(cls) -> RSDiffuserConfig:
        return super().tiny().replace(n_quantiles=8, candidates=2)

    @property
    def backup_steps(self) -> int:
        """n of the TD backup."""
        return self.horizon - 1 if self.td_steps is None else self.td_steps

    def problems(self) -> dict[str, str]:
        out = super().problems()
        if self.critic == "td" and self.critic_target == "segment":
            out["critic_target"] = (
                "the td critic learns the return-to-go; critic_target segment needs critic: mc"
            )
        if self.td_steps is not None and self.td_steps > self.horizon:
            out["td_steps"] = (
                f"td_steps {self.td_steps} must be <= horizon {self.horizon} (the window's rewards)"
            )
        return out


@register("rs_diffuser")
class RSDiffuser(StatePlanner):
    """RS-Diffuser: state diffusion guided and ranked by a risk functional of a distributional critic."""

    Config: ClassVar[type[RSDiffuserConfig]] = RSDiffuserConfig
    config: RSDiffuserConfig
    risk_aware = True

    def __init__(self, config: RSDiffuserConfig, space: Space, **kwargs: Any):
        super().__init__(config, space, **kwargs)
        self.targets = self._target_critics()
        self.critic_optimizer: torch.optim.Optimizer | None = None  # set by start_critic_fit

    def _target_critics(self) -> nn.ModuleDict:
        """The TD target critics (copies of the critics, updated by Polyak averaging); none for ``mc``."""
        names = self.critics if self.config.critic == "td" else ()
        targets = nn.ModuleDict({f"{n}_target": copy.deepcopy(self.aux[n]) for n in names})
        return targets.requires_grad_(False)

    def _critic_nets(self) -> nn.ModuleDict:
        c = self.config
        return nn.ModuleDict(
            {
                n: TemporalValue(
                    c.horizon, self.transition_dim, c.critic_dim, c.dim_mults, out_dim=c.n_quantiles
                )
                for n in self.critics
            }
        )

    def build_aux(self) -> nn.ModuleDict:
        aux = super().build_aux()
        aux.update(self._critic_nets())
        return aux

    @property
    def critics(self) -> tuple[str, ...]:
        """The critic networks: the guiding ``critic`` and, with ``rank_critic: independent``, ``rank_critic``."""
        return ("critic", "rank_critic") if self.config.rank_critic == "independent" else ("critic",)

    def prepare(self, data: OfflineData) -> None:
        super().prepare(data)
        self._fit_return_normalizer(data)

    def _fit_return_normalizer(self, data: OfflineData) -> None:
        c = self.config
        segment = c.critic == "mc" and c.critic_target == "segment"
        targets = (
            window_returns(data, self.segment_steps, c.discount)
            if segment
            else data.returns_to_go(c.discount)
        )
        self.normalizers["returns"] = Normalizer.fit(targets[self.window_starts(data)], "gaussian")

    def data_spec(self) -> DataSpec:
        spec = super().data_spec()
        return replace(spec, successor=self.config.backup_steps) if self.config.critic == "td" else spec

    def quantiles(self, plans: torch.Tensor, t: torch.Tensor, critic: str = "critic") -> torch.Tensor:
        """``(n, M)`` standardised return quantiles of noised plans ``(n, H, obs_dim)`` at noise levels ``t``
        ``(n,)`` by the network ``critic``."""
        return self.aux[critic](plans, t)

    @property
    def segment_steps(self) -> int:
        """Rewards in a plan's segment return: the ``H - 1`` transitions between its ``H`` states."""
        return self.config.horizon - 1

    def critic_targets(self, batch: Batch) -> torch.Tensor:
        """``(B,)`` standardised Monte-Carlo returns the ``mc`` critic regresses on: the segment's or the
        return-to-go."""
        c = self.config
        if c.critic_target == "segment":
            n = self.segment_steps
            discounts = c.discount ** torch.arange(n, device=self.device, dtype=torch.float32)
            target = (batch["rewards"][:, :n] * discounts).sum(dim=1)
        else:
            target = batch["returns"]
        return torch_normalize(self.normalizers["returns"], target[:, None]).squeeze(-1)

    def td_targets(self, target: nn.Module, batch: Batch) -> torch.Tensor:
        """``(B, M)`` standardised samples of the distributional Bellman target of each window,
        ``sum_{h<n} discount^h r_h + bootstrap * discount^n Z'(next window, 0)`` (``n = backup_steps``), from
        the target critic ``target`` on the clean window ``n`` steps later; no gradient flows into it."""
        c = self.config
        n = c.backup_steps
        discounts = c.discount ** torch.arange(n, device=self.device, dtype=torch.float32)
        reward = (batch["rewards"][:, :n] * discounts).sum(dim=1)
        after = batch["next_observations"]
        following = target(after, torch.zeros(after.shape[0], dtype=torch.long, device=after.device)).detach()
        norm = self.normalizers["returns"]
        g_next = torch_unnormalize(norm, following)
        g = reward[:, None] + c.discount**n * batch["bootstrap"][:, None] * g_next
        return torch_normalize(norm, g)

    def noise(self, batch_size: int) -> dict[str, torch.Tensor]:
        """The diffusion loss's draws (not when fitting the critic alone), then each critic's own noised copy
        of the plans."""
        draws = {} if self.critic_optimizer is not None else super().noise(batch_size)
        for name in self.critics:
            t, eps = self.diffusion_draws(batch_size)
            draws |= {f"{name}_t": t, f"{name}_eps": eps}
        return draws

    def aux_losses(self, nets: Nets, batch: Batch, x0: torch.Tensor, noise: Batch) -> dict[str, torch.Tensor]:
        return {**super().aux_losses(nets, batch, x0, noise), **self.critic_losses(nets, batch, x0, noise)}

    def critic_losses(
        self, nets: Nets, batch: Batch, x0: torch.Tensor, noise: Batch
    ) -> dict[str, torch.Tensor]:
        """``{name}_loss`` of each critic on its own noised copy of the plans ``x0`` ``(B, H, obs_dim)``."""
        c = self.config
        taus = midpoint_taus(c.n_quantiles, device=self.device)
        losses = {}
        for name in self.critics:
            t = noise[f"{name}_t"]
            xt = self.noised_plans(batch, x0, t, noise[f"{name}_eps"])
            target = (
                self.td_targets(nets[f"{name}_target"], batch)
                if c.critic == "td"
                else self.critic_targets(batch)
            )
            losses[f"{name}_loss"] = c.critic_weight * quantile_huber_loss(
                nets[name](xt, t), target, taus, c.kappa
            )
        return losses

    # -- the update: the planner's stage, or the critic's alone on a frozen model ---------------------
    def nets(self) -> dict[str, nn.Module | nn.Parameter]:
        return {**super().nets(), **dict(self.targets.items())}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return super().optimizers() if self.critic_optimizer is None else {"critic": self.critic_optimizer}

    def stages(self) -> tuple[Stage, ...]:
        polyak = tuple(
            (f"{n}_target", n, self.config.target_tau) for n in self.critics if self.config.critic == "td"
        )
        if self.critic_optimizer is not None:
            return (Stage(self._critic_alone, {"critic": "_total"}, polyak=polyak),)
        (stage,) = super().stages()
        return (replace(stage, polyak=stage.polyak + polyak),)

    def _critic_alone(self, nets: Nets, batch: Batch, noise: Batch) -> dict[str, torch.Tensor]:
        losses = self.critic_losses(nets, batch, self.trajectories(batch), noise)
        return {**losses, "_total": sum(losses.values(), torch.zeros((), device=self.device))}

    def start_critic_fit(self, data: OfflineData, *, seed: int = 0) -> None:
        """Fresh critics (and targets) for this already trained diffusion model, which stays frozen: from now
        on :meth:`update` trains the critics alone, under their own Adam (the paper: guidance is injected
        without retraining the base model). The return normaliser is refitted on ``data``."""
        with seeded(seed):
            fresh = self._critic_nets().to(self.device)
        self.aux.update(fresh)
        self.targets = self._target_critics().to(self.device)
        self._fit_return_normalizer(data)
        self.critic_optimizer = torch.optim.Adam(fresh.parameters(), lr=self.config.lr)
        # the planner's Adam over the new parameters (its moments restart), so a saved state stays consistent
        self.optimizer = torch.optim.Adam(
            [*self.model.parameters(), *self.aux.parameters()], lr=self.config.lr
        )

    def components(self) -> dict[str, Any]:
        return {**super().components(), "targets": self.targets}

    def ignores_risk(self, **inference: Any) -> bool:
        # the risk reaches a plan only through the critic's gradient and the ranking of several candidates
        settings = self.settings(inference)
        return settings.guidance_scale == 0 and settings.candidates == 1

    def guidance(self, settings: RSDiffuserConfig, risk: RiskSetting) -> Guidance | None:
        if settings.guidance_scale == 0:
            return None
        return Guidance(
            lambda x, t: risk_value(self.quantiles(x, t), risk),
            settings.guidance_scale,
            settings.n_guide_steps,
            settings.t_stopgrad,
            max_norm=settings.guide_max_norm,
        )

    def score(self, plans: torch.Tensor, risk: RiskSetting) -> torch.Tensor:
        zero = torch.zeros(plans.shape[0], dtype=torch.long, device=plans.device)
        return risk_value(self.quantiles(plans, zero, self.critics[-1]), risk)

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
