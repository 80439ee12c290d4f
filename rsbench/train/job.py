"""The suite job as a library function: what ``rsbench run`` does, callable from Python and the benchmarks.

>>> from rsbench.train.job import run_suite
>>> outcome = run_suite("suites/smoke.yaml", results="results", name="my-smoke")   # doctest: +SKIP
>>> outcome.exit_code, outcome.counts                                               # doctest: +SKIP

A job: plan the run (a new run directory, or the missing trials of an interrupted one), build the datasets
the pending trials need once in the driver and record their tail coverage in the manifest, run the pending
trials on Ray Tune, stamp the manifest with the trial counts. Printing is the caller's: the CLI passes a
``log`` function and a ``console`` for the live table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsbench.errors import ExitCode
from rsbench.suite import Suite, Trial, open_suite
from rsbench.train.trials import RunPlan


@dataclass
class SuiteOutcome:
    """What a finished (or interrupted) job left: its plan, trial counts by status and the failures."""

    plan: RunPlan
    counts: dict[str, int]  # trials, finished, failed, missing
    failures: dict[str, str]  # trial id -> error of each failed trial
    trackers: list[str]

    @property
    def run_dir(self) -> str:
        return self.plan.store.root.uri

    @property
    def exit_code(self) -> ExitCode:
        """OK when every trial finished, INCOMPLETE when some failed or have no record."""
        incomplete = self.counts["failed"] or self.counts["missing"]
        return ExitCode.INCOMPLETE if incomplete else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        """The summary ``rsbench run --json`` prints."""
        return {
            "run": self.plan.store.run_id,
            "run_dir": self.run_dir,
            "trials": self.counts,
            "failed": self.failures,
            "trackers": self.trackers,
            "report": f"rsbench report {self.run_dir}",
            "resume": f"rsbench run --resume {self.run_dir}" if self.counts["missing"] else None,
            "exit_code": int(self.exit_code),
        }


def plan_suite(
    suite: str | Path,
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    results: str | None = None,
    method_files: Sequence[str | Path] = (),
    only: Sequence[str] = (),
) -> RunPlan:
    """A new run of the suite file ``suite`` (with its ``--set`` overrides) under ``results`` (default
    ``<project>/results``), named ``name`` (default ``<suite>-<UTC time>``); nothing runs yet."""
    from rsbench.paths import project_root
    from rsbench.train.plan import new_run

    files, checked = _open(suite, overrides, method_files)
    root = results or str(project_root() / "results")
    return new_run(checked, Path(suite), results=root, name=name, method_files=files, only=list(only))


def dry_run(
    suite: str | Path,
    *,
    overrides: Sequence[str] = (),
    method_files: Sequence[str | Path] = (),
    only: Sequence[str] = (),
) -> list[Trial]:
    """The trials a new run of ``suite`` would run; creates nothing."""
    from rsbench.train.trials import only_methods, run_trials

    files, checked = _open(suite, overrides, method_files)
    return only_methods(
        run_trials(checked, "", files), list(only), checked, listing=f"rsbench validate {suite}"
    )


def run_suite(
    suite: str | Path,
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    results: str | None = None,
    method_files: Sequence[str | Path] = (),
    only: Sequence[str] = (),
    **execution: Any,
) -> SuiteOutcome:
    """Run the suite file ``suite`` as a new run: :func:`plan_suite`, then :func:`execute` (its keyword
    arguments: ``trackers``, ``address``, ``max_concurrent``, ``max_failures``, ``cpus``, ``console``,
    ``log``)."""
    from rsbench.train.trackers import check_trackers

    check_trackers(list(execution.get("trackers", ())))  # a missing tracker package creates no run
    plan = plan_suite(
        suite, overrides=overrides, name=name, results=results, method_files=method_files, only=only
    )
    return execute(plan, **execution)


def resume_suite(
    run: str, *, retry_failed: bool = False, only: Sequence[str] = (), **execution: Any
) -> SuiteOutcome:
    """Continue the run at ``run``: only its trials without a record (and failed ones with ``retry_failed``)."""
    from rsbench.train.plan import resume_run

    return execute(resume_run(run, retry_failed=retry_failed, only=list(only)), **execution)


def execute(
    plan: RunPlan,
    *,
    trackers: Sequence[str] = (),
    address: str | None = None,
    max_concurrent: int | None = None,
    max_failures: int = 2,
    cpus: int | None = None,
    console: Any = None,
    log: Callable[[str], None] | None = None,
) -> SuiteOutcome:
    """Run ``plan.pending`` on Ray Tune (a local Ray unless ``address``), then stamp the run's manifest.

    ``console``: a rich Console for the live trial table (None: no table); ``log``: where one-line
    messages go (None: nowhere). Tracker names are checked before anything runs.
    """
    from rsbench.train.plan import finish_run
    from rsbench.train.trackers import check_trackers

    names = check_trackers(list(trackers))
    say = log or (lambda _text: None)
    chunk = f" (the run's selection --only {','.join(plan.selection)})" if plan.selection else ""
    say(
        f"run {plan.store.run_id}: {len(plan.pending)} of {len(plan.selected)} trials to run{chunk}, "
        f"results in {plan.store.root.uri}"
    )
    if plan.pending:
        record_coverage(plan, prepare_datasets(plan.pending))
        _run_on_ray(plan, names, console, address, max_concurrent, max_failures, cpus)
    counts = finish_run(plan)
    return SuiteOutcome(plan, counts, failures(plan), names)


def prepare_datasets(trials: Sequence[Trial]) -> dict[str, dict[str, Any]]:
    """Build missing catalogue datasets once in the driver (trials on other nodes build their own); returns
    each task's dataset tail coverage, which the report's warnings read."""
    from rsbench.data.build import ensure_dataset
    from rsbench.data.coverage import tail_coverage
    from rsbench.data.offline import load

    coverage = {}
    for task, name in sorted({(t.task, t.dataset) for t in trials}):
        coverage[task] = tail_coverage(load(ensure_dataset(name, progress=True)))
    return coverage


def record_coverage(plan: RunPlan, coverage: dict[str, dict[str, Any]]) -> None:
    """Add each task's dataset tail coverage to the run's manifest."""
    info = plan.store.read_manifest()
    info.setdefault("datasets", {}).update(coverage)
    plan.store.write_manifest(info)


def failures(plan: RunPlan) -> dict[str, str]:
    """``trial -> error`` of the run's failed trials."""
    from rsbench.results.store import load_run

    trials = load_run(plan.store.root).trials
    if trials.empty:
        return {}
    failed = trials[trials["status"] == "failed"]
    return dict(zip(failed["trial"], failed["error"], strict=True))


def _run_on_ray(
    plan: RunPlan,
    trackers: list[str],
    console: Any,
    address: str | None,
    max_concurrent: int | None,
    max_failures: int,
    cpus: int | None,
) -> None:
    from rsbench.train.progress import LiveTable
    from rsbench.train.trackers import tracker_callbacks
    from rsbench.train.tune import run_tune

    table = LiveTable(plan.pending, console=console) if console is not None else None
    try:
        run_tune(
            plan,
            progress=table,
            callbacks=tracker_callbacks(trackers, plan),
            address=address,
            max_concurrent=max_concurrent,
            max_failures=max_failures,
            cpus=cpus,
        )
    finally:
        if table is not None:
            table.stop()


def _open(
    suite: str | Path, overrides: Sequence[str], method_files: Sequence[str | Path]
) -> tuple[list[str], Suite]:
    """Register the method files, then read and check the suite file with its ``--set`` overrides (the
    suite may name the files' methods); returns the files' absolute paths and the checked suite."""
    from rsbench.methods import load_method_file

    return _load(method_files, load_method_file), open_suite(Path(suite), list(overrides))


def _load(files: Sequence[str | Path], load_method_file: Callable[[Any], Any]) -> list[str]:
    """Register the methods of ``files``; returns their absolute paths (what the run records)."""
    for f in files:
        load_method_file(f)
    return [str(Path(f).resolve()) for f in files]
