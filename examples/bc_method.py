"""A complete rsbench method in one file: behaviour cloning with an MLP.

Use it as the template for a new method:

    rsbench methods --method-file examples/bc_method.py
    rsbench run my_suite.yaml --method-file examples/bc_method.py   # suites name it "bc_example"

A method is a frozen config dataclass (each field documented with ``doc``) plus a ``Method`` subclass
registered by name. The conformance suite (tests/methods/test_conformance.py) runs over this file too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods import DataSpec, Method, MethodConfig, register
from rsbench.methods.base import seeded
from rsbench.methods.nets import mlp
from rsbench.schema import doc


@dataclass(frozen=True)
class BCConfig(MethodConfig):
    """Behaviour cloning: regress the dataset's actions on its observations."""

    hidden: tuple[int, ...] = doc("hidden layer sizes of the policy MLP", (256, 256))
    lr: float = doc("Adam learning rate", 1e-3, gt=0)

    @classmethod
    def tiny(cls) -> BCConfig:
        return cls(hidden=(16,))


@register("bc_example")
class BehaviourCloning(Method):
    """Deterministic MLP policy ``a = tanh(f(s))`` scaled onto the action bounds, trained by MSE."""

    Config: ClassVar[type[BCConfig]] = BCConfig
    config: BCConfig

    def __init__(self, config: BCConfig, space, *, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(config, space, seed=seed, device=device)
        with seeded(seed):
            self.policy_net = mlp(space.obs_dim, config.hidden, space.act_dim, nn.ReLU).to(self.device)
        self.optimizer = torch.optim.Adam(self.policy_net.parameters(), lr=config.lr)

    def prepare(self, data) -> None:
        self.normalizers["obs"] = Normalizer.fit(data.observations, "gaussian")

    def data_spec(self) -> DataSpec:
        return DataSpec("transitions", obs_normalizer=self.normalizers["obs"])

    def _forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.env_actions(torch.tanh(self.policy_net(obs)))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        loss = (self._forward(batch["observations"]) - batch["actions"]).pow(2).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"bc_loss": float(loss.detach())}

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, risk=None, generator=None, **inference: Any) -> np.ndarray:
        self.settings(inference)  # BC has no inference-time settings: any override is an error
        return self.clip_actions(self._forward(self.obs_tensor(obs)))

    def components(self) -> dict[str, Any]:
        return {"policy": self.policy_net, "optimizer": self.optimizer}
