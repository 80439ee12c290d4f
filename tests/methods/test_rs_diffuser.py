"""RS-Diffuser's critic target: the segment return stays inside the plan."""

from __future__ import annotations

import numpy as np
import torch

from rsbench.methods import Space, create, get
from rsbench.methods.planner import window_returns


def test_segment_target_ends_with_the_plan(pointmass_data) -> None:
    """A plan holds s_0 .. s_{H-1}; r_{H-1} depends on s_H, so the segment return stops at r_{H-2}."""
    config = get("rs_diffuser").Config.tiny().replace(critic="mc", critic_target="segment")
    method = create("rs_diffuser", Space.from_data(pointmass_data), config)
    method.prepare(pointmass_data)
    h, gamma = config.horizon, config.discount
    expected = window_returns(pointmass_data, h - 1, gamma)
    assert np.allclose(method.normalizers["returns"].shift, expected.mean())

    batch = method.to_batch(method.data_spec().sampler(pointmass_data, 16, np.random.default_rng(0)).sample())
    target = method.critic_targets(batch)
    past_the_plan = dict(batch, rewards=batch["rewards"].clone())
    past_the_plan["rewards"][:, h - 1] += 100.0  # the reward of s_{H-1} -> s_H
    assert torch.equal(method.critic_targets(past_the_plan), target)
    inside = dict(batch, rewards=batch["rewards"].clone())
    inside["rewards"][:, h - 2] += 1.0
    assert torch.all(method.critic_targets(inside) > target)
