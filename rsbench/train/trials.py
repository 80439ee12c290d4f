"""What a run trains, as data (no Ray): the suite's trials completed with the run's own fields, the
units Tune runs (a :class:`~rsbench.suite.Trial` alone, or a :class:`Pack` of seeds), and the
:class:`RunPlan` of a run.

:class:`~rsbench.suite.Trial` itself lives in :mod:`rsbench.suite`, next to the trial table that builds it, so
that the suite never imports ``rsbench.train``. ``train/`` imports in one direction: this module <-
:mod:`~rsbench.train.trial` (one trial's work: train, evaluate, store) <- :mod:`~rsbench.train.plan` (run
directories), :mod:`~rsbench.train.tune` (the Ray Tune layer) and :mod:`~rsbench.train.progress` (its live table).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rsbench.errors import UserError
from rsbench.methods import get
from rsbench.methods.packing import packable
from rsbench.results.store import RunStore
from rsbench.schema import doc
from rsbench.suite import Suite, Trial


@dataclass(frozen=True)
class Pack:
    """K > 1 seeds of one method label, task and training sweep point, trained as one stacked model.

    A pack is one Tune trial (its resources are the whole pack's) that writes K ordinary trial records, so
    results, resumption and reports see K trials. Never a pack of one.
    """

    trials: tuple[Trial, ...] = doc("the packed trials, in the suite's order (seeds differ, nothing else)")

    def __post_init__(self) -> None:
        if len(self.trials) < 2:
            raise ValueError(f"a pack holds at least 2 trials, got {len(self.trials)}")

    @property
    def id(self) -> str:
        """The first trial's id with ``-packK``: names the pack's Tune trial and its directory."""
        return f"{self.trials[0].id}-pack{len(self.trials)}"

    @property
    def steps(self) -> int:
        return self.trials[0].steps

    @property
    def cpu(self) -> float:
        """The method's ``cpu``, which for a pack is the whole pack's."""
        return self.trials[0].cpu

    @property
    def gpu(self) -> float:
        """The method's ``gpu``, which for a pack is the whole pack's."""
        return self.trials[0].gpu


@dataclass
class RunPlan:
    """What ``rsbench run`` is about to do: the store, every trial of the run, and which of them run now."""

    store: RunStore
    suite: Suite
    trials: list[Trial]
    pending: list[Trial]
    method_files: list[str] = field(default_factory=list)
    # The run's ``--only`` names (empty: the whole suite). A chunk run is its selection: its counts, its exit
    # code and a bare ``--resume`` cover those trials, not the rest of the suite.
    selection: list[str] = field(default_factory=list)

    @property
    def selected(self) -> list[Trial]:
        """The trials of the run's selection (every trial of the suite when it has none)."""
        return only_methods(self.trials, self.selection, self.suite)


def run_trials(suite: Suite, run_uri: str, method_files: list[str]) -> list[Trial]:
    """The suite's trials with the run's store and method files filled in (what a Tune trial receives)."""
    return [replace(t, run_uri=run_uri, method_files=tuple(method_files)) for t in suite.trials()]


def only_methods(trials: list[Trial], names: list[str], suite: Suite, *, listing: str = "") -> list[Trial]:
    """The trials named by ``names`` (all of them when empty): each name is a method label of the suite (all
    its trials), a trial id (``rsbench validate SUITE`` lists them) or a shell-style pattern over both, e.g.
    ``cql-hopper-*`` for one task's CQL seeds. ``rsbench run --only`` trains part of a suite now (a chunk, or
    one pinned trial to reproduce); the run records the names as its selection (``RunPlan.selection``).
    ``listing``: the command that lists the trial ids, named in the error for an unknown name."""
    known = [*suite.methods, *(t.id for t in suite.trials())]
    unknown = [n for n in names if not fnmatch.filter(known, n)]
    if unknown:
        hint = f"; list its trial ids with `{listing}`" if listing else ""
        raise UserError(
            f"no method label or trial id {', '.join(map(repr, unknown))} in suite {suite.name!r} "
            f"(its methods: {', '.join(suite.methods)}{hint})",
            key="--only",
        )
    return [t for t in trials if not names or any(_named(t, n) for n in names)]


def _named(trial: Trial, name: str) -> bool:
    return fnmatch.fnmatchcase(trial.method_label, name) or fnmatch.fnmatchcase(trial.id, name)


def tune_units(pending: list[Trial]) -> tuple[list[Trial | Pack], list[str]]:
    """What Tune runs: each pending trial alone, except that trials of one method label, task and sweep
    point whose ``pack`` is K > 1 go as packs of up to K seeds (a last chunk of one seed goes alone).
    Also returns one line per method that asked to pack but cannot (not a packable method)."""
    groups: dict[str, list[Trial]] = {}
    order: list[Trial | str] = []  # a trial alone, or the key of a group, where it first appears
    notes: dict[str, str] = {}
    for trial in pending:
        if trial.pack > 1 and not packable(get(trial.method_name)):
            notes[trial.method_label] = (
                f"methods.{trial.method_label}: {trial.method_name} cannot pack (not a packable method); "
                "its trials run one seed each"
            )
        if trial.pack == 1 or trial.method_label in notes:
            order.append(trial)
            continue
        key = json.dumps([trial.method_label, trial.task, trial.sweep], sort_keys=True, default=str)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(trial)
    units: list[Trial | Pack] = []
    for entry in order:
        if isinstance(entry, Trial):
            units.append(entry)
            continue
        members, k = groups[entry], groups[entry][0].pack
        units += [_unit(tuple(members[i : i + k])) for i in range(0, len(members), k)]
    return units, list(notes.values())


def _unit(trials: tuple[Trial, ...]) -> Trial | Pack:
    return trials[0] if len(trials) == 1 else Pack(trials)  # never a pack of one seed


# Ray Tune's config holds plain dicts, not our dataclasses: the experiment trackers (MLflow params, W&B
# config, TensorBoard hparams) flatten the config's nested dicts into one parameter per field, and would log
# a dataclass as one long repr. Both kinds of unit carry ``id``, ``steps``, ``cpu`` and ``gpu`` at the top,
# which is all Tune's callbacks read.


def unit_to_dict(unit: Trial | Pack) -> dict[str, Any]:
    """A unit as the plain data of Tune's ``config["trial"]``; :func:`unit_from_dict` reads it back."""
    if isinstance(unit, Trial):
        return unit.to_dict()
    return {
        "id": unit.id,
        "steps": unit.steps,
        "cpu": unit.cpu,
        "gpu": unit.gpu,
        "trials": [t.to_dict() for t in unit.trials],
    }


def unit_from_dict(data: Mapping[str, Any]) -> Trial | Pack:
    """The unit of :func:`unit_to_dict`'s data."""
    if "trials" in data:
        return Pack(tuple(Trial.from_dict(t) for t in data["trials"]))
    return Trial.from_dict(data)
