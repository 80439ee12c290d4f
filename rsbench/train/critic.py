"""Fit a new RS-Diffuser critic to an already trained diffusion model, which stays frozen (the paper: the risk
guidance is injected without retraining the base model). ``rsbench critic`` is the command line of it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsbench.errors import UserError
from rsbench.train.checkpoint import load_checkpoint, save_checkpoint
from rsbench.train.fit import fit

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData
    from rsbench.methods.rs_diffuser import RSDiffuser

# What a refit may change: the critic's own settings, never the diffusion model's.
CRITIC_FIELDS = (
    "critic",
    "critic_target",
    "td_steps",
    "target_tau",
    "n_quantiles",
    "kappa",
    "critic_dim",
    "critic_weight",
    "rank_critic",
)


def fit_critic(
    checkpoint: str | Path,
    data: OfflineData,
    steps: int,
    *,
    out: str | Path,
    batch_size: int = 64,
    seed: int = 0,
    changes: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> Path:
    """Train fresh critics for the RS-Diffuser ``checkpoint`` on ``data`` for ``steps`` updates, with its
    denoiser, EMA and inverse dynamics frozen; write the result as a checkpoint under ``out`` and return its
    directory. ``changes`` sets critic fields (:data:`CRITIC_FIELDS`, e.g. ``{"critic": "td"}``) first."""
    from rsbench.methods.rs_diffuser import RSDiffuser

    method, _ = load_checkpoint(checkpoint)
    if not isinstance(method, RSDiffuser):
        raise UserError(f"expected an rs_diffuser checkpoint, got {method.name}", source=checkpoint)
    if steps < 1:
        raise UserError(f"expected steps >= 1, got {steps}", key="--steps")
    if changes:
        method = _with_critic(method, dict(changes), source=checkpoint)
    method.start_critic_fit(data, seed=seed)
    fit(method, data, method.steps + steps, batch_size=batch_size, seed=seed, progress=progress)
    method.critic_optimizer = None  # the checkpoint is an ordinary RS-Diffuser
    return save_checkpoint(out, method)


def _with_critic(method: RSDiffuser, changes: dict[str, Any], *, source: str | Path) -> RSDiffuser:
    """A copy of ``method`` with critic fields changed, its diffusion model, EMA, inverse dynamics,
    normalisers, generator and step count carried over."""
    from rsbench.methods.registry import create

    other = sorted(set(changes) - set(CRITIC_FIELDS))
    if other:
        raise UserError(
            f"a critic refit changes only {', '.join(CRITIC_FIELDS)}; got {', '.join(other)}", source=source
        )
    config = type(method.config).from_dict({**method.config.to_dict(), **changes}, source=source)
    fresh = create(method.name, method.space, config, device=method.device)
    assert isinstance(fresh, type(method))
    fresh.model.load_state_dict(method.model.state_dict())
    fresh.ema.load_state_dict(method.ema.state_dict())
    fresh.aux["inverse_dynamics"].load_state_dict(method.aux["inverse_dynamics"].state_dict())
    fresh.normalizers = dict(method.normalizers)
    fresh.generator.set_state(method.generator.get_state())
    fresh.steps = method.steps
    return fresh
