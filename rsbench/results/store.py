"""The results store of one run (docs/design.md §7): one directory, one part file per trial, atomic writes.

::

    <results>/<run-id>/
      suite.yaml                      the suite as run (resolved; its hash is in the manifest)
      manifest.json                   provenance: git commit, versions, host, Ray cluster, start/end, ...
      trials/<trial>.parquet          one row per trial: status (finished | failed), steps, times, error
      episodes/<trial>/<risk>.parquet one row per evaluation episode, one file per (trial, risk setting)
      curves/<trial>.parquet          training curves, long format: step, wall_time, name, value
      calibration/<trial>/<risk>.parquet  critic's predicted vs realised return quantiles (methods with one)
      tune/                           Ray Tune's experiments (checkpoints per trial), one per attempt

Parts are written by the trial that owns them, so concurrent trials never touch the same file, and a trial
that runs twice (a retry) overwrites its own parts instead of adding rows. :func:`load_run` reads everything
into tidy pandas frames.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from rsbench.errors import UserError
from rsbench.results.fs import Location, locate

if TYPE_CHECKING:
    import pandas as pd

    from rsbench.suite import Suite

TRIAL_COLUMNS = ("trial", "method", "algo", "task", "env", "dataset", "seed", "sweep")


def risk_slug(risk: str) -> str:
    """A file-name-safe form of a risk setting: ``cvar:0.1`` -> ``cvar-0.1``; a negative parameter keeps
    its sign as ``m`` (``wang:-0.7`` -> ``wang-m0.7``), so ``power:-2`` and ``power:2`` stay apart."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", risk.replace(":-", ":m"))


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def stored_suite(data: Any) -> Any:
    """A suite as stored by a run or a pin, read in today's key names: suites stored before the rename hold a
    task's penalty spec under ``risk``, now ``risk_spec`` (their digest is unchanged: ``Suite.digest``)."""
    tasks = data.get("tasks") if isinstance(data, dict) else None
    for task in tasks.values() if isinstance(tasks, dict) else ():
        if isinstance(task, dict) and "risk" in task and "risk_spec" not in task:
            task["risk_spec"] = task.pop("risk")
    return data


class RunStore:
    """Reads and writes one run's directory; ``where`` is a local path or a URI (``s3://...``)."""

    def __init__(self, where: str | Location):
        self.root = where if isinstance(where, Location) else locate(where)

    @property
    def run_id(self) -> str:
        return self.root.name

    # -- run-level files ----------------------------------------------------------------------------------
    def write_suite(self, suite: Suite) -> None:
        self.root.mkdir()
        (self.root / "suite.yaml").write_text(yaml.safe_dump(suite.to_dict(), sort_keys=False))

    def read_suite_dict(self) -> dict[str, Any]:
        return stored_suite(yaml.safe_load((self.root / "suite.yaml").read_text()))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))

    def read_manifest(self) -> dict[str, Any]:
        return json.loads((self.root / "manifest.json").read_text())

    def exists(self) -> bool:
        return (self.root / "manifest.json").exists()

    def tune_dir(self) -> Location:
        return self.root / "tune"

    # -- per-trial parts ----------------------------------------------------------------------------------
    def write_trial(self, record: dict[str, Any]) -> None:
        """One trial's status row (``record["trial"]`` names it)."""
        import pandas as pd

        row = {
            k: (json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v) for k, v in record.items()
        }
        (self.root / "trials" / f"{record['trial']}.parquet").write_bytes(_parquet_bytes(pd.DataFrame([row])))

    def write_episodes(self, trial: str, risk: str, frame: pd.DataFrame) -> None:
        """The episodes of one (trial, risk setting); writing the same pair again replaces them."""
        (self.root / "episodes" / trial / f"{risk_slug(risk)}.parquet").write_bytes(_parquet_bytes(frame))

    def write_calibration(self, trial: str, risk: str, frame: pd.DataFrame) -> None:
        """Predicted vs realised return quantiles of one (trial, risk setting), for methods with a critic."""
        (self.root / "calibration" / trial / f"{risk_slug(risk)}.parquet").write_bytes(_parquet_bytes(frame))

    def write_curves(self, trial: str, frame: pd.DataFrame) -> None:
        (self.root / "curves" / f"{trial}.parquet").write_bytes(_parquet_bytes(frame))

    def trial_status(self) -> dict[str, str]:
        """``trial id -> status`` for every trial with a record."""
        out = {}
        for part in (self.root / "trials").children():
            frame = _read_parquet(part)
            out[str(frame["trial"].iloc[0])] = str(frame["status"].iloc[0])
        return out

    def trial_record(self, trial: str) -> dict[str, Any]:
        """The stored status record of ``trial`` as a dict."""
        return _read_parquet(self.root / "trials" / f"{trial}.parquet").iloc[0].to_dict()

    def evaluated_risks(self, trial: str) -> list[str]:
        """Risk settings with stored episodes for ``trial``."""
        return sorted(
            str(_read_parquet(p)["risk"].iloc[0]) for p in (self.root / "episodes" / trial).children()
        )


def _read_parquet(part: Location) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    try:
        return pd.read_parquet(io.BytesIO(part.read_bytes()))
    except (pa.ArrowException, OSError, ValueError) as exc:
        # One line naming the file (exit 2), not a pyarrow traceback.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"unreadable results part, not a valid parquet file ({first})", source=part.uri
        ) from None


def _read_parts(directory: Location) -> pd.DataFrame:
    """Every ``*.parquet`` under ``directory`` (recursively) concatenated; empty frame if none."""
    import pandas as pd

    frames = []
    for entry in directory.children():
        if entry.is_dir():
            frames.append(_read_parts(entry))
        elif entry.name.endswith(".parquet"):
            frames.append(_read_parquet(entry))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass
class Run:
    """One run loaded from the store: tidy frames plus the suite and the provenance manifest.

    ``episodes``: one row per (trial, risk setting, evaluation episode) with the trial's columns
    (``trial, method, algo, task, env, dataset, seed, sweep``), ``risk``, ``episode``, ``episode_seed``,
    ``return``, ``length``, ``violation_steps``, ``penalty_events``, ``terminated``, ``truncated``.
    ``trials``: one row per trial (``status``, ``steps``, ``train_seconds``, ``error``, ...).
    ``curves``: long format, one row per (trial, logged step, loss name).
    ``calibration``: one row per (trial, risk setting, tau): ``predicted`` and ``realised`` return quantiles.
    """

    run_id: str
    uri: str
    suite: dict[str, Any]
    manifest: dict[str, Any]
    trials: pd.DataFrame
    episodes: pd.DataFrame
    curves: pd.DataFrame
    calibration: pd.DataFrame


def _sorted(frame: pd.DataFrame, key: str | list[str]) -> pd.DataFrame:
    return frame if frame.empty else frame.sort_values(key, ignore_index=True, kind="stable")


def load_run(where: str | Location) -> Run:
    """Load a run directory (local path or URI) into a :class:`Run`, or a pinned baseline's directory as the
    :class:`Run` of its pinned trials (:func:`rsbench.results.pins.load_pin`); a clear error if it is neither."""
    store = RunStore(where)
    if not store.exists():
        if (store.root / "baseline.json").exists():
            from rsbench.results.pins import load_pin

            if not store.root.is_local:
                raise UserError(
                    "a pinned baseline is read from a local directory (a git checkout)", source=store.root.uri
                )
            return load_pin(store.root.local_path())
        raise UserError(
            "not an rsbench run (no manifest.json) nor a pinned baseline (no baseline.json)",
            source=store.root.uri,
        )
    trials, episodes, curves, calibration = (
        _sorted(_read_parts(store.root / part), key)
        for part, key in (
            ("trials", "trial"),
            ("episodes", ["trial", "risk", "episode"]),
            ("curves", ["trial", "step"]),
            ("calibration", ["trial", "risk", "tau"]),
        )
    )
    return Run(
        store.run_id,
        store.root.uri,
        store.read_suite_dict(),
        store.read_manifest(),
        trials,
        episodes,
        curves,
        calibration,
    )
