"""Diffuser (Janner et al. 2022, "Planning with Diffusion for Flexible Behavior Synthesis",
https://arxiv.org/abs/2205.09991; reference code jannerm/diffuser, locomotion config).

Diffuses state-action trajectories ``[a_t, s_t]`` of horizon H with the current state inpainted at index 0 and
predicts the clean trajectory (``predict_epsilon=False``). A value network ``V(x_k, k)`` trained on noised
trajectories regresses the discounted return-to-go from the window's start to the episode's end, with the
termination penalty -100 at a terminated episode's last step. Sampling follows the reference's
``n_step_guided_p_sample``, ``x <- x + scale * sigma_k^2 * grad V`` (``n_guide_steps`` per level, none below
``t_stopgrad``; under DDIM the same nudge precedes the DDIM step, see :class:`Guidance`); the ``candidates``
are ranked by ``V`` and the best plan's first action is executed.

Units of ``guidance_scale``: the reference's value regresses raw returns, so its gradient and its scale 0.1
are in raw-return units. Ours trains on the standardised return ``(G - mean) / std`` (better conditioned) and
guides and ranks with ``std * V + mean``: the raw-return value, so scale 0.1 means what it means there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.base import DataSpec
from rsbench.methods.diffusion import Guidance, TemporalValue
from rsbench.methods.packing import Batch, Nets
from rsbench.methods.planner import DiffusionPlanner, PlannerConfig, torch_normalize, torch_unnormalize
from rsbench.methods.registry import register
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class DiffuserConfig(PlannerConfig):
    """Diffuser; every default in ``reference_fields`` is the value of jannerm/diffuser's locomotion config."""

    reference: ClassVar[str] = "jannerm/diffuser config/locomotion.py (diffusion, values, plan)"
    reference_fields: ClassVar[tuple[str, ...]] = (
        "horizon", "dim", "dim_mults", "diffusion_steps", "schedule", "predict", "normalizer", "lr", "discount",
        "ema_decay", "ema_start", "ema_every", "sampler", "sampling_steps", "candidates", "replan_every",
        "action_weight", "termination_penalty", "guidance_scale", "n_guide_steps", "t_stopgrad",
        "scale_grad_by_std",
    )  # fmt: skip

    # an older checkpoint's config lacks these fields: it was trained without the penalty
    checkpoint_defaults: ClassVar[dict[str, Any]] = {"termination_penalty": 0.0}

    predict: Literal["epsilon", "x0"] = doc(
        "what the denoiser predicts; the reference's locomotion config predicts x0 (predict_epsilon False)",
        "x0",
    )
    normalizer: Literal["limits", "gaussian"] = doc(
        "state normalisation; the reference's GaussianNormalizer, with no x0 clipping (clip_denoised False)",
        "gaussian",
    )
    discount: float = doc(
        "discount of the value's returns-to-go: the reference's planner loads values trained at 0.997 "
        "(its values config trains at 0.99)",
        0.997,
        gt=0,
        le=1,
    )
    ema_start: int = doc("steps before the EMA starts averaging (the reference's step_start_ema)", 2000, ge=0)
    candidates: int = doc(
        "plans sampled per environment, ranked by the value (the reference's plan batch_size)",
        64,
        ge=1,
        inference=True,
    )
    action_weight: float = doc("loss weight of the first action of each plan (the one executed)", 10.0, ge=0)
    value_weight: float = doc("weight of the value loss beside the diffusion loss", 1.0, ge=0)
    termination_penalty: float = doc(
        "added to the reward of a terminated episode's last step in the value target (the reference's -100 "
        "for falling; set 0 where termination is a success, e.g. reaching a goal)",
        -100.0,
    )
    guidance_scale: float = doc(
        "value guidance scale, in raw-return units as the reference's (0 = unguided)",
        0.1,
        ge=0,
        inference=True,
    )
    n_guide_steps: int = doc("guidance gradient steps per denoising step", 2, ge=1, inference=True)
    t_stopgrad: int = doc("no guidance at denoising steps below this noise level", 2, ge=0, inference=True)
    scale_grad_by_std: bool = doc(
        "multiply the guidance gradient by the step's posterior variance", True, inference=True
    )

    @classmethod
    def tiny(cls) -> Self:
        return super().tiny().replace(candidates=2)


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
        c = self.config
        to_go = data.returns_to_go(c.discount, termination_penalty=c.termination_penalty)
        self.normalizers["returns"] = Normalizer.fit(to_go[self.window_starts(data)], "gaussian")

    def data_spec(self) -> DataSpec:
        return replace(super().data_spec(), termination_penalty=self.config.termination_penalty)

    def trajectories(self, batch: Batch) -> torch.Tensor:
        return torch.cat([self.unit_actions(batch["actions"]), batch["observations"]], dim=-1)

    def loss_weights(self) -> torch.Tensor:
        w = torch.ones(self.config.horizon, self.transition_dim, device=self.device)
        w[0, : self.space.act_dim] = self.config.action_weight
        return w

    def value(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``(n,)`` value of noised plans ``(n, H, D)`` at noise levels ``t`` ``(n,)`` in raw-return units (the
        reference's units: what ``guidance_scale`` multiplies and what ranks the candidates)."""
        standard = self.aux["value"](x, t)
        return torch_unnormalize(self.normalizers["returns"], standard).squeeze(-1)

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
        return Guidance(
            self.value,
            settings.guidance_scale,
            settings.n_guide_steps,
            settings.t_stopgrad,
            scale_grad_by_std=settings.scale_grad_by_std,
        )

    def score(self, plans: torch.Tensor, risk: RiskSetting) -> torch.Tensor:
        return self.value(plans, torch.zeros(plans.shape[0], dtype=torch.long, device=plans.device))

    def plan_action(self, obs: torch.Tensor, plans: torch.Tensor, offset: int) -> torch.Tensor:
        return self.env_actions(plans[:, offset, : self.space.act_dim])
