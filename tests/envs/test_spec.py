import numpy as np
import pytest

from rsbench.envs import SPECS, RiskSpec, SpecError
from rsbench.envs.penalty import penalty_uniforms
from rsbench.envs.spec import Between, Compare, InDisc


def test_disc_clause_marks_points_strictly_inside():
    disc = InDisc((0, 1), (0.5, 0.5), 0.3)
    obs = np.array([[0.5, 0.5], [0.79, 0.5], [0.8, 0.5], [0.9, 0.9]])
    assert disc.holds(obs, None).tolist() == [True, True, False, False]


def test_hopper_spec_needs_healthy_and_pitch():
    spec = SPECS["rsbench/RiskyHopper-v0"]
    base = np.zeros((4, 11))
    base[:, 0] = [1.2, 1.2, 0.5, 1.2]  # z: the third one has fallen (unhealthy)
    base[:, 1] = [0.05, 0.15, 0.15, 0.25]  # pitch: calm, risky, risky, beyond healthy
    assert spec.violation(base).tolist() == [False, True, False, False]


def test_info_clause_reads_info_and_names_missing_key():
    spec = RiskSpec("x", (Compare("info", "speed", ">", 1.0),), penalty=-1, prob=1)
    assert spec.violation(np.zeros((2, 3)), {"speed": np.array([0.5, 2.0])}).tolist() == [False, True]
    with pytest.raises(KeyError, match="speed"):
        spec.violation(np.zeros((1, 3)), {})


def test_penalty_is_added_to_the_base_reward_only_when_it_fires():
    spec = RiskSpec("x", (Between(0, 1, -1, 1),), penalty=-10.0, prob=0.3)
    reward, fired = spec.apply(
        np.array([1.0, 1.0, 1.0]), np.array([True, True, False]), np.array([0.1, 0.5, 0.0])
    )
    assert fired.tolist() == [True, False, False]
    assert reward.tolist() == [-9.0, 1.0, 1.0]


def test_user_spec_round_trips_through_plain_data():
    data = {
        "name": "cheetah-fast",
        "when": [
            {"obs": 8, "op": ">", "value": 3.0},
            {"obs": "1:", "between": [-100, 100]},
            {"disc": {"indices": [0, 1], "center": [0.5, 0.5], "radius": 0.2}},
        ],
        "penalty": -40,
        "prob": 0.2,
    }
    spec = RiskSpec.from_dict(data)
    assert RiskSpec.from_dict(spec.to_dict()) == spec
    for pinned in SPECS.values():
        assert RiskSpec.from_dict(pinned.to_dict()) == pinned


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"when": [{"obs": 1, "op": ">", "value": 0}], "penalty": -1}, "risk.prob", "missing"),
        ({"when": [{"obs": 1, "op": ">", "value": 0}], "penalty": -1, "prob": 2}, "risk.prob", "[0, 1]"),
        ({"when": [], "penalty": -1, "prob": 0.1}, "risk.when", "non-empty"),
        (
            {"when": [{"obs": -1, "op": ">", "value": 0}], "penalty": -1, "prob": 0.1},
            "risk.when[0].obs",
            "index",
        ),
        (
            {"when": [{"obs": 1, "op": "~", "value": 0}], "penalty": -1, "prob": 0.1},
            "risk.when[0].op",
            "one of",
        ),
        (
            {"when": [{"obs": 1, "op": ">", "value": 0}], "penalty": "big", "prob": 0.1},
            "risk.penalty",
            "number",
        ),
        ({"when": [{"obs": 1}], "penalty": -1, "prob": 0.1}, "risk.when[0]", "expected"),
        (
            {"when": [{"obs": 1, "op": ">", "value": 0}], "penalty": -1, "prob": 0.1, "x": 1},
            "risk.x",
            "unknown",
        ),
    ],
)
def test_malformed_specs_name_the_key(data, key, fragment):
    with pytest.raises(SpecError) as info:
        RiskSpec.from_dict(data)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_penalty_uniforms_are_keyed_by_seed_step_and_salt():
    a = penalty_uniforms(np.arange(1000), 5)
    assert np.array_equal(a, penalty_uniforms(np.arange(1000), 5))
    assert not np.array_equal(a, penalty_uniforms(np.arange(1000), 6))
    assert not np.array_equal(a, penalty_uniforms(np.arange(1000), 5, salt=1))
    # 64-bit seeds (Minari's autoseeds) are accepted and scalars broadcast against step arrays.
    assert penalty_uniforms(2**64 - 1, np.arange(3)).shape == (3,)
    u = penalty_uniforms(7, np.arange(200_000))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005 and abs((u < 0.05).mean() - 0.05) < 0.003
