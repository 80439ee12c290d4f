"""The replanning policy plans every ``replan_every`` steps and follows each episode's own stored plan."""

from __future__ import annotations

import numpy as np
import torch

from rsbench.methods import Space, create, get


def test_plans_every_k_steps_and_follows_each_episodes_plan(pointmass_data) -> None:
    method = create("rs_diffuser", Space.from_data(pointmass_data), get("rs_diffuser").Config.tiny())
    method.prepare(pointmass_data)
    planned_at: list[int] = []
    followed: list[tuple[int, torch.Tensor]] = []
    sample_plans, plan_action = method.sample_plans, method.plan_action

    def counting_sample_plans(obs, settings, risk, generator):
        planned_at.append(len(obs))
        s0, plans = sample_plans(obs, settings, risk, generator)
        # give every environment a recognisable plan: its row index in every entry
        return s0, torch.arange(len(obs), dtype=plans.dtype)[:, None, None].expand_as(plans).clone()

    def recording_plan_action(obs, plans, offset):
        followed.append((offset, plans[:, 0, 0].clone()))
        return plan_action(obs, plans, offset)

    method.sample_plans, method.plan_action = counting_sample_plans, recording_plan_action
    policy = method.policy(risk="cvar:0.1", seed=0, replan_every=3)
    obs = pointmass_data.observations[:5]
    ids = np.arange(5)
    for step in range(7):
        if step == 4:
            ids = np.array([0, 2, 4])  # episodes 1 and 3 ended
        policy(obs[ids], env_ids=ids, step=step)
    assert planned_at == [5, 5, 3]  # steps 0, 3 and 6
    assert [offset for offset, _ in followed] == [0, 1, 2, 0, 1, 2, 0]
    # between replans, each row follows the plan of its own episode
    assert torch.equal(followed[1][1], torch.arange(5.0))
    assert torch.equal(followed[4][1], torch.tensor([0.0, 2.0, 4.0]))  # step-3 plans of episodes 0, 2, 4
    assert torch.equal(followed[5][1], torch.tensor([0.0, 2.0, 4.0]))
    assert torch.equal(followed[6][1], torch.arange(3.0))  # step 6 plans afresh for the 3 live episodes
