"""One trial, start to finish, without Ray: build or find the data, train with checkpoints, evaluate every
risk setting, write the trial's parts into the run's results store.

The Ray Tune layer (:mod:`rsbench.train.tune`) calls :func:`run_trial` with its own ``report`` (which turns a
checkpoint directory into ``tune.report(..., checkpoint=...)``) and the checkpoint to resume from; tests call it
directly. A trial whose training diverges is recorded as failed with its error and does not raise, so the run
goes on and the failure is not retried (it would diverge again).
"""

from __future__ import annotations

import contextlib
import json
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rsbench.results.fs import Location
from rsbench.results.store import RunStore

Report = Callable[[dict[str, Any], "Path | None"], None]

# Keys of a trial spec that identify it in every row it writes.
IDENTITY = ("method", "algo", "task", "env", "dataset", "seed")


def trial_row(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "trial": spec["id"],
        **{k: spec[k] for k in IDENTITY},
        "sweep": json.dumps(spec["sweep"], sort_keys=True),
    }


def find_checkpoint(store: RunStore, trial: str) -> Location | None:
    """The trial's checkpoint with the most steps across every Tune attempt of the run (None if none):
    ``attempt-N/<trial>/checkpoint_*`` when it ran alone, ``attempt-N/<pack>/checkpoint_*/<trial>`` when
    it trained in a pack."""
    best: tuple[int, Location] | None = None
    for attempt in store.tune_dir().children():
        for unit in attempt.children():
            for ckpt in unit.children():
                if not ckpt.name.startswith("checkpoint_"):
                    continue
                where = ckpt if unit.name == trial else ckpt / trial
                meta = where / "method.json"
                if meta.exists() and (where / "state.pt").exists():
                    steps = int(json.loads(meta.read_text())["steps"])
                    if best is None or steps > best[0]:
                        best = (steps, where)
    return best[1] if best else None


@contextlib.contextmanager
def local_copy(location: Location) -> Iterator[Path]:
    """A local directory with the contents of ``location`` (itself when it is local)."""
    if location.is_local:
        yield location.local_path()
        return
    import pyarrow.fs as pafs

    with tempfile.TemporaryDirectory(prefix="rsbench-ckpt-") as tmp:
        pafs.copy_files(location.path, tmp, source_filesystem=location.fs)
        yield Path(tmp)


def evaluate_risks(method: Any, spec: dict[str, Any], risks: list[str], store: RunStore) -> float:
    """Evaluate ``method`` at each risk setting and each inference-time sweep point of the trial (``evals``,
    no retraining), writing one episodes part per (point, setting); returns seconds.

    Episodes carry the full sweep point (training and inference parts), so each point is its own group in
    the tables; a point's parts are stored under ``RISK@<hash of the point>``.
    """
    import hashlib

    import pandas as pd

    from rsbench.envs.spec import RiskSpec
    from rsbench.eval.rollout import evaluate
    from rsbench.risk import RiskSetting
    from rsbench.suite import inference_overrides

    start = time.perf_counter()
    user_spec = RiskSpec.from_dict(spec["risk_spec"]) if spec.get("risk_spec") else None
    for point, risk in ((p, r) for p in spec.get("evals") or [{}] for r in risks):
        setting = RiskSetting.parse(risk)
        identity = {**trial_row(spec), "sweep": json.dumps({**spec["sweep"], **point}, sort_keys=True)}
        part = str(setting)
        if point:
            part += "@" + hashlib.sha256(json.dumps(point, sort_keys=True).encode()).hexdigest()[:8]
        eps = evaluate(
            method.policy(risk=setting, seed=spec["eval_seed"], **inference_overrides(point)),
            spec["env"],
            spec["episodes"],
            seed=spec["eval_seed"],
            horizon=spec.get("horizon"),
            spec=user_spec,
            risk=setting,
        )
        cols = eps.columns()
        frame = pd.DataFrame(
            {
                **{k: [v] * len(eps.returns) for k, v in identity.items()},
                "risk": str(setting),
                "episode": range(len(eps.returns)),
                "episode_seed": cols["seeds"],
                "return": cols["returns"],
                "length": cols["lengths"],
                "violation_steps": cols["violation_steps"],
                "penalty_events": cols["penalty_events"],
                "terminated": cols["terminated"],
                "truncated": cols["truncated"],
            }
        )
        store.write_episodes(spec["id"], part, frame)
        if hasattr(method, "return_quantiles"):
            quantiles = calibration(method, spec, setting, eps).assign(sweep=identity["sweep"])
            store.write_calibration(spec["id"], part, quantiles)
    return time.perf_counter() - start


def calibration(method: Any, spec: dict[str, Any], setting: Any, eps: Any, starts: int = 16) -> Any:
    """The critic's predicted return quantiles at the evaluation's start states (mean over the first
    ``starts`` episodes' reset states) against the realised quantiles of the episode returns, one row per tau.

    The critic predicts its own training target (discounted, and for RS-Diffuser's ``segment`` target the
    plan's horizon only), so the comparison is exact only for undiscounted returns to go.
    """
    import inspect

    import numpy as np
    import pandas as pd

    from rsbench.envs import make

    env = make(spec["env"])
    obs = np.stack([env.reset(seed=int(s))[0] for s in eps.seeds[:starts]]).astype(np.float32)
    env.close()
    kwargs = {"risk": setting} if "risk" in inspect.signature(method.return_quantiles).parameters else {}
    predicted = np.asarray(method.return_quantiles(obs, **kwargs)).mean(axis=0)
    taus = (2 * np.arange(len(predicted)) + 1) / (2 * len(predicted))
    return pd.DataFrame(
        {
            **{k: [v] * len(taus) for k, v in trial_row(spec).items()},
            "risk": str(setting),
            "tau": taus,
            "predicted": predicted,
            "realised": np.quantile(eps.returns, taus),
        }
    )


def record(spec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A trial's status row: identity, config, risk settings, host, plus ``fields``."""
    return {
        **trial_row(spec),
        "config": json.dumps(spec["config"], sort_keys=True),
        "risk": json.dumps(spec["risk"]),
        "node": socket.gethostname(),
        "node_id": spec.get("node_id"),
        **fields,
    }


def run_trial(spec: dict[str, Any], *, report: Report, resume_from: Path | None = None) -> dict[str, Any]:
    """Train, evaluate and store one trial; returns its status record (also written to the store).

    ``report(metrics, checkpoint_dir)`` is called at every logged step (``checkpoint_dir`` None) and at every
    checkpoint (a directory holding the checkpoint files, valid during the call).
    """
    from rsbench.methods import Space, create
    from rsbench.train.checkpoint import write_checkpoint_files
    from rsbench.train.fit import TrainingDiverged, fit

    store, device, data = _setup(spec)
    method = create(spec["algo"], Space.from_data(data), spec["config"], seed=spec["seed"], device=device)
    last_loss: dict[str, float] = {}

    def on_log(row: dict[str, float]) -> None:
        last_loss.clear()
        last_loss.update(row)
        report({**row, "total_steps": spec["steps"]}, None)

    def on_checkpoint(step: int, m: Any, trainer: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory(prefix="rsbench-ckpt-") as tmp:
            write_checkpoint_files(Path(tmp), m, trainer=trainer)
            report({**last_loss, "step": float(step), "total_steps": spec["steps"]}, Path(tmp))

    try:
        result = fit(
            method,
            data,
            spec["steps"],
            batch_size=spec["batch_size"],
            seed=spec["seed"],
            log_every=spec["log_every"],
            checkpoint_every=spec["checkpoint_every"],
            resume_from=resume_from,
            on_log=on_log,
            on_checkpoint=on_checkpoint,
        )
    except TrainingDiverged as e:
        return _store_outcome(spec, store, method, e, device)
    return _store_outcome(spec, store, method, result, device)


def run_pack(
    specs: list[dict[str, Any]], *, report: Report, resume_from: Mapping[str, Path] | None = None
) -> list[dict[str, Any]]:
    """Train the trials ``specs`` (seeds of one method, task and config) as one stacked model
    (:func:`rsbench.train.pack.fit_pack`), then evaluate and store each as an ordinary trial; returns their
    records. A checkpoint of the pack is a directory holding one ordinary checkpoint per trial id;
    ``resume_from`` maps trial ids to the checkpoints they resume from (see :func:`pack_checkpoints`). A seed
    that diverges is recorded as failed alone while the others go on.
    """
    from rsbench.methods import Space, create
    from rsbench.train.checkpoint import write_checkpoint_files
    from rsbench.train.pack import fit_pack

    first = specs[0]
    store, device, data = _setup(first)
    space = Space.from_data(data)
    methods = [create(s["algo"], space, s["config"], seed=s["seed"], device=device) for s in specs]
    resume = [(resume_from or {}).get(s["id"]) for s in specs]
    last_loss: dict[str, float] = {}

    def on_log(index: int, row: dict[str, float]) -> None:
        if index == 0 or not last_loss:  # the table shows one seed's losses per pack
            last_loss.update(row)
            report({**row, "total_steps": first["steps"]}, None)

    def on_checkpoint(step: int, members: list[tuple[int, Any, dict[str, Any]]]) -> None:
        with tempfile.TemporaryDirectory(prefix="rsbench-ckpt-") as tmp:
            for index, method, trainer in members:
                (Path(tmp) / specs[index]["id"]).mkdir()
                write_checkpoint_files(Path(tmp) / specs[index]["id"], method, trainer=trainer)
            report({**last_loss, "step": float(step), "total_steps": first["steps"]}, Path(tmp))

    outcomes = fit_pack(
        methods,  # type: ignore[arg-type]  # planning packs only packable methods
        data,
        first["steps"],
        seeds=[s["seed"] for s in specs],
        batch_size=first["batch_size"],
        log_every=first["log_every"],
        checkpoint_every=first["checkpoint_every"],
        resume_from=resume,
        on_log=on_log,
        on_checkpoint=on_checkpoint,
    )
    return [
        _store_outcome(s, store, m, outcome, device)
        for s, m, outcome in zip(specs, methods, outcomes, strict=True)
    ]


def pack_checkpoints(pack_checkpoint: Path, trials: list[str]) -> dict[str, Path]:
    """``trial id -> its checkpoint`` inside a pack's checkpoint directory (the trials it holds)."""
    return {t: pack_checkpoint / t for t in trials if (pack_checkpoint / t / "state.pt").is_file()}


def _setup(spec: dict[str, Any]) -> tuple[RunStore, str, Any]:
    """The run's store, the device, and the trial's dataset, with method files loaded and torch's threads
    set to the trial's (or pack's) CPUs."""
    import torch

    from rsbench.data.build import ensure_dataset
    from rsbench.data.offline import load
    from rsbench.methods import load_method_file

    for f in spec.get("method_files", []):
        load_method_file(f)
    torch.set_num_threads(max(1, int(spec["cpu"])))
    device = "cuda" if spec["gpu"] > 0 and torch.cuda.is_available() else "cpu"
    return RunStore(spec["run_uri"]), device, load(ensure_dataset(spec["dataset"]))


def _store_outcome(
    spec: dict[str, Any], store: RunStore, method: Any, outcome: Any, device: str
) -> dict[str, Any]:
    """Write a trained trial's curves, evaluation and record (``outcome`` a ``FitResult``), or the failed
    record of a diverged one (``outcome`` the ``TrainingDiverged``); returns the record."""
    import pandas as pd

    from rsbench.train.fit import TrainingDiverged

    if isinstance(outcome, TrainingDiverged):
        row = record(
            spec,
            status="failed",
            steps=method.steps,
            train_seconds=None,
            eval_seconds=None,
            error=str(outcome),
            device=device,
        )
        store.write_trial(row)
        return row
    curves = pd.DataFrame(
        [
            {**trial_row(spec), "step": int(r["step"]), "wall_time": r["wall_time"], "name": k, "value": v}
            for r in outcome.curves
            for k, v in r.items()
            if k not in ("step", "wall_time")
        ]
    )
    store.write_curves(spec["id"], curves)
    eval_seconds = evaluate_risks(method, spec, spec["risk"], store)
    row = record(
        spec,
        status="finished",
        steps=outcome.steps,
        train_seconds=outcome.wall_time,
        eval_seconds=eval_seconds,
        error=None,
        device=device,
    )
    store.write_trial(row)
    return row
