"""Experiment trackers for ``rsbench run --tracker NAME``: Ray Tune's logger callbacks, writing inside the run.

Every metric a trial reports to Tune (training losses at each logged step, its final status) also goes to:

- ``tensorboard``: :class:`ray.tune.logger.TBXLoggerCallback`, event files in each trial's Tune directory
  (``<run>/tune/attempt-N/<trial>/events.out.tfevents.*``); ``tensorboard --logdir <run>/tune``.
- ``mlflow``: :class:`ray.air.integrations.mlflow.MLflowLoggerCallback`, one mlflow run per trial in an
  experiment named after the run, in the file store ``file:<run>/mlruns`` (``$MLFLOW_TRACKING_URI``, e.g. a
  tracking server, takes precedence); ``MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri
  <run>/mlruns``.
- ``wandb``: :class:`ray.air.integrations.wandb.WandbLoggerCallback`, offline (``$WANDB_MODE`` takes
  precedence) with its files in ``<run>/wandb``; ``wandb sync <run>/wandb/offline-run-*`` uploads them later.

The packages are optional extras (``pip install 'rsbench[tensorboard]'``, ``[mlflow]``, ``[wandb]``): a missing
one is a one-line usage error before anything runs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rsbench.errors import UserError


@dataclass(frozen=True)
class Tracker:
    """One supported tracker: the module it needs and the extra that installs it."""

    name: str
    module: str
    extra: str


TRACKERS: dict[str, Tracker] = {
    t.name: t
    for t in (
        Tracker("tensorboard", "tensorboardX", "tensorboard"),
        Tracker("mlflow", "mlflow", "mlflow"),
        Tracker("wandb", "wandb", "wandb"),
    )
}


def check_trackers(names: Sequence[str]) -> list[str]:
    """``names`` without repeats, each a known tracker whose package is installed (else a UserError)."""
    chosen: list[str] = []
    for name in names:
        tracker = TRACKERS.get(name)
        if tracker is None:
            raise UserError(
                f"unknown tracker {name!r}; expected one of {', '.join(TRACKERS)}", key="--tracker"
            )
        if importlib.util.find_spec(tracker.module) is None:
            raise UserError(
                f"{name} needs the {tracker.module} package: pip install 'rsbench[{tracker.extra}]'",
                key="--tracker",
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def tracker_callbacks(names: Sequence[str], plan: Any) -> list[Any]:
    """The Tune callbacks of the checked tracker ``names`` for the run of ``plan`` (a ``RunPlan``)."""
    return [_FACTORIES[name](plan) for name in names]


def _local_run_dir(plan: Any, tracker: str) -> str:
    root = plan.store.root
    if not root.is_local:
        raise UserError(
            f"{tracker} writes inside the run directory, which must be local (got {root.uri}); "
            f"point {tracker} elsewhere with its own environment variable",
            key="--tracker",
        )
    return str(root.local_path())


def _tensorboard(plan: Any) -> Any:
    from ray.tune.logger import TBXLoggerCallback

    return TBXLoggerCallback()


def _mlflow(plan: Any) -> Any:
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        uri = f"file:{_local_run_dir(plan, 'mlflow')}/mlruns"
        # MLflow 3 refuses file stores unless asked: a store inside the run travels with its results, which
        # is what a benchmark run wants (``mlflow migrate-filestore`` turns it into a database later).
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MLflowLoggerCallback(
        tracking_uri=uri,
        experiment_name=plan.store.run_id,
        tags={"suite": plan.suite.name, "suite_hash": plan.suite.digest()},
    )


def _wandb(plan: Any) -> Any:
    from ray.air.integrations.wandb import WandbLoggerCallback

    # Ray reads the mode from the environment to decide whether an API key is needed; the logging actor
    # gets it as an argument. Offline by default: nothing leaves the machine unless the user asks.
    mode = os.environ.setdefault("WANDB_MODE", "offline")
    wandb_dir = os.path.join(_local_run_dir(plan, "wandb"), "wandb")
    os.makedirs(wandb_dir, exist_ok=True)
    return WandbLoggerCallback(
        project=os.environ.get("WANDB_PROJECT") or plan.suite.name,
        group=plan.store.run_id,
        mode=mode,
        dir=wandb_dir,
    )


_FACTORIES: dict[str, Callable[[Any], Any]] = {
    "tensorboard": _tensorboard,
    "mlflow": _mlflow,
    "wandb": _wandb,
}
