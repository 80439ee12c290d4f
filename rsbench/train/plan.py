"""Planning a run without Ray: a new run directory for a suite, the missing trials of an interrupted one, and
the re-evaluation of a finished run from its checkpoints."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsbench.errors import UserError
from rsbench.methods import load_method_file
from rsbench.results.fs import locate
from rsbench.results.provenance import manifest, now
from rsbench.results.store import RunStore
from rsbench.schema import load
from rsbench.suite import Suite, validate_suite
from rsbench.train.checkpoint import load_checkpoint
from rsbench.train.trial import evaluate_risks, find_checkpoint, local_copy
from rsbench.train.trials import RunPlan, only_methods, run_trials


def new_run(
    suite: Suite,
    suite_path: Path,
    *,
    results: str,
    name: str | None,
    method_files: list[str],
    only: Sequence[str] = (),
) -> RunPlan:
    """A fresh run ``<results>/<name>`` (default ``<suite>-<UTC time>``); refuses to reuse a run's directory.
    ``only`` keeps the trials of those method labels or trial ids (checked before anything is written); the
    manifest records it as the run's selection, which a bare ``--resume`` continues."""
    only_methods([], list(only), suite, listing=f"rsbench validate {suite_path}")  # a wrong name: no run
    run_id = name or f"{suite.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    if "/" in run_id or run_id.startswith("."):
        raise UserError(f"expected a plain directory name, got {run_id!r}", key="--name")
    store = RunStore(locate(results) / run_id)
    try:  # exclusive: of two runs given one name, even at the same instant, the second is refused here
        store.root.create_exclusive()
    except FileExistsError:
        if not store.exists():
            raise UserError(
                f"{store.root.uri} exists and holds no run yet (another run starting under that name, or "
                "not a run); pick another --name",
                key="--name",
            ) from None
        raise UserError(
            f"run {store.root.uri} exists; continue it with `rsbench run --resume {store.root.uri}` "
            "or pick another --name",
            key="--name",
        ) from None
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
            deviations=suite.deviations(),
            **({"only": list(only)} if only else {}),
        )
    )
    trials = run_trials(suite, store.root.uri, method_files)
    return RunPlan(store, suite, trials, only_methods(trials, list(only), suite), method_files, list(only))


def open_run(where: str, *, retry_failed: bool = False, key: str = "RUN") -> RunPlan:
    """The run at ``where``; pending are its trials without a record (and failed ones if ``retry_failed``),
    in the whole suite: :func:`resume_run` narrows them to the run's selection."""
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
    trials = run_trials(suite, store.root.uri, method_files)
    pending = [t for t in trials if t.id not in status or (retry_failed and status[t.id] == "failed")]
    return RunPlan(store, suite, trials, pending, method_files, list(info.get("only", [])))


def resume_run(
    where: str, *, retry_failed: bool = False, only: Sequence[str] = (), dry_run: bool = False
) -> RunPlan:
    """:func:`open_run` for ``--resume``, stamping the manifest with the time of the resumption.

    Without ``only`` the run continues its own selection (an interrupted chunk finishes that chunk, never
    the whole suite). ``only`` picks pending trials anywhere in the suite (``'*'``: all of them) and, in a
    run with a selection, joins it, so the counts and the next bare ``--resume`` include them. A ``dry_run``
    only lists them: the manifest is left as it was (no resumption stamp, the same selection)."""
    plan = open_run(where, retry_failed=retry_failed, key="--resume")
    listing = f"rsbench validate {(plan.store.root / 'suite.yaml').uri}"
    plan.pending = only_methods(plan.pending, list(only) or plan.selection, plan.suite, listing=listing)
    if only and plan.selection:
        plan.selection += [n for n in only if n not in plan.selection]
    if dry_run:
        return plan
    info = plan.store.read_manifest()
    info.setdefault("resumed", []).append(now())
    if plan.selection:
        info["only"] = plan.selection
    plan.store.write_manifest(info)
    return plan


def finish_run(plan: RunPlan) -> dict[str, int]:
    """Stamp the manifest with the end time and trial counts; returns the counts by status. A run with a
    selection counts its selected trials; ``unselected`` is the rest of the suite."""
    status = plan.store.trial_status()
    selected = plan.selected
    counts = {"trials": len(selected), "finished": 0, "failed": 0, "missing": 0}
    for trial in selected:
        counts[status.get(trial.id, "missing")] += 1
    if len(selected) < len(plan.trials):
        counts["unselected"] = len(plan.trials) - len(selected)
    info = plan.store.read_manifest()
    info.update(finished=now(), counts=counts)
    plan.store.write_manifest(info)
    return counts


def reevaluate(where: str, risks: list[str], *, device: str = "cpu") -> list[tuple[str, str]]:
    """Evaluate every finished trial of the run at ``where`` at ``risks`` from its final checkpoint, without
    retraining; adds (or replaces) those episodes parts and the trial records' risk lists. A method whose
    ``act`` ignores the inference risk is evaluated only at the risk it accepts (docs/design.md §4). Returns the
    ``(trial, risk)`` pairs evaluated."""
    import torch

    from rsbench.methods import get
    from rsbench.risk import RiskSetting

    plan = open_run(where)
    status = plan.store.trial_status()
    done = []
    for trial in plan.trials:
        cls = get(trial.method_name)
        accepted = cls.accepted_risks(cls.Config.from_dict(trial.config))
        mine = [r for r in risks if accepted is None or RiskSetting.parse(r) in accepted]
        if status.get(trial.id) != "finished" or not mine:
            continue
        ckpt = find_checkpoint(plan.store, trial.id)
        if ckpt is None:
            raise UserError(
                f"trial {trial.id} has no checkpoint under {plan.store.tune_dir().uri}", source=where
            )
        torch.set_num_threads(max(1, int(trial.cpu)))
        with local_copy(ckpt) as path:
            method, _ = load_checkpoint(path, device=device)
        if method.steps != trial.steps:
            raise UserError(
                f"trial {trial.id}: newest checkpoint has {method.steps} steps, expected {trial.steps}",
                source=ckpt.uri,
            )
        latency: list[dict[str, Any]] = []
        evaluate_risks(method, trial, mine, plan.store, latency)
        rows = plan.store.trial_record(trial.id)
        stored = json.loads(rows["risk"])
        rows["risk"] = json.dumps(stored + [r for r in mine if r not in stored])
        rows["decision_latency"] = json.dumps(_merge_latency(rows.get("decision_latency"), latency))
        plan.store.write_trial(rows)
        done += [(trial.id, r) for r in mine]
    if not done and any(s == "finished" for s in status.values()):
        raise UserError(
            f"no finished trial's method uses the inference risk {', '.join(risks)}: a method whose act "
            "ignores it is evaluated only at the risk it is trained for",
            key="--risk",
        )
    return done


def _merge_latency(stored: Any, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A record's decision-latency entries (JSON text; absent in records that predate them) with ``new``'s
    replacing those of the same (risk, sweep point)."""
    old = json.loads(stored) if isinstance(stored, str) else []
    fresh = {(e["risk"], e["sweep"]) for e in new}
    return [e for e in old if (e["risk"], e["sweep"]) not in fresh] + new
