"""Synthetic nightly runs written through the results store (no training): a history in seconds.

Each night is a real run directory (suite.yaml, manifest.json with start time and commit, trials and episodes
parquet parts) of the smoke suite's protocol, with seeded episodes: seed ``s`` of a method has a persistent
offset (its evaluation episode set) plus fresh noise every night, as nondeterministic training gives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rsbench.results import RunStore
from rsbench.suite import load_suite

REPO = Path(__file__).resolve().parents[2]
GROUPS = {"rs_diffuser": ["cvar:0.1"], "diffuser": ["neutral"], "iqn": ["cvar:0.1"]}
START = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def commit_of(night: int) -> str:
    """A made-up 40-hex commit per night."""
    return f"{night:04d}" + "c0ffee" * 6


def write_night(
    root: Path, night: int, *, seeds: tuple[int, ...] = (0, 1, 2, 3, 4), episodes: int = 20,
    shift: dict[str, float] | None = None, failed: tuple[str, ...] = (), suite_edit: dict[str, Any] | None = None,
    manifest_edit: dict[str, Any] | None = None, name: str = "nightly", when: datetime | None = None,
) -> Path:  # fmt: skip
    """Night ``night`` under ``root``: ``shift`` adds to every return of a method; ``failed`` lists trial ids
    stored as failed (no episodes); ``suite_edit`` changes the suite (a new hash); ``manifest_edit`` sets
    manifest keys (e.g. ``eval_protocol``)."""
    suite = load_suite(REPO / "suites" / "smoke.yaml")
    data = suite.to_dict()
    data["name"] = name
    for key, value in (suite_edit or {}).items():
        data["eval"][key] = value
    digest = f"hash-{sorted((suite_edit or {}).items())}"
    when = when or START + timedelta(days=night)
    run_id = f"{name}-{when:%Y%m%d-%H%M%S}"
    where = root / run_id
    store = RunStore(where)
    store.root.mkdir()
    (where / "suite.yaml").write_text(yaml.safe_dump(data))
    info: dict[str, Any] = {  # what provenance.manifest() writes, without asking git and pip 30 times
        "run_id": run_id, "suite": name, "suite_hash": digest, "risk_spec_version": 1, "command": ["test"],
        "started": when.isoformat(), "finished": (when + timedelta(hours=1)).isoformat(),
        "git": {"commit": commit_of(night), "dirty": False},
    }  # fmt: skip
    trials = [f"{m}-pointmass-s{s}" for m in GROUPS for s in seeds]
    info["counts"] = {
        "trials": len(trials),
        "finished": len(trials) - len(failed),
        "failed": len(failed),
        "missing": 0,
    }
    info.update(manifest_edit or {})
    store.write_manifest(info)
    for method, risks in GROUPS.items():
        for seed in seeds:
            _write_trial(store, method, risks, seed, night, episodes, (shift or {}).get(method, 0.0), failed)
    return where


def _write_trial(
    store: RunStore, method: str, risks: list[str], seed: int, night: int, episodes: int, shift: float,
    failed: tuple[str, ...],
) -> None:  # fmt: skip
    trial = f"{method}-pointmass-s{seed}"
    ident = {"trial": trial, "method": method, "algo": method, "task": "pointmass",
             "env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed", "seed": seed, "sweep": "{}"}  # fmt: skip
    if trial in failed:
        store.write_trial({**ident, "status": "failed", "steps": 0, "error": "boom"})
        return
    store.write_trial({**ident, "status": "finished", "steps": 300})
    offset = np.random.default_rng([seed, len(method)]).normal(0, 0.5)  # the seed's episode set
    rng = np.random.default_rng([night, seed, len(method), 7])
    for risk in risks:
        safe = risk != "neutral"
        returns = rng.normal(-10 if safe else -8, 1.0, episodes) + offset + shift
        hits = rng.random(episodes) < (0.05 if safe else 0.2)
        frame = pd.DataFrame({**ident, "risk": risk, "episode": range(episodes), "episode_seed": range(episodes),
                              "return": returns - 3.0 * hits, "length": 15, "violation_steps": hits.astype(int),
                              "penalty_events": hits.astype(int), "terminated": True, "truncated": False})  # fmt: skip
        store.write_episodes(trial, risk, frame)


def write_history(root: Path, nights: int = 30, **per_night: Any) -> list[Path]:
    """``nights`` nights under ``root``; ``per_night[k]`` are :func:`write_night` options for night ``k``
    (keys are ``"n<k>"``), ``shift_from=(night, {method: shift})`` plants a lasting shift."""
    start, shift = per_night.pop("shift_from", (nights, {}))
    return [
        write_night(root, k, shift=shift if k >= start else None, **per_night.get(f"n{k}", {}))
        for k in range(nights)
    ]
