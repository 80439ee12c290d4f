import numpy as np
import pytest

from rsbench.data import Normalizer, OfflineData, SequenceSampler, TransitionSampler
from rsbench.data.samplers import window_starts, window_states


def _episode(length: int, terminated: bool, index: int = 0) -> dict:
    obs = np.arange(length + 1, dtype=np.float32)[:, None].repeat(2, 1) + 10 * index
    return {
        "id": index,
        "observations": obs,
        "actions": np.ones((length, 1), np.float32),
        "rewards": np.arange(1, length + 1, dtype=np.float64),
        "terminations": np.array([False] * (length - 1) + [terminated]),
        "truncations": np.array([False] * (length - 1) + [not terminated]),
        "violation": np.array([True] + [False] * (length - 1)),
        "penalty": np.zeros(length, bool),
        "seed": 7 + index,
    }


def tiny() -> OfflineData:
    """Two episodes: 3 steps (terminated) and 2 steps (truncated); obs = step counter (+10 in episode 2)."""
    return OfflineData.from_episodes([_episode(3, True, 0), _episode(2, False, 1)], dataset_id="tiny")


def test_flattening_and_returns_to_go():
    d = tiny()
    assert d.n_steps == 5 and d.n_episodes == 2
    assert d.episode_starts.tolist() == [0, 3] and d.episode_seeds.tolist() == [7, 8]
    np.testing.assert_array_equal(d.next_observations[:3, 0], [1, 2, 3])
    # rewards 1,2,3 | 1,2 ; gamma 0.5: 1 + 0.5*2 + 0.25*3 = 2.75, 2 + 1.5 = 3.5, 3 | 1 + 1 = 2, 2
    np.testing.assert_allclose(d.returns_to_go(0.5), [2.75, 3.5, 3.0, 2.0, 2.0])
    np.testing.assert_allclose(d.episode_returns(), [6.0, 3.0])


def test_transition_sampler_shapes_and_determinism():
    d = tiny()
    a = TransitionSampler(d, 8, np.random.default_rng(0)).sample()
    b = TransitionSampler(d, 8, np.random.default_rng(0)).sample()
    assert a["observations"].shape == (8, 2) and a["actions"].shape == (8, 1) and a["rewards"].shape == (8,)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    # next_observations is always observations + 1 in this data.
    np.testing.assert_array_equal(a["next_observations"], a["observations"] + 1)


def test_sequence_sampler_pads_only_after_a_termination():
    """Episode 1 terminates after 3 steps: its windows run past the end, padded with the terminal state.
    Episode 2 is truncated after 2 steps: padding would teach "stand still", so no window runs past it."""
    d = tiny()
    s = SequenceSampler(d, horizon=4, batch_size=64, rng=np.random.default_rng(1), discount=1.0)
    batch = s.sample()
    assert batch["observations"].shape == (64, 4, 2) and batch["mask"].shape == (64, 4)
    assert set(batch["observations"][:, 0, 0].tolist()) == {0.0, 1.0, 2.0}  # episode 2 is shorter than 4
    for obs, mask, ret, act in zip(
        batch["observations"], batch["mask"], batch["returns"], batch["actions"], strict=True
    ):
        start = obs[0, 0]
        np.testing.assert_array_equal(obs[:, 0], np.minimum(start + np.arange(4), 3))  # terminal state 3
        assert ret == pytest.approx(sum(range(int(start) + 1, 4)))
        n_valid = int(mask.sum())
        assert np.all(act[n_valid:] == 0) and np.all(act[:n_valid] == 1)


def test_truncated_episodes_give_only_windows_that_fit():
    d = tiny()
    assert window_starts(d, 2).tolist() == [0, 1, 2, 3]  # episode 2 (steps 3, 4): only the window at 3
    batch = SequenceSampler(d, horizon=2, batch_size=64, rng=np.random.default_rng(0)).sample()
    second = batch["observations"][:, 0, 0] >= 10
    assert second.any() and np.all(batch["observations"][second, :, 0] == [10.0, 11.0])
    assert np.all(batch["mask"][second] == 1)
    with pytest.raises(ValueError, match="long enough"):
        window_starts(OfflineData.from_episodes([_episode(2, terminated=False)]), 3)


def test_window_states_hold_the_padding_and_only_reachable_states():
    d = tiny()
    states = window_states(d, 2)[:, 0].tolist()
    assert states == [0.0, 1.0, 2.0, 3.0, 10.0, 11.0]  # the terminal state 3 pads; 12 is never in a window
    assert window_states(d, 4)[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_normalizers_round_trip():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 3))
    for kind in ("gaussian", "limits", "identity"):
        n = Normalizer.fit(x, kind)
        np.testing.assert_allclose(n.unnormalize(n.normalize(x)), x, rtol=1e-5, atol=1e-5)
        assert Normalizer.from_state_dict(n.state_dict()).kind == kind
    lim = Normalizer.fit(x, "limits").normalize(x)
    assert lim.min() == pytest.approx(-1) and lim.max() == pytest.approx(1)


@pytest.mark.parametrize("name", ["diffuser", "decision_diffuser", "rs_diffuser"])
def test_planner_windows_lie_within_the_fitted_limits(name: str, pointmass_data):
    """A planner's limits normaliser is fitted on every state a window holds, padding included, so every
    training window lies in [-1, 1], which its x0 clipping assumes."""
    from rsbench.methods import Space, create, get

    config = get(name).Config.tiny().replace(normalizer="limits")  # Diffuser's reference default is gaussian
    for data in (pointmass_data, _escaping()):
        method = create(name, Space.from_data(data), config)
        method.prepare(data)
        s = method.data_spec().sampler(data, 8, np.random.default_rng(0))
        every_window = s._states[
            s._window_starts[window_starts(data, config.horizon)][:, None] + np.arange(8)
        ]
        assert every_window.min() >= -1.0 - 1e-6 and every_window.max() <= 1.0 + 1e-6, name


def _escaping() -> OfflineData:
    """An episode whose terminal state (30) lies beyond every observation: the padding is outside their range."""
    episode = _episode(3, True)
    episode["observations"] = episode["observations"].copy()
    episode["observations"][-1] = 30.0
    return OfflineData.from_episodes([episode, _episode(9, False, 1)], dataset_id="escaping")


def test_termination_penalty_lands_on_terminated_episodes_only():
    """Diffuser's ReplayBuffer adds -100 to a terminated episode's last reward; a truncated one keeps its own."""
    d = tiny()
    np.testing.assert_allclose(d.penalised_rewards(-100.0), [1, 2, 3 - 100, 1, 2])
    # gamma 0.5: episode 1's returns-to-go each lose 100 * 0.5^(steps to the end); episode 2 is untouched
    np.testing.assert_allclose(
        d.returns_to_go(0.5, termination_penalty=-100.0), [2.75 - 25, 3.5 - 50, 3.0 - 100, 2.0, 2.0]
    )
    batch = SequenceSampler(
        d, horizon=2, batch_size=64, rng=np.random.default_rng(0), discount=0.5, termination_penalty=-100.0
    ).sample()
    first = batch["observations"][:, 0, 0]
    by_state = dict(zip(first.tolist(), batch["returns"].tolist(), strict=True))
    assert by_state[2.0] == -97.0 and by_state[10.0] == 2.0
    np.testing.assert_allclose(batch["rewards"][first == 2.0, 0], -97.0)


def test_sequence_sampler_gives_the_window_n_steps_later_for_td():
    """Episode 1 (terminated after 3 steps): from step 2 the next window starts at the absorbing terminal
    state (bootstrap 0); episode 2 (truncated) bootstraps from its last window's successor."""
    d = tiny()
    batch = SequenceSampler(d, horizon=2, batch_size=64, rng=np.random.default_rng(0), successor=1).sample()
    first = batch["observations"][:, 0, 0]
    assert set(first.tolist()) == {0.0, 1.0, 2.0, 10.0}
    expect = {0.0: ([1, 2], 1.0), 1.0: ([2, 3], 1.0), 2.0: ([3, 3], 0.0), 10.0: ([11, 12], 1.0)}
    for state, (following, bootstrap) in expect.items():
        rows = first == state
        np.testing.assert_array_equal(
            batch["next_observations"][rows][:, :, 0], np.tile(following, (rows.sum(), 1))
        )
        assert np.all(batch["bootstrap"][rows] == bootstrap)
    assert "next_observations" not in SequenceSampler(d, 2, 8, np.random.default_rng(0)).sample()
