"""Cost columns from trial records: per-seed training time of packs, steps/s, decision latency per group."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from rsbench.results.tables import add_costs, infer_packed, training_risks


def _records() -> pd.DataFrame:
    latency = [
        {"risk": "neutral", "sweep": "{}", "ms_per_env": 2.0},
        {"risk": "cvar:0.1", "sweep": "{}", "ms_per_env": 6.0},
    ]
    return pd.DataFrame(
        [
            {"trial": "rs-s0", "method": "rs", "steps": 1000, "train_seconds": 400.0, "packed": 4,
             "decision_latency": json.dumps(latency)},
            {"trial": "cql-s0", "method": "cql", "steps": 300, "train_seconds": 30.0},  # predates both fields
            {"trial": "pk-s0", "method": "pk", "steps": 300, "train_seconds": 30.0},  # packed, size unknown
        ]
    )  # fmt: skip


def test_costs_per_seed_from_records() -> None:
    suite = {"methods": {"rs": {"resources": {"pack": 4}}, "cql": {}, "pk": {"resources": {"pack": 3}}}}
    trials = infer_packed(_records(), suite)
    assert list(trials["packed"].fillna(-1)) == [4.0, 1.0, -1.0]
    table = pd.DataFrame(
        {
            "trial": ["rs-s0", "rs-s0", "cql-s0", "pk-s0", "gone-s0"],
            "method": ["rs", "rs", "cql", "pk", "gone"],
            "risk": ["neutral", "cvar:0.1", "neutral", "neutral", "neutral"],
            "sweep": ["{}"] * 5,
        }
    )
    out = add_costs(table, trials)
    assert list(out["train_seconds_per_seed"].fillna(-1)) == [100.0, 100.0, 30.0, -1, -1]  # a pack's / 4
    assert list(out["steps_per_second"].fillna(-1)) == [10.0, 10.0, 10.0, -1, -1]
    assert list(out["act_ms_per_env"].fillna(-1)) == [2.0, 6.0, -1, -1, -1]  # per risk setting
    assert np.isnan(add_costs(table, pd.DataFrame())["act_ms_per_env"]).all()


def test_a_packed_trial_records_its_pack_and_costs_per_seed(pointmass_root, tmp_path, monkeypatch) -> None:
    import yaml

    from rsbench.results import load_run
    from rsbench.results.tables import per_seed
    from rsbench.suite import load_suite
    from rsbench.train.plan import new_run
    from rsbench.train.trial import run_pack
    from rsbench.train.trials import Pack, tune_units

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    path = tmp_path / "suite.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "packed",
                "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed"}},
                "methods": {"cql": {"method": "cql", "config": {"hidden": [16], "cql_n_actions": 2}}},
                "seeds": [0, 1],
                "train": {"steps": 10, "batch_size": 16, "checkpoint_every": 10, "log_every": 5},
                "eval": {"episodes": 4, "alphas": [0.25]},
                "resources": {"pack": 2},
            }
        )
    )
    plan = new_run(load_suite(path), path, results=str(tmp_path / "results"), name="p", method_files=[])
    (unit,), _ = tune_units(plan.pending)
    assert isinstance(unit, Pack)
    records = run_pack(unit, report=lambda metrics, checkpoint: None)
    assert [r["packed"] for r in records] == [2, 2]
    assert [r["train_risk"] for r in records] == ["neutral", "neutral"]  # CQL learns the mean return
    run = load_run(plan.store.root)
    costs = add_costs(per_seed(run.episodes, [0.25]), infer_packed(run.trials, run.suite))
    np.testing.assert_allclose(costs["train_seconds_per_seed"], run.trials["train_seconds"] / 2)
    assert (costs["act_ms_per_env"] > 0).all()


def test_training_risk_is_read_from_the_trial_records() -> None:
    """The report's training-risk column comes from the records (it imports no method): ``?`` for a
    record from before the field, and for a run with no records at all."""
    trials = pd.DataFrame(
        [
            {"trial": "iqn-s0", "method": "iqn", "train_risk": "cvar:0.1"},
            {"trial": "rs-s0", "method": "rs", "train_risk": "-"},
            {"trial": "old-s0", "method": "old", "train_risk": None},
        ]
    )
    table = pd.DataFrame(
        {"trial": ["iqn-s0", "rs-s0", "rs-s0", "old-s0"], "method": ["iqn", "rs", "rs", "old"]}
    )
    assert training_risks(table, trials) == ["cvar:0.1", "-", "-", "?"]
    assert training_risks(table, trials.drop(columns="train_risk")) == ["?"] * 4
    assert training_risks(table, pd.DataFrame()) == ["?"] * 4
