"""The trial as data: a frozen :class:`Trial`, its results-store columns, its plain-data form for Ray Tune,
and the units Tune runs (a trial alone, or a :class:`Pack` of seeds)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rsbench.suite import Trial
from rsbench.train.trial import record, trial_row
from rsbench.train.trials import Pack, tune_units, unit_from_dict, unit_to_dict


def _trial(**fields: Any) -> Trial:
    base: dict[str, Any] = {
        "id": "big-pm-s0",
        "method_label": "big",
        "method_name": "cql",
        "task": "pm",
        "env": "rsbench/RiskyPointMass-v0",
        "dataset": "pointmass-mixed",
        "seed": 0,
        "sweep": {},
        "config": {"hidden": [16]},
        "risks": ("neutral", "cvar:0.1"),
        "evals": ({},),
        "steps": 10,
        "batch_size": 16,
        "checkpoint_every": 5,
        "log_every": 5,
        "episodes": 2,
        "alphas": (0.1,),
        "eval_seed": 0,
        "horizon": None,
        "risk_spec": None,
        "cpu": 2.0,
        "gpu": 0.0,
        "pack": 1,
    }
    return Trial(**{**base, **fields})


def test_a_trial_is_frozen() -> None:
    trial = _trial()
    with pytest.raises(dataclasses.FrozenInstanceError):
        trial.seed = 1  # type: ignore[misc]
    assert dataclasses.replace(trial, seed=1).seed == 1 and trial.seed == 0


def test_the_store_row_keeps_its_column_names() -> None:
    """``method`` is the suite's label and ``algo`` the registered method, as in stored runs and baselines."""
    trial = _trial(sweep={"methods.big.config.hidden": [16]})
    assert trial_row(trial) == {
        "trial": "big-pm-s0",
        "method": "big",
        "algo": "cql",
        "task": "pm",
        "env": "rsbench/RiskyPointMass-v0",
        "dataset": "pointmass-mixed",
        "seed": 0,
        "sweep": '{"methods.big.config.hidden": [16]}',
    }
    row = record(trial, node_id="n1", status="finished")
    assert json.loads(row["risk"]) == ["neutral", "cvar:0.1"] and row["node_id"] == "n1"
    assert record(trial)["node_id"] is None  # not run by Ray


def test_a_unit_round_trips_through_plain_data() -> None:
    trial = _trial(method_files=("/m.py",), evals=({"methods.big.config.k": 1}, {"methods.big.config.k": 2}))
    data = json.loads(json.dumps(unit_to_dict(trial)))  # lists where the trial has tuples
    assert unit_from_dict(data) == trial
    pack = Pack((trial, dataclasses.replace(trial, id="big-pm-s1", seed=1)))
    data = json.loads(json.dumps(unit_to_dict(pack)))
    assert {k: data[k] for k in ("id", "steps", "cpu", "gpu")} == {
        "id": "big-pm-s0-pack2",
        "steps": 10,
        "cpu": 2.0,
        "gpu": 0.0,
    }
    assert unit_from_dict(data) == pack


def test_tune_units_pack_seeds_in_chunks_and_say_when_a_method_cannot_pack() -> None:
    from rsbench.methods import load_method_file

    load_method_file(Path(__file__).with_name("faulty_method.py"))
    cql = [_trial(id=f"cql-pm-s{s}", method_label="cql", seed=s, pack=2, gpu=0.5) for s in range(3)]
    bc = [
        _trial(id=f"bc-pm-s{s}", method_label="bc", method_name="faulty_bc", seed=s, pack=2) for s in range(2)
    ]
    units, notes = tune_units(cql + bc)
    assert [u.id for u in units] == ["cql-pm-s0-pack2", "cql-pm-s2", "bc-pm-s0", "bc-pm-s1"]
    pack = units[0]
    assert isinstance(pack, Pack) and pack.trials == (cql[0], cql[1])
    assert (pack.steps, pack.cpu, pack.gpu) == (10, 2.0, 0.5)  # the method's, which are the whole pack's
    assert units[1:] == [cql[2], *bc]  # never a pack of one
    assert notes == [
        "methods.bc: faulty_bc cannot pack (not a packable method); its trials run one seed each"
    ]
    alone = [dataclasses.replace(t, pack=1) for t in cql + bc]
    assert tune_units(alone) == (alone, [])
    with pytest.raises(ValueError, match="at least 2"):
        Pack((cql[0],))


def test_only_takes_patterns_over_labels_and_trial_ids():
    """A chunk of a long suite is one `--only`: a shell-style pattern selects one task's seeds of a method."""
    from rsbench.errors import UserError
    from rsbench.suite import load_suite
    from rsbench.train.trials import only_methods

    suite = load_suite(Path(__file__).resolve().parents[2] / "suites" / "smoke.yaml")
    trials = suite.trials()
    chosen = only_methods(trials, ["diffuser-pointmass-*", "cql"], suite)
    assert sorted({t.method_label for t in chosen}) == ["cql", "diffuser"]  # not decision_diffuser
    assert {t.id for t in chosen} >= {"diffuser-pointmass-s0", "diffuser-pointmass-s2"}
    assert only_methods(trials, ["rs_diffuser-*-s[01]"], suite) == [
        t for t in trials if t.id in ("rs_diffuser-pointmass-s0", "rs_diffuser-pointmass-s1")
    ]
    with pytest.raises(UserError, match="no method label or trial id 'hopper-\\*'"):
        only_methods(trials, ["hopper-*"], suite)
