"""A tiny method for the fault-tolerance tests: behaviour cloning that can be slow, diverge, and tell which
process trained it from which step (``$RSBENCH_FAULT_DIR/<pid>.json``)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from rsbench.methods import DataSpec, Method, MethodConfig, register
from rsbench.methods.base import as_risk, seeded
from rsbench.schema import doc


@dataclass(frozen=True)
class FaultyConfig(MethodConfig):
    """Linear behaviour cloning with knobs for the fault tests."""

    nan_at: int = doc("step whose loss is NaN (0 = never)", 0, ge=0)
    sleep: float = doc("seconds each update sleeps, to leave time to interrupt a trial", 0.0, ge=0)


@register("faulty_bc")
class FaultyBC(Method):
    """``a = tanh(W s + b)`` on the action bounds, MSE to the data's actions."""

    Config: ClassVar[type[FaultyConfig]] = FaultyConfig
    config: FaultyConfig

    def __init__(self, config: FaultyConfig, space, *, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(config, space, seed=seed, device=device)
        with seeded(seed):
            self.net = nn.Linear(space.obs_dim, space.act_dim).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self._logged = False

    def data_spec(self) -> DataSpec:
        return DataSpec("transitions")

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        folder = os.environ.get("RSBENCH_FAULT_DIR")
        if folder and not self._logged:
            Path(folder, f"{os.getpid()}.json").write_text(
                json.dumps({"pid": os.getpid(), "start_step": self.steps})
            )
            self._logged = True
        time.sleep(self.config.sleep)
        loss = (
            (self.env_actions(torch.tanh(self.net(batch["observations"]))) - batch["actions"]).pow(2).mean()
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        value = float("nan") if self.steps + 1 == self.config.nan_at else float(loss)
        return {"bc_loss": value}

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, risk=None, generator=None, **inference: Any) -> np.ndarray:
        self.settings(inference)
        return self.clip_actions(self.env_actions(torch.tanh(self.net(self.obs_tensor(obs)))))

    def components(self) -> dict[str, Any]:
        return {"net": self.net, "optimizer": self.optimizer}


@register("faulty_risky_bc")
class FaultyRiskyBC(FaultyBC):
    """``faulty_bc`` whose actions shrink with the inference risk's level: a method whose ``act`` uses it."""

    risk_aware = True

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, risk=None, generator=None, **inference: Any) -> np.ndarray:
        scale = as_risk(risk).alpha
        return super().act(obs, risk=risk, generator=generator, **inference) * np.float32(scale)
