"""A sweep point whose policy ignores the risk setting (RS-Diffuser's unguided sampler) is rolled out once and
stored under every setting; what is stored equals rolling it out at each setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import rsbench.eval.rollout as rollout
from rsbench.methods import Space, create
from rsbench.methods.rs_diffuser import RSDiffuser
from rsbench.results.provenance import manifest
from rsbench.results.store import RunStore, load_run
from rsbench.schema import load
from rsbench.suite import Suite
from rsbench.train.trial import evaluate_risks

REPO = Path(__file__).resolve().parents[2]
POINTMASS = Space(2, 2, (-0.1, -0.1), (0.1, 0.1))


def _evaluate(
    root: Path, data: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, pd.DataFrame, pd.DataFrame, list[Any]]:
    """Seed 0 of the smoke suite's RS-Diffuser (guidance 1 and 0, at neutral and cvar:0.1), untrained (its
    normalisers fitted on ``data``), evaluated on 4 episodes of 40 steps into a fresh store: the rollouts made, the stored
    episodes, calibration and latency."""
    smoke = yaml.safe_load((REPO / "suites" / "smoke.yaml").read_text())
    smoke["methods"] = {"rs_diffuser": {**smoke["methods"]["rs_diffuser"], "seeds": [0], "resources": {}}}
    smoke["eval"]["episodes"] = 4
    smoke["tasks"]["pointmass"]["horizon"] = 40
    suite = load(Suite, smoke, source="test")
    (trial,) = suite.trials()
    store = RunStore(root)
    store.root.mkdir()
    store.write_suite(suite)
    store.write_manifest(
        manifest(run_id=root.name, suite_name=suite.name, suite_hash=suite.digest(), command=["t"])
    )
    calls = []
    evaluate = rollout.evaluate
    monkeypatch.setattr(rollout, "evaluate", lambda *a, **k: calls.append(k["risk"]) or evaluate(*a, **k))
    method = create(trial.method_name, POINTMASS, trial.config, seed=0, device="cpu")
    method.prepare(data)
    latency: list[Any] = []
    evaluate_risks(method, trial, trial.risks, store, latency)
    store.write_trial({"trial": trial.id, "status": "finished"})
    run = load_run(store.root.uri)
    order = ["sweep", "risk", "episode"]
    episodes = run.episodes.drop(columns="run", errors="ignore").sort_values(order, ignore_index=True)
    calibration = run.calibration.drop(columns="run", errors="ignore").sort_values(["sweep", "risk", "tau"])
    return len(calls), episodes, calibration.reset_index(drop=True), latency


def test_the_unguided_point_is_rolled_out_once_and_stored_as_each_rollout_would_be(
    tmp_path: Path, pointmass_data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollouts, episodes, calibration, latency = _evaluate(tmp_path / "once", pointmass_data, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(RSDiffuser, "ignores_risk", lambda self, **kw: False)
        every, episodes_every, calibration_every, latency_every = _evaluate(
            tmp_path / "every", pointmass_data, monkeypatch
        )
    assert (rollouts, every) == (3, 4)  # guided at 2 settings + unguided once, against 2 + 2
    pd.testing.assert_frame_equal(episodes, episodes_every)
    pd.testing.assert_frame_equal(calibration, calibration_every)
    assert len(episodes) == 16 and set(episodes["risk"]) == {"neutral", "cvar:0.1"}
    assert [(e["risk"], e["sweep"]) for e in latency] == [(e["risk"], e["sweep"]) for e in latency_every]
    unguided = [e for e in latency if '"methods.rs_diffuser.config.guidance_scale": 0.0' in e["sweep"]]
    assert len(unguided) == 2 and unguided[0]["ms_per_env"] == unguided[1]["ms_per_env"]


@pytest.mark.parametrize(
    ("overrides", "ignores"),
    [
        ({"guidance_scale": 0.0, "candidates": 1}, True),
        ({"guidance_scale": 0.0, "candidates": 4}, False),  # the critic ranks the candidates at the risk
        ({"guidance_scale": 1.0, "candidates": 1}, False),
    ],
)
def test_rs_diffuser_ignores_the_risk_only_unguided_with_one_candidate(
    overrides: dict[str, Any], ignores: bool
) -> None:
    config = yaml.safe_load((REPO / "suites" / "smoke.yaml").read_text())["methods"]["rs_diffuser"]["config"]
    method = create("rs_diffuser", POINTMASS, config, seed=0, device="cpu")
    assert method.ignores_risk(**overrides) is ignores
    cql = create("cql", POINTMASS, {"hidden": [8, 8]}, seed=0, device="cpu")
    assert cql.ignores_risk() is True  # not risk-aware: one policy whatever the label
