"""An exponential moving average of a network's weights, as Diffuser keeps for sampling."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class EMA:
    """A frozen copy ``.model`` of ``model`` that trails its weights.

    Until ``start_step`` the copy simply tracks the weights (an average over the first, poor weights would
    only slow it down); from then on, every ``update_every`` steps, ``ema = decay * ema + (1 - decay) * w``.
    Buffers (e.g. normalisation statistics) are always copied. Create it after moving ``model`` to its
    device and dtype: the copy is made once, here.
    """

    def __init__(
        self, model: nn.Module, decay: float = 0.995, start_step: int = 1000, update_every: int = 10
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if update_every < 1:
            raise ValueError(f"EMA update_every must be >= 1, got {update_every}")
        self.decay = decay
        self.start_step = start_step
        self.update_every = update_every
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._online = model

    def rate(self, step: int) -> float | None:
        """The Polyak rate of the update after optimisation step ``step``: 1 (a copy) before ``start_step``,
        ``1 - decay`` every ``update_every`` steps from then on, None (no update) between those."""
        if step < self.start_step:
            return 1.0
        if step % self.update_every:
            return None
        return 1.0 - self.decay

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold the online weights in after optimisation step ``step`` (at :meth:`rate`)."""
        rate = self.rate(step)
        if rate is None:
            return
        if step < self.start_step:
            self.copy_weights()
            return
        ema_params = list(self.model.parameters())
        if ema_params:
            # One fused kernel per device/dtype group instead of a Python loop over parameters.
            torch._foreach_lerp_(ema_params, list(self._online.parameters()), rate)
        self._copy_rest()

    @torch.no_grad()
    def copy_weights(self) -> None:
        """Set the average to the online weights."""
        for ema_p, p in zip(self.model.parameters(), self._online.parameters(), strict=True):
            ema_p.copy_(p)
        self._copy_rest()

    def state_dict(self) -> dict[str, Any]:
        """The averaged network's ``state_dict``, loadable into a bare copy of the network."""
        return self.model.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state)

    def _copy_rest(self) -> None:
        """Buffers, which are not averaged (counters, running statistics)."""
        for ema_b, b in zip(self.model.buffers(), self._online.buffers(), strict=True):
            ema_b.copy_(b)
