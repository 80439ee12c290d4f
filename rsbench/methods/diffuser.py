"""Diffuser (Janner et al. 2022, "Planning with Diffusion for Flexible Behavior Synthesis",
https://arxiv.org/abs/2205.09991).

Diffuses state-action trajectories ``[a_t, s_t]`` of horizon H with the current state inpainted at index 0.
A value network ``V(x_k, k)`` trained on noised trajectories to predict the discounted return-to-go steers
sampling, ``x <- x + scale * sigma_k^2 * grad V`` (``n_guide_steps`` per level, none below ``t_stopgrad``),
and ranks the ``candidates``; the first action of the chosen plan is executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.diffusion import Guidance, TemporalValue
from rsbench.methods.packing import Batch, Nets
from rsbench.methods.planner import DiffusionPlanner, PlannerConfig, torch_normalize
from rsbench.methods.registry import register
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class DiffuserConfig(PlannerConfig):
    """Diffuser; defaults follow the paper's locomotion settings where the budget allows."""

    action_weight: float = doc("loss weight of the first action of each plan (the one executed)", 10.0, ge=0)
    value_weight: float = doc("weight of the value loss beside the diffusion loss", 1.0, ge=0)
    guidance_scale: float = doc("value guidance scale (0 = unguided)", 0.1, ge=0, inference=True)
    n_guide_steps: int = doc("guidance gradient steps per denoising step (DDPM)", 2, ge=1, inference=True)
    t_stopgrad: int = doc("no guidance at denoising steps below this noise level", 2, ge=0, inference=True)


@register("diffuser")
class Diffuser(DiffusionPlanner):
    """Diffuser: state-action diffusion with value guidance and best-of-N selection by value."""

    Config: ClassVar[type[DiffuserConfig]] = DiffuserConfig
    config: DiffuserConfig
    paper = "https://arxiv.org/abs/2205.09991"

    @property
    def transition_dim(self) -> int:
        return self.space.act_dim + self.space.obs_dim

    def build_aux(self) -> nn.ModuleDict:
        c = self.config
        return nn.ModuleDict(
            {"value": TemporalValue(c.horizon, self.transition_dim, c.dim, c.dim_mults, out_dim=1)}
        )

    def prepare(self, data: OfflineData) -> None:
        super().prepare(data)
        to_go = data.returns_to_go(self.config.discount)[self.window_starts(data)]
        self.normalizers["returns"] = Normalizer.fit(to_go, "gaussian")

    def trajectories(self, batch: Batch) -> torch.Tensor:
        return torch.cat([self.unit_actions(batch["actions"]), batch["observations"]], dim=-1)

    def loss_weights(self) -> torch.Tensor:
        w = torch.ones(self.config.horizon, self.transition_dim, device=self.device)
        w[0, : self.space.act_dim] = self.config.action_weight
        return w

    def _value(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.aux["value"](x, t).squeeze(-1)

    def noise(self, batch_size: int) -> dict[str, torch.Tensor]:
        """The diffusion loss's draws, then the value loss's own noised copy of the plans."""
        draws = super().noise(batch_size)
        t, eps = self.diffusion_draws(batch_size)
        return {**draws, "value_t": t, "value_eps": eps}

    def aux_losses(self, nets: Nets, batch: Batch, x0: torch.Tensor, noise: Batch) -> dict[str, torch.Tensor]:
        t = noise["value_t"]
        xt = self.noised_plans(batch, x0, t, noise["value_eps"])
        target = torch_normalize(self.normalizers["returns"], batch["returns"][:, None]).squeeze(-1)
        value = nets["value"](xt, t).squeeze(-1)
        return {"value_loss": self.config.value_weight * (value - target).pow(2).mean()}

    def guidance(self, settings: DiffuserConfig, risk: RiskSetting) -> Guidance | None:
        if settings.guidance_scale == 0:
            return None
        return Guidance(self._value, settings.guidance_scale, settings.n_guide_steps, settings.t_stopgrad)

    def score(self, plans: torch.Tensor, risk: RiskSetting) -> torch.Tensor:
        return self._value(plans, torch.zeros(plans.shape[0], dtype=torch.long, device=plans.device))

    def plan_action(self, obs: torch.Tensor, plans: torch.Tensor, offset: int) -> torch.Tensor:
        return self.env_actions(plans[:, offset, : self.space.act_dim])
