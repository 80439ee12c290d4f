"""Decision Diffuser (Ajay et al. 2023, "Is Conditional Generative Modeling all you need for
Decision-Making?", https://arxiv.org/abs/2211.15657).

Diffuses state sequences conditioned on the normalised return-to-go, with the condition dropped with
probability ``cond_dropout`` in training so one network is both conditional and unconditional. Sampling
uses classifier-free guidance, ``eps = eps_uncond + w (eps_cond - eps_uncond)`` at the target return, and
the inverse-dynamics model turns the first two planned states into the action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.planner import PlannerConfig, StatePlanner, StatePlannerConfig, torch_normalize
from rsbench.methods.registry import register
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class DecisionDiffuserConfig(StatePlannerConfig):
    """Decision Diffuser; the return condition is in [0, 1]: 0 the dataset's lowest return-to-go, 1 its highest."""

    cond_dropout: float = doc("probability of dropping the return condition in training", 0.25, ge=0, le=1)
    guidance_scale: float = doc(
        "classifier-free guidance weight w (0 = unconditional, 1 = conditional)", 1.2, ge=0, inference=True
    )
    target_return: float = doc(
        "return condition at inference, in [0, 1] of the dataset's range", 0.9, ge=0, le=1, inference=True
    )


@register("decision_diffuser")
class DecisionDiffuser(StatePlanner):
    """Decision Diffuser: return-conditioned state diffusion, classifier-free guidance, inverse dynamics."""

    Config: ClassVar[type[DecisionDiffuserConfig]] = DecisionDiffuserConfig
    config: DecisionDiffuserConfig
    paper = "https://arxiv.org/abs/2211.15657"

    @property
    def cond_dim(self) -> int:
        return 1

    def prepare(self, data: OfflineData) -> None:
        super().prepare(data)
        to_go = data.returns_to_go(self.config.discount)
        low, high = float(to_go.min()), float(to_go.max())
        self.normalizers["returns"] = Normalizer("limits", np.array([low]), np.array([max(high - low, 1e-6)]))

    def denoiser(
        self, model: nn.Module, settings: PlannerConfig, batch: dict[str, torch.Tensor] | None, n: int
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        if batch is not None:  # training: condition on the window's own return, dropped at random
            cond = torch_normalize(self.normalizers["returns"], batch["returns"][:, None])
            keep = torch.rand(n, device=self.device, generator=self.generator) >= self.config.cond_dropout
            return lambda x, t: model(x, t, cond, keep.float())
        assert isinstance(settings, DecisionDiffuserConfig)
        w = settings.guidance_scale
        cond = torch.full((n, 1), settings.target_return, device=self.device)
        if w == 0:
            return lambda x, t: model(x, t, None)
        mask = torch.cat([torch.ones(n, device=self.device), torch.zeros(n, device=self.device)])

        def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, cond]), mask)
            conditional, unconditional = both[:n], both[n:]
            return unconditional + w * (conditional - unconditional)

        return guided

    def sample_plans(
        self, obs: np.ndarray, settings: PlannerConfig, risk: RiskSetting, generator: torch.Generator
    ):
        if settings.candidates > 1:
            raise ValueError("decision_diffuser has no critic to rank candidates; use candidates: 1")
        return super().sample_plans(obs, settings, risk, generator)
