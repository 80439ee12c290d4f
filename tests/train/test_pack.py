"""Packed training end to end: fit_pack against fit, a diverging seed masked out, resume, and a packed
``rsbench run`` whose per-seed records and metrics agree with an unpacked one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from rsbench.methods import Space, create, get
from rsbench.train import TrainingDiverged, fit, load_checkpoint, save_checkpoint
from rsbench.train.pack import fit_pack

SEEDS = [0, 1, 2]


def _cql(data: Any, seed: int) -> Any:
    return create("cql", Space.from_data(data), get("cql").Config.tiny(), seed=seed)


def _weights(method: Any) -> dict[str, torch.Tensor]:
    return {
        f"{n}.{k}": v
        for n, m in method.nets().items()
        for k, v in (m.state_dict().items() if isinstance(m, torch.nn.Module) else [("", m.detach())])
    }


def _close(a: Any, b: Any, exact: bool = False) -> None:
    wa, wb = _weights(a), _weights(b)
    for key in wa:
        if exact:
            assert torch.equal(wa[key], wb[key]), key
        else:
            torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5, msg=key)


def _losses(curves: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in curves]


def test_fit_pack_trains_each_seed_as_fit_does(pointmass_data) -> None:
    alone = [_cql(pointmass_data, s) for s in SEEDS]
    results = [
        fit(m, pointmass_data, 6, batch_size=8, seed=s, log_every=3)
        for m, s in zip(alone, SEEDS, strict=True)
    ]
    packed = [_cql(pointmass_data, s) for s in SEEDS]
    logged: list[tuple[int, float]] = []
    outcomes = fit_pack(
        packed,
        pointmass_data,
        6,
        seeds=SEEDS,
        batch_size=8,
        log_every=3,
        on_log=lambda i, r: logged.append((i, r["step"])),
    )
    assert sorted(logged) == [(i, s) for i in range(3) for s in (3.0, 6.0)]
    for a, p, r, o in zip(alone, packed, results, outcomes, strict=True):
        assert not isinstance(o, TrainingDiverged) and o.steps == p.steps == 6
        _close(a, p)
        for ra, rp in zip(_losses(r.curves), _losses(o.curves), strict=True):
            assert rp == pytest.approx(ra, rel=1e-4, abs=1e-5)


def test_a_diverging_seed_is_masked_out_and_the_others_go_on(pointmass_data) -> None:
    packed = [_cql(pointmass_data, s) for s in SEEDS]
    with torch.no_grad():
        next(packed[1].critic.parameters()).fill_(float("nan"))  # seed 1's critic is broken from the start
    outcomes = fit_pack(packed, pointmass_data, 4, seeds=SEEDS, batch_size=8, log_every=2)
    assert isinstance(outcomes[1], TrainingDiverged) and outcomes[1].step == 1 and packed[1].steps == 1
    assert "diverged at step 1" in str(outcomes[1])
    for i in (0, 2):
        alone = _cql(pointmass_data, SEEDS[i])
        fit(alone, pointmass_data, 4, batch_size=8, seed=SEEDS[i], log_every=2)
        assert packed[i].steps == 4
        _close(alone, packed[i])


def test_a_pack_resumes_every_seed_from_its_checkpoint(pointmass_data, tmp_path: Path) -> None:
    straight = [_cql(pointmass_data, s) for s in SEEDS]
    full = fit_pack(straight, pointmass_data, 6, seeds=SEEDS, batch_size=8, log_every=2)
    saved: dict[int, Path] = {}

    def keep(step: int, members: list[tuple[int, Any, dict[str, Any]]]) -> None:
        for i, method, trainer in members:
            saved[i] = save_checkpoint(tmp_path / str(i), method, trainer=trainer)

    first = [_cql(pointmass_data, s) for s in SEEDS]
    fit_pack(
        first,
        pointmass_data,
        4,
        seeds=SEEDS,
        batch_size=8,
        log_every=2,
        checkpoint_every=4,
        on_checkpoint=keep,
    )
    assert sorted(saved) == [0, 1, 2] and all(p.name == "step-000000004" for p in saved.values())
    resumed = [_cql(pointmass_data, 99) for _ in SEEDS]  # their own init is replaced by the checkpoints
    rest = fit_pack(
        resumed,
        pointmass_data,
        6,
        seeds=SEEDS,
        batch_size=8,
        log_every=2,
        resume_from=[saved[i] for i in range(3)],
    )
    for s, r, f, rr in zip(straight, resumed, full, rest, strict=True):
        _close(s, r, exact=True)
        assert _losses(rr.curves) == _losses(f.curves)  # type: ignore[union-attr]


def test_a_seed_behind_the_others_catches_up_alone_then_packs(pointmass_data, tmp_path: Path) -> None:
    ahead = _cql(pointmass_data, 0)
    fit(ahead, pointmass_data, 3, batch_size=8, seed=0, checkpoint_every=3, checkpoint_dir=tmp_path)
    methods = [_cql(pointmass_data, 0), _cql(pointmass_data, 1)]
    outcomes = fit_pack(
        methods,
        pointmass_data,
        5,
        seeds=[0, 1],
        batch_size=8,
        resume_from=[tmp_path / "step-000000003", None],
    )
    assert [o.steps for o in outcomes] == [5, 5]  # type: ignore[union-attr]
    for i, m in enumerate(methods):
        alone = _cql(pointmass_data, i)
        fit(alone, pointmass_data, 5, batch_size=8, seed=i)
        _close(alone, m)


def test_a_packed_planner_trains_as_fit_does_and_checkpoints_as_an_ordinary_trial(
    pointmass_data, tmp_path: Path
) -> None:
    """RS-Diffuser (the planner with the most draws per update) at horizon 16: at the tiny 8 its critic's
    GroupNorm sees two positions and float32 rounding grows chaotically. Each seed's curves are those of
    its separate fit (its weights are compared in float64 by tests/methods/test_packing.py), and its
    checkpoint, written from the unstacked pack, loads as an ordinary one holding that seed's weights."""
    config = get("rs_diffuser").Config.tiny().replace(horizon=16)
    seeds = SEEDS[:2]
    saved: dict[int, Path] = {}

    def keep(step: int, members: list[tuple[int, Any, dict[str, Any]]]) -> None:
        for i, method, trainer in members:
            saved[i] = save_checkpoint(tmp_path / str(i), method, trainer=trainer)

    space = Space.from_data(pointmass_data)
    packed = [create("rs_diffuser", space, config, seed=s) for s in seeds]
    outcomes = fit_pack(
        packed,
        pointmass_data,
        4,
        seeds=seeds,
        batch_size=8,
        log_every=2,
        checkpoint_every=4,
        on_checkpoint=keep,
    )
    for i, (method, outcome) in enumerate(zip(packed, outcomes, strict=True)):
        alone = create("rs_diffuser", space, config, seed=seeds[i])
        result = fit(alone, pointmass_data, 4, batch_size=8, seed=seeds[i], log_every=2)
        assert not isinstance(outcome, TrainingDiverged) and len(outcome.curves) == 2
        for ra, rp in zip(_losses(result.curves), _losses(outcome.curves), strict=True):
            assert rp == pytest.approx(ra, rel=1e-4, abs=1e-5)
        loaded, _ = load_checkpoint(saved[i])
        assert loaded.steps == 4
        _close(method, loaded, exact=True)


# -- rsbench run: packs as Tune trials ------------------------------------------------------------------------
def _suite(tmp_path: Path, resources: dict[str, Any] | None, name: str) -> Path:
    cql: dict[str, Any] = {"method": "cql", "config": {"hidden": [32, 32], "cql_n_actions": 2}}
    if resources:
        cql["resources"] = resources
    data = {
        "name": "pack",
        "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed-200ep"}},
        "methods": {"cql": cql},
        "seeds": [0, 1, 2],
        "train": {"steps": 20, "batch_size": 16, "checkpoint_every": 10, "log_every": 10},
        "eval": {"episodes": 4, "alphas": [0.1]},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_a_packed_run_writes_ordinary_trials_that_agree_with_an_unpacked_run(
    pointmass_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rsbench.results import load_run
    from rsbench.results.tables import per_seed
    from rsbench.suite import load_suite
    from rsbench.train.plan import new_run
    from rsbench.train.trial import find_checkpoint
    from rsbench.train.trials import tune_units
    from rsbench.train.tune import run_tune

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    runs = {}
    for name, resources in (("plain", None), ("packed", {"pack": 2, "cpu": 2})):
        path = _suite(tmp_path, resources, name)
        plan = new_run(load_suite(path), path, results=str(tmp_path / "results"), name=name, method_files=[])
        units, notes = tune_units(plan.pending)
        assert not notes and len(units) == (3 if resources is None else 2)  # seeds 0+1 packed, 2 alone
        assert set(run_tune(plan, cpus=2).values()) == {"finished"}
        assert all(find_checkpoint(plan.store, t.id) is not None for t in plan.trials)
        runs[name] = load_run(plan.store.root)
    plain, packed = (
        per_seed(runs[n].episodes, [0.1]).sort_values(["trial", "risk"]) for n in ("plain", "packed")
    )
    assert list(packed["trial"]) == list(plain["trial"]) == ["cql-pm-s0", "cql-pm-s1", "cql-pm-s2"]
    for column in ("mean_return", "violation_rate"):
        np.testing.assert_allclose(packed[column], plain[column], rtol=1e-3, atol=1e-3)
    assert (runs["packed"].trials["status"] == "finished").all() and (
        runs["packed"].trials["steps"] == 20
    ).all()
