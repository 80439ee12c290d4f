"""One trial, start to finish, without Ray: build or find the data, train with checkpoints, evaluate every
risk setting, write the trial's parts into the run's results store.

The Ray Tune layer (:mod:`rsbench.train.tune`) calls :func:`run_trial` (or :func:`run_pack` for a
:class:`~rsbench.train.trials.Pack`) with its own ``report`` (which turns a checkpoint directory into
``tune.report(..., checkpoint=...)``), the checkpoint to resume from and the Ray node it runs on; tests call it
directly. A trial whose training diverges is recorded as failed with its error and does not raise, so the run
goes on and the failure is not retried (it would diverge again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsbench.errors import UserError
from rsbench.methods import Space, create, get, load_method_file
from rsbench.results.fs import Location
from rsbench.results.store import RunStore
from rsbench.suite import Trial, inference_overrides
from rsbench.train.checkpoint import write_checkpoint_files
from rsbench.train.fit import TrainingDiverged, fit
from rsbench.train.pack import fit_pack
from rsbench.train.trials import Pack

if TYPE_CHECKING:
    import pandas as pd

Report = Callable[[dict[str, Any], "Path | None"], None]


def trial_row(trial: Trial) -> dict[str, Any]:
    """The columns that identify ``trial`` in every row it writes to the results store.

    The store's column names are not the trial's field names (``method`` is the label, ``algo`` the
    registered name, and a record's ``risk`` the risk settings) because pinned baselines and existing parquet
    files are read by them; this function (and :func:`record` for ``config``/``risk``) is the one place that
    maps fields to columns.
    """
    return {
        "trial": trial.id,
        "method": trial.method_label,
        "algo": trial.method_name,
        "task": trial.task,
        "env": trial.env,
        "dataset": trial.dataset,
        "seed": trial.seed,
        "sweep": json.dumps(trial.sweep, sort_keys=True),
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


def evaluate_risks(
    method: Any,
    trial: Trial,
    risks: Sequence[str],
    store: RunStore,
    latency: list[dict[str, Any]] | None = None,
    on_part: Callable[[], None] | None = None,
) -> float:
    """Evaluate ``method`` at each risk setting and each inference-time sweep point of the trial (``evals``,
    no retraining), writing one episodes part per (point, setting); returns seconds. ``latency`` receives
    one entry per (point, setting): its ``risk``, ``sweep`` (as in the episodes) and the policy's decision
    time (:class:`~rsbench.eval.rollout.ActTimer`), for the trial's record. ``on_part`` is called after each
    part is stored (the run's progress log counts them: a planner's evaluation can take hours).

    A point at which the method ignores the risk setting (``method.ignores_risk``, e.g. RS-Diffuser's unguided
    sampler) is rolled out once and stored under each setting, its latency entry repeated: rolling it out
    again replays the same episodes (tested), at a planner's cost of minutes to hours a seed.

    Episodes carry the full sweep point (training and inference parts), so each point is its own group in
    the tables; a point's parts are stored under ``RISK@<hash of the point>``. The episode set follows the
    run's ``eval_protocol`` (:func:`episode_set_seed`), so re-evaluating or resuming a protocol-1 run stays
    on protocol 1.
    """
    from rsbench.envs.spec import RiskSpec
    from rsbench.eval.rollout import ActTimer, evaluate
    from rsbench.risk import RiskSetting

    start = time.perf_counter()
    user_spec = RiskSpec.from_dict(trial.risk_spec) if trial.risk_spec else None
    train_seed = episode_set_seed(trial, store)
    once: dict[str, tuple[Any, dict[str, Any]]] = {}
    for point, risk in ((p, r) for p in trial.evals or ({},) for r in risks):
        setting = RiskSetting.parse(risk)
        identity = {**trial_row(trial), "sweep": json.dumps({**trial.sweep, **point}, sort_keys=True)}
        part, key = _part_name(str(setting), point), json.dumps(point, sort_keys=True)
        overrides = inference_overrides(point)
        if key in once:
            eps, timing = once[key]
        else:
            timer = ActTimer()
            eps = evaluate(
                timer.wrap(method.policy(risk=setting, seed=trial.eval_seed, **overrides)),
                trial.env,
                trial.episodes,
                seed=trial.eval_seed,
                horizon=trial.horizon,
                spec=user_spec,
                risk=setting,
                train_seed=train_seed,
            )
            timing = timer.to_dict()
            if method.ignores_risk(**overrides):
                once[key] = (eps, timing)
        store.write_episodes(trial.id, part, _episode_frame(identity, str(setting), eps.columns()))
        if latency is not None:
            latency.append({"risk": str(setting), "sweep": identity["sweep"], **timing})
        if hasattr(method, "return_quantiles"):
            quantiles = calibration(method, trial, setting, eps).assign(sweep=identity["sweep"])
            store.write_calibration(trial.id, part, quantiles)
        if on_part is not None:
            on_part()
    return time.perf_counter() - start


def eval_parts(trial: Trial) -> int:
    """The episodes parts :func:`evaluate_risks` writes for ``trial``: one per (sweep point, risk setting)."""
    return len(trial.evals or ({},)) * len(trial.risks)


def _eval_reporter(report: Report, steps: int, parts: int) -> Callable[[], None]:
    """An ``on_part`` that reports ``evaluated`` of ``to_evaluate`` parts (for the progress log)."""
    done = 0

    def on_part() -> None:
        nonlocal done
        done += 1
        report({"step": float(steps), "total_steps": steps, "evaluated": done, "to_evaluate": parts}, None)

    return on_part


def _part_name(risk: str, point: dict[str, Any]) -> str:
    """The episodes part of one (inference sweep point, risk setting): ``RISK`` or ``RISK@<hash of point>``."""
    if not point:
        return risk
    return risk + "@" + hashlib.sha256(json.dumps(point, sort_keys=True).encode()).hexdigest()[:8]


def _episode_frame(identity: dict[str, Any], risk: str, cols: dict[str, Any]) -> pd.DataFrame:
    """One row per episode: the trial's identity columns, the risk setting and the episode's outcome."""
    import pandas as pd

    n = len(cols["returns"])
    return pd.DataFrame(
        {
            **{k: [v] * n for k, v in identity.items()},
            "risk": risk,
            "episode": range(n),
            "episode_seed": cols["seeds"],
            "return": cols["returns"],
            "length": cols["lengths"],
            "violation_steps": cols["violation_steps"],
            "penalty_events": cols["penalty_events"],
            "terminated": cols["terminated"],
            "truncated": cols["truncated"],
        }
    )


def episode_set_seed(trial: Trial, store: RunStore) -> int | None:
    """The ``train_seed`` keying the trial's evaluation episodes: its training seed under protocol 2 (the
    store's manifest, or the current protocol for a store without one), None under protocol 1."""
    from rsbench.results.protocol import eval_protocol

    return trial.seed if eval_protocol(store.read_manifest() if store.exists() else None) >= 2 else None


def calibration(method: Any, trial: Trial, setting: Any, eps: Any, starts: int = 16) -> Any:
    """The critic's predicted return quantiles at the evaluation's start states (mean over the first
    ``starts`` episodes' reset states) against the realised quantiles of the episode returns, one row per tau.

    The critic predicts its own training target (discounted, and for RS-Diffuser's ``segment`` target the
    plan's horizon only), so the comparison is exact only for undiscounted returns to go.
    """
    import inspect

    import numpy as np
    import pandas as pd

    from rsbench.envs import make

    env = make(trial.env)
    obs = np.stack([env.reset(seed=int(s))[0] for s in eps.seeds[:starts]]).astype(np.float32)
    env.close()
    kwargs = {"risk": setting} if "risk" in inspect.signature(method.return_quantiles).parameters else {}
    predicted = np.asarray(method.return_quantiles(obs, **kwargs)).mean(axis=0)
    taus = (2 * np.arange(len(predicted)) + 1) / (2 * len(predicted))
    return pd.DataFrame(
        {
            **{k: [v] * len(taus) for k, v in trial_row(trial).items()},
            "risk": str(setting),
            "tau": taus,
            "predicted": predicted,
            "realised": np.quantile(eps.returns, taus),
        }
    )


def training_risk(trial: Trial) -> str:
    """The risk level ``trial``'s model is trained for (:meth:`rsbench.methods.base.Method.training_risk`):
    ``-`` for a risk-aware method trained for none (its risk is chosen at inference), ``?`` for a method this
    process has not registered. Written into the trial's record, so the report reads it without the methods."""
    try:
        cls = get(trial.method_name)
        risk = cls.training_risk(cls.Config.from_dict(dict(trial.config)))
    except UserError:
        return "?"
    return "-" if risk is None else str(risk)


def record(trial: Trial, *, node_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A trial's status row: identity, config, risk settings, training risk, host and Ray node (None: not run
    by Ray), plus ``fields``."""
    return {
        **trial_row(trial),
        "config": json.dumps(trial.config, sort_keys=True),
        "risk": json.dumps(list(trial.risks)),  # the store's name for the risk settings (see trial_row)
        "train_risk": training_risk(trial),
        "node": socket.gethostname(),
        "node_id": node_id,
        **fields,
    }


def run_trial(
    trial: Trial, *, report: Report, resume_from: Path | None = None, node_id: str | None = None
) -> dict[str, Any]:
    """Train, evaluate and store one trial; returns its status record (also written to the store).

    ``report(metrics, checkpoint_dir)`` is called at every logged step (``checkpoint_dir`` None) and at every
    checkpoint (a directory holding the checkpoint files, valid during the call). ``node_id`` is the Ray node
    the trial runs on, for its record.
    """
    store, device, data = _setup(trial)
    method = create(trial.method_name, Space.from_data(data), trial.config, seed=trial.seed, device=device)
    last_loss: dict[str, float] = {}

    def on_log(row: dict[str, float]) -> None:
        last_loss.clear()
        last_loss.update(row)
        report({**row, "total_steps": trial.steps}, None)

    def on_checkpoint(step: int, m: Any, trainer: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory(prefix="rsbench-ckpt-") as tmp:
            write_checkpoint_files(Path(tmp), m, trainer=trainer)
            report({**last_loss, "step": float(step), "total_steps": trial.steps}, Path(tmp))

    try:
        result = fit(
            method,
            data,
            trial.steps,
            batch_size=trial.batch_size,
            seed=trial.seed,
            log_every=trial.log_every,
            checkpoint_every=trial.checkpoint_every,
            resume_from=resume_from,
            on_log=on_log,
            on_checkpoint=on_checkpoint,
        )
    except TrainingDiverged as e:
        return _store_outcome(trial, store, method, e, device, node_id)
    on_part = _eval_reporter(report, trial.steps, eval_parts(trial))
    return _store_outcome(trial, store, method, result, device, node_id, on_part=on_part)


def run_pack(
    pack: Pack,
    *,
    report: Report,
    resume_from: Mapping[str, Path] | None = None,
    node_id: str | None = None,
) -> list[dict[str, Any]]:
    """Train the pack's trials (seeds of one method, task and config) as one stacked model
    (:func:`rsbench.train.pack.fit_pack`), then evaluate and store each as an ordinary trial; returns their
    records. A checkpoint of the pack is a directory holding one ordinary checkpoint per trial id;
    ``resume_from`` maps trial ids to the checkpoints they resume from (see :func:`pack_checkpoints`). A seed
    that diverges is recorded as failed alone while the others go on.
    """
    trials = pack.trials
    store, device, data = _setup(trials[0])
    space = Space.from_data(data)
    methods = [create(t.method_name, space, t.config, seed=t.seed, device=device) for t in trials]
    resume = [(resume_from or {}).get(t.id) for t in trials]
    last_loss: dict[str, float] = {}

    def on_log(index: int, row: dict[str, float]) -> None:
        if index == 0 or not last_loss:  # the table shows one seed's losses per pack
            last_loss.update(row)
            report({**row, "total_steps": pack.steps}, None)

    def on_checkpoint(step: int, members: list[tuple[int, Any, dict[str, Any]]]) -> None:
        with tempfile.TemporaryDirectory(prefix="rsbench-ckpt-") as tmp:
            for index, method, trainer in members:
                (Path(tmp) / trials[index].id).mkdir()
                write_checkpoint_files(Path(tmp) / trials[index].id, method, trainer=trainer)
            report({**last_loss, "step": float(step), "total_steps": pack.steps}, Path(tmp))

    outcomes = fit_pack(
        methods,  # type: ignore[arg-type]  # planning packs only packable methods
        data,
        pack.steps,
        seeds=[t.seed for t in trials],
        batch_size=trials[0].batch_size,
        log_every=trials[0].log_every,
        checkpoint_every=trials[0].checkpoint_every,
        resume_from=resume,
        on_log=on_log,
        on_checkpoint=on_checkpoint,
    )
    # A diverged seed is not evaluated: its parts are not counted.
    evaluated = [t for t, o in zip(trials, outcomes, strict=True) if not isinstance(o, TrainingDiverged)]
    on_part = _eval_reporter(report, pack.steps, sum(eval_parts(t) for t in evaluated))
    return [
        _store_outcome(t, store, m, outcome, device, node_id, packed=len(trials), on_part=on_part)
        for t, m, outcome in zip(trials, methods, outcomes, strict=True)
    ]


def pack_checkpoints(pack_checkpoint: Path, trials: list[str]) -> dict[str, Path]:
    """``trial id -> its checkpoint`` inside a pack's checkpoint directory (the trials it holds)."""
    return {t: pack_checkpoint / t for t in trials if (pack_checkpoint / t / "state.pt").is_file()}


def _setup(trial: Trial) -> tuple[RunStore, str, Any]:
    """The run's store, the device, and the trial's dataset, with method files loaded and torch's threads
    set to the trial's (or pack's) CPUs."""
    import torch

    from rsbench.data.build import ensure_dataset
    from rsbench.data.offline import load

    for f in trial.method_files:
        load_method_file(f)
    torch.set_num_threads(max(1, int(trial.cpu)))
    device = "cuda" if trial.gpu > 0 and torch.cuda.is_available() else "cpu"
    return RunStore(trial.run_uri), device, load(ensure_dataset(trial.dataset))


def _store_outcome(
    trial: Trial,
    store: RunStore,
    method: Any,
    outcome: Any,
    device: str,
    node_id: str | None,
    *,
    packed: int = 1,
    on_part: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Write a trained trial's curves, evaluation and record (``outcome`` a ``FitResult``), or the failed
    record of a diverged one (``outcome`` the ``TrainingDiverged``); returns the record. ``packed``: the
    seeds trained together with this one (its ``train_seconds`` is the whole pack's), for the cost columns;
    the record's ``decision_latency`` lists the policy's decision time per evaluated (risk, sweep point);
    ``on_part``: see :func:`evaluate_risks`."""
    import pandas as pd

    if isinstance(outcome, TrainingDiverged):
        row = record(
            trial,
            node_id=node_id,
            status="failed",
            steps=method.steps,
            train_seconds=None,
            eval_seconds=None,
            error=str(outcome),
            device=device,
            packed=packed,
        )
        store.write_trial(row)
        return row
    curves = pd.DataFrame(
        [
            {**trial_row(trial), "step": int(r["step"]), "wall_time": r["wall_time"], "name": k, "value": v}
            for r in outcome.curves
            for k, v in r.items()
            if k not in ("step", "wall_time")
        ]
    )
    store.write_curves(trial.id, curves)
    latency: list[dict[str, Any]] = []
    eval_seconds = evaluate_risks(method, trial, trial.risks, store, latency, on_part)
    row = record(
        trial,
        node_id=node_id,
        status="finished",
        steps=outcome.steps,
        train_seconds=outcome.wall_time,
        eval_seconds=eval_seconds,
        error=None,
        device=device,
        packed=packed,
        decision_latency=latency,
    )
    store.write_trial(row)
    return row
