"""Decision Diffuser's return condition: a fixed map under which ``target_return: 0.9`` is reachable."""

from __future__ import annotations

import numpy as np

from rsbench.methods import Space, create, get


def _prepared(data, **changes):
    config = get("decision_diffuser").Config.tiny().replace(**changes)
    method = create("decision_diffuser", Space.from_data(data), config)
    method.prepare(data)
    return method


def test_the_default_target_lies_within_the_start_states_returns(pointmass_data) -> None:
    """PointMass's returns are negative; a min-max over every step's return-to-go put 0.9 above every start
    state's. The fixed map puts 0 at the worst episode's return and 1 at the best's."""
    method = _prepared(pointmass_data)
    start = pointmass_data.returns_to_go(method.config.discount)[pointmass_data.episode_starts]
    cond = method.normalizers["returns"].normalize(start[:, None])[:, 0]
    assert cond.min() == np.float32(0.0) and abs(cond.max() - 1.0) < 1e-6
    assert cond.min() <= method.config.target_return <= cond.max()
    assert (cond >= method.config.target_return).sum() >= 1  # some episode in the data reached it


def test_a_fixed_returns_scale_is_the_reference_s_division(pointmass_data) -> None:
    method = _prepared(pointmass_data, returns_scale=400.0)
    r = np.array([[-40.0], [0.0], [360.0]])
    np.testing.assert_allclose(method.normalizers["returns"].normalize(r), r / 400.0, rtol=1e-6)
