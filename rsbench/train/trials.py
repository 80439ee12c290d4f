"""What a run trains, as data (no Ray, no torch): the suite's trials as self-contained specs, the units
Tune runs (a trial alone, or a pack of seeds), and the :class:`RunPlan` of a run.

``train/`` imports in one direction: :mod:`~rsbench.train.plan` (run directories) and
:mod:`~rsbench.train.tune` (the Ray Tune layer) build on :mod:`~rsbench.train.trial` (one trial's work:
train, evaluate, store), which builds on this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rsbench.results.store import RunStore
from rsbench.suite import Suite


@dataclass
class RunPlan:
    """What ``rsbench run`` is about to do: the store, every trial spec, and which of them run now."""

    store: RunStore
    suite: Suite
    specs: list[dict[str, Any]]
    pending: list[dict[str, Any]]
    method_files: list[str] = field(default_factory=list)


def trial_specs(suite: Suite, run_uri: str, method_files: list[str]) -> list[dict[str, Any]]:
    """The suite's trials as self-contained JSON-able specs (what a Tune trial receives as its config)."""
    specs = []
    for t in suite.trials():
        task = suite.tasks[t["task"]]
        specs.append(
            {
                **t,
                "checkpoint_every": suite.train.checkpoint_every,
                "log_every": suite.train.log_every,
                "episodes": suite.eval.episodes,
                "alphas": list(suite.eval.alphas),
                "eval_seed": suite.eval.seed,
                "horizon": task.horizon,
                "risk_spec": task.risk.to_dict() if task.risk else None,
                "run_uri": run_uri,
                "method_files": method_files,
            }
        )
    return specs


def tune_units(pending: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """What Tune runs: each pending trial alone, except that trials of one method label, task and sweep
    point whose ``pack`` is K > 1 go as packs of up to K seeds (``{"id", "steps", "cpu", "gpu", "members"}``).
    Also returns one line per method that asked to pack but cannot (not a packable method)."""
    from rsbench.methods import get
    from rsbench.methods.packing import packable

    groups: dict[str, list[dict[str, Any]]] = {}
    units: list[dict[str, Any]] = []
    notes: dict[str, str] = {}
    for spec in pending:
        if spec.get("pack", 1) > 1 and not packable(get(spec["algo"])):
            notes[spec["method"]] = (
                f"methods.{spec['method']}: {spec['algo']} cannot pack (not a packable method); "
                "its trials run one seed each"
            )
        if spec.get("pack", 1) == 1 or spec["method"] in notes:
            units.append(spec)
            continue
        key = json.dumps([spec["method"], spec["task"], spec["sweep"]], sort_keys=True, default=str)
        if key not in groups:
            groups[key] = []
            units.append({"id": key, "members": groups[key]})  # filled below, in the suite's order
        groups[key].append(spec)
    out: list[dict[str, Any]] = []
    for unit in units:
        if "members" not in unit:
            out.append(unit)
            continue
        members = groups[unit["id"]]
        k = members[0]["pack"]
        out += [_pack_unit(members[i : i + k]) for i in range(0, len(members), k)]
    return out, list(notes.values())


def _pack_unit(members: list[dict[str, Any]]) -> dict[str, Any]:
    if len(members) == 1:  # never pack one seed
        return members[0]
    first = members[0]
    return {
        "id": f"{first['id']}-pack{len(members)}",
        "steps": first["steps"],
        "cpu": first["cpu"],
        "gpu": first["gpu"],
        "members": members,
    }
