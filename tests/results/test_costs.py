"""Cost columns from trial records: per-seed training time of packs, steps/s, decision latency per group."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from rsbench.results.tables import add_costs, infer_packed


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
