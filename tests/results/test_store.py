"""The results store: atomic parts, one record per trial, tidy frames, hand-computable per-seed metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rsbench.errors import UserError
from rsbench.results import Location, RunStore, load_run, locate, risk_slug
from rsbench.results.provenance import manifest
from rsbench.results.tables import per_seed, seed_means
from rsbench.suite import load_suite

REPO = Path(__file__).resolve().parents[2]


def _episodes(
    trial: str, method: str, seed: int, risk: str, returns: list[float], violations: list[int]
) -> pd.DataFrame:
    n = len(returns)
    return pd.DataFrame(
        {
            "trial": trial,
            "method": method,
            "algo": method,
            "task": "pm",
            "env": "e",
            "dataset": "d",
            "seed": seed,
            "sweep": "{}",
            "risk": risk,
            "episode": range(n),
            "episode_seed": range(n),
            "return": returns,
            "length": [10] * n,
            "violation_steps": violations,
            "penalty_events": [0] * n,
            "terminated": [True] * n,
            "truncated": [False] * n,
        }
    )


def test_atomic_write_leaves_no_temp_files_and_replaces_whole_files(tmp_path: Path) -> None:
    target = locate(tmp_path / "a" / "b.txt")
    target.write_text("first")
    target.write_text("second")
    assert target.read_text() == "second"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.txt"]


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    real = locate(tmp_path / "x.json")
    real.write_text("old")

    class FullDisk:  # the local filesystem, except that the final move fails
        def __getattr__(self, name: str):
            return getattr(real.fs, name)

        def move(self, src: str, dst: str) -> None:
            raise OSError("disk full")

    target = Location(FullDisk(), real.path, real.uri)
    with pytest.raises(OSError, match="disk full"):
        target.write_text("new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_uri_and_path_name_the_same_place(tmp_path: Path) -> None:
    a, b = locate(tmp_path / "r"), locate(f"file://{tmp_path}/r")
    (a / "f.txt").write_text("hi")
    assert (b / "f.txt").read_text() == "hi"
    assert [c.name for c in b.children()] == ["f.txt"]


def test_store_round_trip_into_tidy_frames(tmp_path: Path) -> None:
    suite = load_suite(REPO / "suites" / "smoke.yaml")
    store = RunStore(tmp_path / "run-1")
    store.write_suite(suite)
    store.write_manifest(
        manifest(run_id="run-1", suite_name=suite.name, suite_hash=suite.digest(), command=["t"])
    )
    for seed in (0, 1):
        trial = f"cql-pm-s{seed}"
        store.write_trial(
            {"trial": trial, "method": "cql", "seed": seed, "status": "finished", "config": {"a": 1}}
        )
        store.write_episodes(trial, "neutral", _episodes(trial, "cql", seed, "neutral", [1.0, 2.0], [0, 1]))
        store.write_curves(
            trial, pd.DataFrame({"trial": [trial] * 2, "step": [1, 2], "name": "loss", "value": [0.5, 0.25]})
        )
    # a retry rewrites its own parts: still one record and one set of episodes per trial
    store.write_episodes(
        "cql-pm-s1", "neutral", _episodes("cql-pm-s1", "cql", 1, "neutral", [3.0, 4.0], [0, 0])
    )
    run = load_run(tmp_path / "run-1")
    assert run.run_id == "run-1" and run.manifest["suite_hash"] == suite.digest()
    assert run.suite["name"] == suite.name
    assert list(run.trials["trial"]) == ["cql-pm-s0", "cql-pm-s1"]
    assert json.loads(run.trials["config"][0]) == {"a": 1}
    assert len(run.episodes) == 4 and list(run.episodes["return"]) == [1.0, 2.0, 3.0, 4.0]
    assert len(run.curves) == 4
    assert store.trial_status() == {"cql-pm-s0": "finished", "cql-pm-s1": "finished"}
    assert store.evaluated_risks("cql-pm-s0") == ["neutral"]
    assert not [p for p in (tmp_path / "run-1").rglob(".*")]


def test_load_run_of_a_non_run_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not an rsbench run"):
        load_run(tmp_path)


def test_per_seed_metrics_by_hand() -> None:
    returns = [
        float(x) for x in range(1, 11)
    ]  # CVaR_0.1 of 1..10 is the worst one: 1; CVaR_0.25 = (1+2+0.5*3)/2.5
    frame = pd.concat(
        [
            _episodes("a0", "a", 0, "neutral", returns, [0] * 9 + [2]),
            _episodes("a1", "a", 1, "neutral", [r + 1 for r in returns], [0] * 10),
        ]
    )
    table = per_seed(frame, [0.1, 0.25])
    row = table[table["seed"] == 0].iloc[0]
    assert row["mean_return"] == pytest.approx(5.5)
    assert row["cvar_0.1"] == pytest.approx(1.0)
    assert row["cvar_0.25"] == pytest.approx((1 + 2 + 0.5 * 3) / 2.5)
    assert row["violation_rate"] == pytest.approx(2 / 100)
    assert row["episode_violation_rate"] == pytest.approx(0.1)
    means = seed_means(table, [0.1, 0.25]).iloc[0]
    assert means["seeds"] == 2 and means["mean_return"] == pytest.approx(6.0)
    assert means["cvar_0.1"] == pytest.approx(np.mean([1.0, 2.0]))


def test_risk_slug_is_file_safe() -> None:
    assert risk_slug("cvar:0.1") == "cvar-0.1" and risk_slug("seeking:0.25") == "seeking-0.25"
    assert risk_slug("power:-2") == "power-m2" and risk_slug("power:2") == "power-2"


def test_per_seed_distortion_column_by_hand() -> None:
    """power:-2 on returns 1..10: level distribution g(t) = 1 - (1 - t)^3, so return i (1-based) weighs
    (1 - (i-1)/10)^3 - (1 - i/10)^3; the column sits beside CVaR and is averaged over seeds like it."""
    returns = [float(x) for x in range(10, 0, -1)]  # unsorted on purpose
    frame = pd.concat(
        [
            _episodes("a0", "a", 0, "neutral", returns, [0] * 10),
            _episodes("a1", "a", 1, "neutral", [r + 1 for r in returns], [0] * 10),
        ]
    )
    table = per_seed(frame, [0.1], ["power:-2"])
    by_hand = sum(((1 - (i - 1) / 10) ** 3 - (1 - i / 10) ** 3) * i for i in range(1, 11))
    assert table[table["seed"] == 0].iloc[0]["power:-2"] == pytest.approx(by_hand)
    assert seed_means(table, [0.1]).iloc[0]["power:-2"] == pytest.approx(by_hand + 0.5)
    assert "power:-2" not in per_seed(frame, [0.1]).columns
