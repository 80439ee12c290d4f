"""The Ray Tune layer (docs/design.md §5): a suite's trials as Tune trials, on a local Ray or a cluster.

Each trial is :func:`rsbench.train.trial.run_trial` inside a Tune function trainable: it reports its losses,
hands each checkpoint to ``tune.report(..., checkpoint=...)``, and resumes from ``tune.get_checkpoint()`` when
Tune retries it after a failure (``FailureConfig``). Tune's experiments live in the run's ``tune/attempt-N``
directories; ``--resume`` starts a new attempt over the trials that have no record yet, and each of those
resumes from its newest checkpoint of any earlier attempt. The sweep is expanded by the suite into resolved
trials, which become one ``tune.grid_search`` so that the trial table Tune runs is exactly the one
``--dry-run`` prints. Seeds of a method whose ``resources.pack`` is K > 1 go to Tune as packs of up to K
(:func:`rsbench.train.trials.tune_units`): one Tune trial trains them as one stacked model
(:func:`rsbench.train.trial.run_pack`) and writes K ordinary trial records; its checkpoints hold one ordinary
checkpoint per seed, so a retried pack resumes every seed.

Tune's ``config["trial"]`` is a unit as plain data (:func:`rsbench.train.trials.unit_to_dict`), read back into
a :class:`~rsbench.suite.Trial` or :class:`~rsbench.train.trials.Pack` inside the trainable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rsbench.errors import RunStopped
from rsbench.results.store import RunStore
from rsbench.suite import Trial
from rsbench.train.trial import find_checkpoint, local_copy, pack_checkpoints, record, run_pack, run_trial
from rsbench.train.trials import Pack, RunPlan, tune_units, unit_from_dict, unit_to_dict

__all__ = ["RunPlan", "cluster_resources", "run_tune", "tune_units"]


def _trainable(config: dict[str, Any]) -> None:
    """Tune's function trainable: one trial or one pack, resuming from Tune's checkpoint or an earlier
    attempt's."""
    import ray

    from rsbench.runtime import configure_environment

    configure_environment()
    node = ray.get_runtime_context().get_node_id()
    unit = unit_from_dict(config["trial"])
    if isinstance(unit, Pack):
        _train_pack(unit, node)
    else:
        _train_alone(unit, node)


def _resources(config: dict[str, Any]) -> Any:
    """A unit's Ray resources: its method's ``cpu``/``gpu``, which for a pack are the whole pack's."""
    from ray import tune

    unit = unit_from_dict(config["trial"])
    bundle = {"CPU": float(unit.cpu), "GPU": float(unit.gpu)}
    return tune.PlacementGroupFactory([{k: v for k, v in bundle.items() if v > 0}])


def _report(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
    from ray import tune

    checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
    tune.report(metrics, checkpoint=checkpoint)


def _train_pack(pack: Pack, node_id: str) -> None:
    """A killed pack resumes every seed from the pack's last checkpoint (or each seed from its newest
    checkpoint of an earlier attempt)."""
    from ray import tune

    ids = [t.id for t in pack.trials]
    checkpoint = tune.get_checkpoint()
    with contextlib.ExitStack() as stack:
        if checkpoint is not None:
            resume = pack_checkpoints(Path(stack.enter_context(checkpoint.as_directory())), ids)
        else:
            store = RunStore(pack.trials[0].run_uri)
            earlier = {i: find_checkpoint(store, i) for i in ids}
            resume = {
                i: stack.enter_context(local_copy(loc)) for i, loc in earlier.items() if loc is not None
            }
        rows = run_pack(pack, report=_report, resume_from=resume, node_id=node_id)
    statuses = {r["status"] for r in rows}
    status = "finished" if statuses == {"finished"} else "failed"
    tune.report({"trial_status": status, "step": float(max(r["steps"] or 0 for r in rows))})


def _train_alone(trial: Trial, node_id: str) -> None:
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as path:
            row = run_trial(trial, report=_report, resume_from=Path(path), node_id=node_id)
    else:
        earlier = find_checkpoint(RunStore(trial.run_uri), trial.id)
        if earlier is not None:
            with local_copy(earlier) as path:
                row = run_trial(trial, report=_report, resume_from=path, node_id=node_id)
        else:
            row = run_trial(trial, report=_report, node_id=node_id)
    # "done" is Tune's own result key; the trial's outcome travels under a key of ours.
    tune.report({"trial_status": row["status"], "step": float(row["steps"])})


def _init_ray(address: str | None, cpus: int | None) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), else start a quiet local Ray; returns whether this call
    initialised Ray (and so must shut it down: disconnect from a cluster, stop a local instance)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        return True
    env = {
        k: os.environ[k] for k in ("MINARI_DATASETS_PATH", "RAY_AUTH_MODE", "MPLCONFIGDIR") if k in os.environ
    }
    ray.init(
        address="local",  # a new local Ray even when another cluster on this machine (ray start) is listed
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="WARNING",
        runtime_env={"env_vars": env},
    )
    return True


def cluster_resources() -> dict[str, Any]:
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "address": ray.get_runtime_context().gcs_address,
        "nodes": len(nodes),
        "resources": {k: v for k, v in ray.cluster_resources().items() if not k.startswith("node:")},
    }


def run_tune(
    plan: RunPlan,
    *,
    address: str | None = None,
    max_concurrent: int | None = None,
    max_failures: int = 2,
    cpus: int | None = None,
    progress: Any = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, str]:
    """Run ``plan.pending`` as Tune trials; returns ``trial id -> status`` for them (finished | failed).

    A trial that errors beyond its retries gets a failed record with Tune's error. A trial stopped without
    an error (the driver was interrupted) gets no record, so ``--resume`` runs it. ``callbacks`` are more
    Tune callbacks, e.g. the experiment trackers of :mod:`rsbench.train.trackers`.
    """
    import ray

    # Our live table replaces Tune's console output; our parquet parts replace its CSV/JSON/TensorBoard logs.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    for name in ("ray.tune", "ray.train"):  # their warnings are about the logs we replaced; errors still show
        logging.getLogger(name).setLevel(logging.ERROR)
    started = _start_ray(plan, address, cpus)
    try:
        manifest = plan.store.read_manifest()
        manifest.setdefault("cluster", cluster_resources())
        plan.store.write_manifest(manifest)
        units, notes = tune_units(plan.pending)
        for line in notes:
            print(f"rsbench: {line}", file=sys.stderr)
        extra = [*([progress] if progress is not None else []), *callbacks]
        grid = _tuner(plan, units, max_concurrent, max_failures, extra).fit()
        _record_errors(plan, grid)
        statuses = plan.store.trial_status()
        return {t.id: statuses.get(t.id, "missing") for t in plan.pending}
    finally:
        if started:
            ray.shutdown()


def _start_ray(plan: RunPlan, address: str | None, cpus: int | None) -> bool:
    """Start or join Ray (True: we started it); a Ray that does not start is one line, exit 3."""
    try:
        return _init_ray(address, cpus)
    except Exception as e:  # Ray raises a bare Exception when its node times out at startup (a starved CPU)
        where = plan.store.root.uri
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RunStopped(
            f"Ray did not start ({reason}); no trial ran, continue with `rsbench run --resume {where}`",
            key="ray",
        ) from e


def _tuner(
    plan: RunPlan, units: list[Any], max_concurrent: int | None, max_failures: int, callbacks: list[Any]
) -> Any:
    """One Tune grid over the run's units (trials and packs), in a new attempt-N directory of the run."""
    from ray import tune

    attempt = len(plan.store.tune_dir().children()) + 1
    return tune.Tuner(
        tune.with_resources(_trainable, _resources),
        param_space={"trial": tune.grid_search([unit_to_dict(u) for u in units])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent,
            trial_dirname_creator=lambda trial: trial.config["trial"]["id"],
            trial_name_creator=lambda trial: trial.config["trial"]["id"],
        ),
        run_config=tune.RunConfig(
            name=f"attempt-{attempt}",
            storage_path=plan.store.tune_dir().uri,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            callbacks=callbacks or None,
            verbose=0,
        ),
    )


def _record_errors(plan: RunPlan, grid: Any) -> None:
    """A failed record, with the exception's own line, for each trial of a unit that errored beyond its
    retries and has no record yet (a trial stopped without an error gets none, so --resume runs it)."""
    statuses = plan.store.trial_status()
    for result in grid:
        if not result.config or result.error is None:
            continue
        unit = unit_from_dict(result.config["trial"])
        lines = [line.strip() for line in str(result.error).splitlines() if line.strip()]
        error = lines[-1] if lines else type(result.error).__name__
        for trial in unit.trials if isinstance(unit, Pack) else (unit,):
            if trial.id not in statuses:
                plan.store.write_trial(
                    record(
                        trial,
                        status="failed",
                        steps=None,
                        train_seconds=None,
                        eval_seconds=None,
                        error=error,
                        device=None,
                    )
                )
