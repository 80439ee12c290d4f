"""A ``--method-file`` method that draws while acting: a Gaussian policy whose noise follows the protocol.

It draws through :func:`rsbench.methods.noise.randn`, so the evaluator's per-episode streams key its noise by
episode seed and step; the conformance suite checks that for it like for the built-in methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from rsbench.methods import DataSpec, Method, MethodConfig, register
from rsbench.methods.base import seeded
from rsbench.methods.nets import mlp
from rsbench.methods.noise import Noise, randn
from rsbench.schema import doc


@dataclass(frozen=True)
class NoisyConfig(MethodConfig):
    """A linear-Gaussian policy fitted by least squares on the actions."""

    lr: float = doc("Adam learning rate", 1e-2, gt=0)
    noise: float = doc(
        "std of the Gaussian exploration noise, in unit action space", 0.3, ge=0, inference=True
    )


@register("noisy_example")
class NoisyPolicy(Method):
    """``a = tanh(W s + sigma * eps)`` scaled onto the action bounds; ``eps`` drawn per episode."""

    Config: ClassVar[type[NoisyConfig]] = NoisyConfig
    config: NoisyConfig

    def __init__(self, config: NoisyConfig, space, *, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(config, space, seed=seed, device=device)
        with seeded(seed):
            self.net = mlp(space.obs_dim, (), space.act_dim).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)

    def data_spec(self) -> DataSpec:
        return DataSpec("transitions")

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        loss = (
            (torch.tanh(self.net(batch["observations"])) - self.unit_actions(batch["actions"])).pow(2).mean()
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": float(loss.detach())}

    @torch.no_grad()
    def act(
        self, obs: np.ndarray, *, risk=None, generator: Noise | None = None, **inference: Any
    ) -> np.ndarray:
        c = self.settings(inference)
        mean = self.net(self.obs_tensor(obs))
        eps = randn(generator or self.generator, mean.shape)
        return self.clip_actions(self.env_actions(torch.tanh(mean + c.noise * eps)))

    def components(self) -> dict[str, Any]:
        return {"net": self.net, "optimizer": self.optimizer}
