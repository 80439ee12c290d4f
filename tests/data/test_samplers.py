import numpy as np
import pytest

from rsbench.data import Normalizer, OfflineData, SequenceSampler, TransitionSampler


def tiny() -> OfflineData:
    """Two episodes: 3 steps (terminated) and 2 steps (truncated); obs = step counter."""
    eps = []
    for length, term in ((3, True), (2, False)):
        obs = np.arange(length + 1, dtype=np.float32)[:, None].repeat(2, 1) + 10 * len(eps)
        eps.append(
            {
                "id": len(eps),
                "observations": obs,
                "actions": np.ones((length, 1), np.float32),
                "rewards": np.arange(1, length + 1, dtype=np.float64),
                "terminations": np.array([False] * (length - 1) + [term]),
                "truncations": np.array([False] * (length - 1) + [not term]),
                "violation": np.array([True] + [False] * (length - 1)),
                "penalty": np.zeros(length, bool),
                "seed": 7 + len(eps),
            }
        )
    return OfflineData.from_episodes(eps, dataset_id="tiny")


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


def test_sequence_sampler_pads_past_the_episode_end():
    d = tiny()
    s = SequenceSampler(d, horizon=4, batch_size=64, rng=np.random.default_rng(1), discount=1.0)
    batch = s.sample()
    assert batch["observations"].shape == (64, 4, 2) and batch["mask"].shape == (64, 4)
    for obs, mask, ret, act in zip(
        batch["observations"], batch["mask"], batch["returns"], batch["actions"], strict=True
    ):
        start = obs[0, 0]
        if start < 10:  # first episode, final state 3
            expected = np.minimum(start + np.arange(4), 3)
            assert ret == pytest.approx(sum(range(int(start) + 1, 4)))
        else:  # second episode, final state 12
            expected = np.minimum(start + np.arange(4), 12)
        np.testing.assert_array_equal(obs[:, 0], expected)
        n_valid = int(mask.sum())
        assert np.all(act[n_valid:] == 0) and np.all(act[:n_valid] == 1)


def test_normalizers_round_trip():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 3))
    for kind in ("gaussian", "limits", "identity"):
        n = Normalizer.fit(x, kind)
        np.testing.assert_allclose(n.unnormalize(n.normalize(x)), x, rtol=1e-5, atol=1e-5)
        assert Normalizer.from_state_dict(n.state_dict()).kind == kind
    lim = Normalizer.fit(x, "limits").normalize(x)
    assert lim.min() == pytest.approx(-1) and lim.max() == pytest.approx(1)


def test_sequence_sampler_normalises_observations(pointmass_data):
    norm = Normalizer.fit(pointmass_data.observations, "limits")
    batch = SequenceSampler(pointmass_data, 8, 32, np.random.default_rng(0), obs_normalizer=norm).sample()
    assert batch["observations"].min() >= -1.0 - 1e-6 and batch["observations"].max() <= 1.0 + 1e-6
