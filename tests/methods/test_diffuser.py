"""Diffuser at its reference settings (jannerm/diffuser, locomotion config) by default, guidance in the
reference's raw-return units, and a suite's deviations from those defaults in the run's provenance."""

from __future__ import annotations

import numpy as np
import torch

from rsbench.methods import Space, create, get
from rsbench.methods.diffusion import guide_gradient


def test_defaults_are_the_references_locomotion_settings() -> None:
    c = get("diffuser").Config()
    assert c.predict == "x0" and c.normalizer == "gaussian"  # predict_epsilon False, GaussianNormalizer
    assert (c.horizon, c.diffusion_steps, c.dim, c.dim_mults, c.schedule) == (
        32,
        20,
        32,
        (1, 2, 4, 8),
        "cosine",
    )
    assert (c.candidates, c.replan_every, c.sampler, c.sampling_steps) == (64, 1, "ddpm", 20)
    assert (c.guidance_scale, c.n_guide_steps, c.t_stopgrad, c.scale_grad_by_std) == (0.1, 2, 2, True)
    assert (c.termination_penalty, c.discount, c.action_weight) == (-100.0, 0.997, 10.0)
    assert (c.ema_decay, c.ema_start, c.ema_every, c.lr) == (0.995, 2000, 10, 2e-4)


def test_value_guides_and_ranks_in_raw_return_units(pointmass_data) -> None:
    """The value trains on standardised returns but guides with ``std * V + mean``: its gradient is the
    raw-return value's, std times the standardised one, so scale 0.1 is the reference's 0.1."""
    config = get("diffuser").Config.tiny().replace(termination_penalty=0.0)
    method = create("diffuser", Space.from_data(pointmass_data), config)
    method.prepare(pointmass_data)
    norm = method.normalizers["returns"]
    assert float(np.asarray(norm.scale).squeeze()) > 1.5  # PointMass returns spread over more than one unit
    x = torch.randn(4, config.horizon, method.transition_dim, generator=torch.Generator().manual_seed(0))
    t = torch.full((4,), 3)
    raw, g_raw = guide_gradient(method.value, x, t)
    std, g_std = guide_gradient(lambda x, t: method.aux["value"](x, t).squeeze(-1), x, t)
    scale, shift = float(np.asarray(norm.scale).squeeze()), float(np.asarray(norm.shift).squeeze())
    torch.testing.assert_close(raw, scale * std + shift)
    torch.testing.assert_close(g_raw, scale * g_std)
    assert method.clip_x0 is None  # the reference does not clip x0 (clip_denoised False)


def test_the_value_target_carries_the_termination_penalty(pointmass_data) -> None:
    """PointMass terminates at the goal: with the reference's -100 every terminated episode's value target
    drops by ``100 * discount^(steps to the end)``."""
    config = get("diffuser").Config.tiny()
    space = Space.from_data(pointmass_data)
    plain, penalised = (
        create("diffuser", space, config.replace(termination_penalty=p)) for p in (0.0, -100.0)
    )
    batches = []
    for method in (plain, penalised):
        method.prepare(pointmass_data)
        batches.append(method.data_spec().sampler(pointmass_data, 256, np.random.default_rng(0)).sample())
    drop = batches[0]["returns"] - batches[1]["returns"]
    assert drop.max() > 50 and drop.min() >= 0
    expected = pointmass_data.returns_to_go(config.discount, termination_penalty=-100.0)
    assert np.isclose(
        float(np.asarray(penalised.normalizers["returns"].shift).squeeze()),
        expected[penalised.window_starts(pointmass_data)].mean(),
        rtol=1e-5,
    )


def test_state_planners_execute_their_plans_open_loop(pointmass_data) -> None:
    """Between replans a state planner acts on its planned states, as Diffuser executes its planned actions:
    the observation does not enter an action after the plan's first step."""
    method = create("rs_diffuser", Space.from_data(pointmass_data), get("rs_diffuser").Config.tiny())
    method.prepare(pointmass_data)
    plans = torch.randn(3, 8, 2, generator=torch.Generator().manual_seed(0))
    obs_a, obs_b = torch.zeros(3, 2), torch.ones(3, 2)
    torch.testing.assert_close(method.plan_action(obs_a, plans, 2), method.plan_action(obs_b, plans, 2))
    inverse = method.aux["inverse_dynamics"]
    torch.testing.assert_close(
        method.plan_action(obs_a, plans, 2), method.env_actions(inverse(plans[:, 2], plans[:, 3]))
    )
