"""Tail coverage: risk-feature distributions, reference scores, normalised scores, content hash."""

from __future__ import annotations

import numpy as np
import pytest

from rsbench.data.offline import reference_scores


def test_risk_features_of_halfcheetah_report_forward_velocity_against_the_threshold() -> None:
    from rsbench.data.build import build
    from rsbench.data.coverage import tail_coverage
    from rsbench.data.offline import load

    dataset_id, _ = build("halfcheetah-mixed", episodes=2, seed=0, progress=False)
    data = load(dataset_id)
    report = tail_coverage(data)
    feature = report["risk_features"]["obs[8] > 4"]
    velocity = data.next_observations[:, 8]
    assert feature["fraction_past_threshold"] == pytest.approx(np.mean(velocity > 4.0))
    assert feature["q0.5"] == pytest.approx(np.quantile(velocity.astype(np.float64), 0.5))
    # Without reference scores there is no normalised score, but there is always a content hash.
    assert "normalised_score" not in report and len(report["content_hash"]) == 16


def test_pointmass_has_no_thresholded_observation() -> None:
    from types import SimpleNamespace

    from rsbench.data.coverage import risk_features

    spec = {
        "when": [{"disc": {"indices": [0, 1], "center": [0.5, 0.5], "radius": 0.3}}],
        "penalty": -15,
        "prob": 0.05,
    }
    data = SimpleNamespace(metadata={"risk_spec": spec})
    assert risk_features(data) == {}  # type: ignore[arg-type]


def test_reference_scores_of_metadata_and_absent_without_a_usable_pair() -> None:
    assert reference_scores({"ref_min_score": -50.0, "ref_max_score": 150.0}) == (-50.0, 150.0)
    assert reference_scores({}) is None
    assert reference_scores({"ref_min_score": 3.0}) is None
    assert reference_scores({"ref_min_score": 3.0, "ref_max_score": 3.0}) is None


def test_relabelled_source_scores_are_not_used_for_normalisation(tmp_path) -> None:
    """A relabelled dataset keeps its source's (risk-free) reference scores for Minari, not for rsbench."""
    import minari

    from rsbench.data import store
    from rsbench.data.build import build
    from rsbench.data.offline import load

    dataset_id, _ = build("pointmass-mixed", episodes=3, seed=0, progress=False)
    ds = minari.load_dataset(dataset_id)
    ds.storage.update_metadata({"ref_min_score": 0.0, "ref_max_score": 1.0})
    assert load(dataset_id).metadata["ref_max_score"] == 1.0
    block = store.read_metadata(dataset_id)[store.METADATA_KEY]
    ds.storage.update_metadata({store.METADATA_KEY: {**block, "reference_scores": {"from": "x"}}})
    assert "ref_max_score" not in load(dataset_id).metadata
