"""Protocol 2 (docs/design.md §6): training seed s of every method is evaluated on the episode set of
(eval.seed, task, s); the same seed of two methods shares it, different seeds get independent sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from rsbench.eval.rollout import eval_seeds
from rsbench.methods import Space, create
from rsbench.results.provenance import manifest
from rsbench.results.store import RunStore, load_run
from rsbench.schema import load
from rsbench.suite import Suite
from rsbench.train.trial import evaluate_risks

REPO = Path(__file__).resolve().parents[2]
POINTMASS = Space(2, 2, (-0.1, -0.1), (0.1, 0.1))


def _suite(episodes: int = 30) -> Suite:
    """The smoke suite's CQL twice under two labels of identical config, seeds [0, 1, 2]."""
    data = yaml.safe_load((REPO / "suites" / "smoke.yaml").read_text())
    cql = data["methods"]["cql"]
    data["methods"] = {"cql": cql, "cql_copy": dict(cql)}
    data["seeds"] = [0, 1, 2]
    data["eval"]["episodes"] = episodes
    return load(Suite, data, source="test")


def _evaluate(tmp_path: Path, suite: Suite, protocol: int | None) -> pd.DataFrame:
    """Every trial of ``suite`` evaluated untrained (its method built at its seed) through the trial's own
    evaluation into a store whose manifest has ``eval_protocol`` (None: no key, an old run)."""
    store = RunStore(tmp_path / f"run-{protocol}")
    store.root.mkdir()
    store.write_suite(suite)
    info = manifest(run_id=store.root.name, suite_name=suite.name, suite_hash=suite.digest(), command=["t"])
    if protocol is None:
        del info["eval_protocol"]
    store.write_manifest(info)
    for trial in suite.trials():
        method = create(trial.method_name, POINTMASS, trial.config, seed=trial.seed, device="cpu")
        evaluate_risks(method, trial, trial.risks, store)
        store.write_trial({"trial": trial.id, "status": "finished"})
    return load_run(store.root.uri).episodes


def test_two_labels_share_each_seeds_episodes_and_seeds_get_disjoint_sets(tmp_path: Path) -> None:
    suite = _suite()
    episodes = _evaluate(tmp_path, suite, protocol=2)
    sets = {}
    for seed in (0, 1, 2):
        a = episodes[(episodes["method"] == "cql") & (episodes["seed"] == seed)].sort_values("episode")
        b = episodes[(episodes["method"] == "cql_copy") & (episodes["seed"] == seed)].sort_values("episode")
        assert len(a) == len(b) == 30
        assert np.array_equal(a["episode_seed"].to_numpy(), b["episode_seed"].to_numpy())
        assert np.array_equal(a["return"].to_numpy(), b["return"].to_numpy())  # same model, same episodes
        expected = eval_seeds("rsbench/RiskyPointMass-v0", 30, suite.eval.seed, seed)
        assert np.array_equal(a["episode_seed"].to_numpy(), expected)
        sets[seed] = set(a["episode_seed"].tolist())
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    # the seeds' episodes differ, so their returns do too (no common draw left between seeds)
    assert len({tuple(sorted(s)) for s in sets.values()}) == 3


def test_an_old_run_is_re_evaluated_on_protocol_1s_shared_set(tmp_path: Path) -> None:
    suite = _suite(episodes=10)
    episodes = _evaluate(tmp_path, suite, protocol=None)
    shared = eval_seeds("rsbench/RiskyPointMass-v0", 10, suite.eval.seed)
    for _, rows in episodes.groupby("trial"):
        assert np.array_equal(rows.sort_values("episode")["episode_seed"].to_numpy(), shared)


def test_seed_sets_are_per_episode_and_keyed_by_every_part() -> None:
    task = "rsbench/RiskyPointMass-v0"
    long, short = eval_seeds(task, 200, 0, 3), eval_seeds(task, 50, 0, 3)
    assert np.array_equal(long[:50], short)  # the first k of n episodes are a k-episode evaluation
    others = [
        eval_seeds(task, 200, 0, 4),
        eval_seeds(task, 200, 1, 3),
        eval_seeds("rsbench/RiskyHopper-v0", 200, 0, 3),
    ]
    others.append(eval_seeds(task, 200, 0))  # protocol 1's set
    for other in others:
        assert not set(long.tolist()) & set(other.tolist())
    assert json.dumps(long.tolist())  # plain ints that a parquet column and env.reset(seed=) take
    assert long.min() >= 0 and long.max() < 2**31
