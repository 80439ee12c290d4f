"""RAMAC's Stochastic-D4RL datasets: recorded from the committed policies on RAMAC's hazards."""

from __future__ import annotations

import numpy as np
import pytest

from rsbench.data.catalog import RECIPES
from rsbench.envs import SPECS


def test_six_recipes_on_ramacs_tasks() -> None:
    names = {
        f"ramac-{t}-{lv}"
        for t in ("halfcheetah", "hopper", "walker2d")
        for lv in ("medium-expert", "medium-replay")
    }
    assert names <= set(RECIPES)
    for name in names:
        recipe = RECIPES[name]
        assert SPECS[recipe.task_id].version == "ramac-1" and recipe.reference is None
        plain = RECIPES[name.removeprefix("ramac-")]  # the same policies and size as the v1 recipe
        assert recipe.steps == plain.steps


@pytest.mark.slow
def test_a_small_build_carries_the_ramac_spec() -> None:
    from rsbench.data.build import build
    from rsbench.data.offline import load

    dataset_id, _ = build("ramac-hopper-medium-replay", steps=120, seed=0, progress=False)
    data = load(dataset_id)
    assert data.metadata["risk_spec_version"] == "ramac-1"
    spec = SPECS["rsbench/RAMAC-Hopper-medium-replay-v0"]
    assert data.has_risk_flags
    np.testing.assert_array_equal(data.violations, spec.violation(data.next_observations))
    assert not (data.penalties & ~data.violations).any()
