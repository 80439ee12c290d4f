"""Planning a run without Ray: a new run directory for a suite, or the missing trials of an interrupted one."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from rsbench.errors import UserError
from rsbench.results.fs import locate
from rsbench.results.provenance import manifest, now
from rsbench.results.store import RunStore
from rsbench.schema import load
from rsbench.suite import Suite, validate_suite
from rsbench.train.tune import RunPlan, trial_specs


def new_run(
    suite: Suite, suite_path: Path, *, results: str, name: str | None, method_files: list[str]
) -> RunPlan:
    """A fresh run ``<results>/<name>`` (default ``<suite>-<UTC time>``); refuses to reuse a run's directory."""
    run_id = name or f"{suite.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    if "/" in run_id or run_id.startswith("."):
        raise UserError(f"expected a plain directory name, got {run_id!r}", key="--name")
    store = RunStore(locate(results) / run_id)
    if store.exists():
        raise UserError(
            f"run {store.root.uri} exists; continue it with `rsbench run --resume {store.root.uri}` "
            "or pick another --name",
            key="--name",
        )
    store.write_suite(suite)
    store.write_manifest(
        manifest(
            run_id=run_id,
            suite_name=suite.name,
            suite_hash=suite.digest(),
            command=sys.argv,
            suite_file=str(suite_path),
            storage=store.root.uri,
            method_files=method_files,
        )
    )
    specs = trial_specs(suite, store.root.uri, method_files)
    return RunPlan(store, suite, specs, list(specs), method_files)


def open_run(where: str, *, retry_failed: bool = False, key: str = "RUN") -> RunPlan:
    """The run at ``where``; pending are its trials without a record (and failed ones if ``retry_failed``)."""
    from rsbench.methods import load_method_file

    store = RunStore(where)
    if not store.exists():
        raise UserError("not an rsbench run (no manifest.json)", source=store.root.uri, key=key)
    info = store.read_manifest()
    method_files = list(info.get("method_files", []))
    for f in method_files:
        load_method_file(f)
    source = (store.root / "suite.yaml").uri
    suite = load(Suite, store.read_suite_dict(), source=source)
    validate_suite(suite, source=source)  # the same checks as a new run: the registry may have changed since
    if suite.digest() != info["suite_hash"]:
        raise UserError(
            f"suite.yaml does not match the manifest's suite_hash {info['suite_hash']}", source=source
        )
    status = store.trial_status()
    specs = trial_specs(suite, store.root.uri, method_files)
    pending = [s for s in specs if s["id"] not in status or (retry_failed and status[s["id"]] == "failed")]
    return RunPlan(store, suite, specs, pending, method_files)


def resume_run(where: str, *, retry_failed: bool = False) -> RunPlan:
    """:func:`open_run` for ``--resume``, stamping the manifest with the time of the resumption."""
    plan = open_run(where, retry_failed=retry_failed, key="--resume")
    info = plan.store.read_manifest()
    info.setdefault("resumed", []).append(now())
    plan.store.write_manifest(info)
    return plan


def finish_run(plan: RunPlan) -> dict[str, int]:
    """Stamp the manifest with the end time and trial counts; returns the counts by status."""
    status = plan.store.trial_status()
    counts = {"trials": len(plan.specs), "finished": 0, "failed": 0, "missing": 0}
    for spec in plan.specs:
        counts[status.get(spec["id"], "missing")] += 1
    info = plan.store.read_manifest()
    info.update(finished=now(), counts=counts)
    plan.store.write_manifest(info)
    return counts
