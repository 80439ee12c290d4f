"""The planners' unpacked update is, bit for bit, the update they made before they became packable.

``_update_before_packing`` is the pre-packing ``DiffusionPlanner.update`` (commit 02d0fbd) with each
subclass's ``denoiser``/``aux_losses`` of that commit written out: every draw inline from the method's
generator in its original order, one backward of the summed losses, the Adam step, then ``EMA.update``.
A change to the draws, their order, the losses or the EMA's schedule in the staged update fails here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from rsbench.methods import Space, create, get
from rsbench.methods.decision_diffuser import DecisionDiffuser
from rsbench.methods.diffuser import Diffuser
from rsbench.methods.diffusion import diffusion_loss
from rsbench.methods.planner import DiffusionPlanner, StatePlanner, torch_normalize
from rsbench.methods.quantile import midpoint_taus, quantile_huber_loss
from rsbench.methods.rs_diffuser import RSDiffuser

PLANNERS = ["diffuser", "decision_diffuser", "rs_diffuser"]


def _noised(m: DiffusionPlanner, batch: dict[str, torch.Tensor], x0: torch.Tensor) -> tuple[Any, Any]:
    """An aux network's noised plans, drawn as the old ``aux_losses`` drew them."""
    t = torch.randint(0, m.schedule.n_steps, (x0.shape[0],), device=m.device, generator=m.generator)
    noise = torch.randn(x0.shape, device=m.device, generator=m.generator)
    return m.inpainting(batch["observations"][:, 0]).apply(m.schedule.q_sample(x0, t, noise)), t


def _aux_before_packing(m: DiffusionPlanner, batch: dict[str, torch.Tensor], x0: torch.Tensor) -> dict:
    c: Any = m.config
    aux = {}
    if isinstance(m, Diffuser):
        xt, t = _noised(m, batch, x0)
        target = torch_normalize(m.normalizers["returns"], batch["returns"][:, None]).squeeze(-1)
        aux["value_loss"] = c.value_weight * (m.aux["value"](xt, t).squeeze(-1) - target).pow(2).mean()
    if isinstance(m, StatePlanner):
        pred = m.aux["inverse_dynamics"](batch["observations"][:, :-1], batch["observations"][:, 1:])
        err = (pred - m.unit_actions(batch["actions"][:, :-1])).pow(2).mean(-1)
        mask = batch["mask"][:, :-1]
        aux["inverse_dynamics_loss"] = (err * mask).sum() / mask.sum().clamp_min(1.0)
    if isinstance(m, RSDiffuser):
        target = m.critic_targets(batch)
        xt, t = _noised(m, batch, x0)
        taus = midpoint_taus(c.n_quantiles, device=m.device)
        aux["critic_loss"] = c.critic_weight * quantile_huber_loss(
            m.aux["critic"](xt, t), target, taus, c.kappa
        )
    return aux


def _update_before_packing(m: DiffusionPlanner, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    c: Any = m.config
    x0 = m.trajectories(batch)
    model_fn: Any = m.model
    if isinstance(m, DecisionDiffuser):  # the old training denoiser drew the dropout before the loss
        cond = torch_normalize(m.normalizers["returns"], batch["returns"][:, None])
        keep = torch.rand(x0.shape[0], device=m.device, generator=m.generator) >= c.cond_dropout
        model_fn = lambda x, t: m.model(x, t, cond, keep.float())  # noqa: E731
    loss = diffusion_loss(
        model_fn,
        m.schedule,
        x0,
        generator=m.generator,
        predict=c.predict,
        inpainting=m.inpainting(batch["observations"][:, 0]),
        weights=m.loss_weights(),
    )
    aux = _aux_before_packing(m, batch, x0)
    total = loss + sum(aux.values(), torch.zeros((), device=m.device))
    m.optimizer.zero_grad(set_to_none=True)
    total.backward()
    m.optimizer.step()
    m.ema.update(m.steps + 1)
    return {"diffusion_loss": loss.item(), **{k: v.item() for k, v in aux.items()}}


def _state(m: DiffusionPlanner) -> dict[str, torch.Tensor]:
    out = {
        f"{name}.{k}": v
        for name in ("model", "ema", "aux")
        for k, v in m.components()[name].state_dict().items()
    }
    for i, s in m.optimizer.state_dict()["state"].items():
        out.update({f"optimizer.{i}.{k}": torch.as_tensor(v) for k, v in s.items()})
    return {**out, "generator": m.generator.get_state()}


@pytest.mark.parametrize(
    "config",
    [{}, {"ema_start": 2, "ema_every": 2}, {"predict": "x0", "normalizer": "gaussian"}],
    ids=["tiny", "ema-copy-skip-average", "x0"],
)
@pytest.mark.parametrize("name", PLANNERS)
def test_the_staged_update_is_the_update_before_packing_bit_for_bit(
    name: str, config: dict[str, Any], pointmass_data
) -> None:
    if (
        name == "rs_diffuser"
    ):  # the pre-packing update is the Monte-Carlo critic's (TD: test_rs_diffuser_critic)
        config = {**config, "critic": "mc"}
    built = []
    for _ in range(2):
        m = create(name, Space.from_data(pointmass_data), get(name).Config.tiny().replace(**config), seed=3)
        m.prepare(pointmass_data)
        built.append(m)
    staged, before = built
    sampler = staged.data_spec().sampler(pointmass_data, 16, np.random.default_rng(3))
    for _ in range(5):
        batch = staged.to_batch(sampler.sample())
        assert staged.update(batch) == _update_before_packing(before, batch)  # exact floats
        staged.steps += 1
        before.steps += 1
    new, old = _state(staged), _state(before)
    assert new.keys() == old.keys()
    assert [k for k in new if not torch.equal(new[k], old[k])] == []
