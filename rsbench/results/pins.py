"""Pinned baselines (docs/design.md §7): what ``report`` and ``regress`` need of finished runs, small enough for git,
built in chunks.

::

    baselines/<name>/
      baseline.json        format, the resolved suite, regress's metrics and margins, and one entry per chunk
                           (run id, source, time pinned, its trials, its provenance manifest)
      suite.yaml           the resolved suite every chunk ran (the same for all)
      per_seed.csv         one row per (trial, risk setting): what ``regress`` tests, diff-friendly
      episodes.parquet     one row per evaluation episode of every pinned trial (what ``report`` ranks)
      trials.parquet       the trials' records: steps, wall times, decision latency (the cost columns)
      calibration.parquet  the critics' predicted vs realised quantiles, where a method has one

A chunk is a run of the same suite under the same protocol (``rsbench run SUITE --only ...``): pinning it adds
its finished trials and replaces the ones already pinned under the same trial id (a re-run). Anything else is
refused in one line naming the first key that differs. A pin is written whole or not at all: it is staged in a
hidden sibling directory and swapped in, under a lock that keeps two pinners from losing each other's chunks.

:func:`load_pin` reads a pin as a :class:`~rsbench.results.store.Run`, so that ``report`` ranks a new run
among the pinned methods. Pins of format 1 (``baseline.json`` and ``per_seed.csv`` only, before per-episode
records were kept) still serve ``regress``; ``report`` and new chunks ask for a re-pin.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rsbench.errors import UserError
from rsbench.results.fs import locate
from rsbench.results.protocol import difference, protocol_of, suite_difference
from rsbench.results.provenance import now
from rsbench.results.store import Run, _parquet_bytes, _read_parquet, _sorted, stored_suite

if TYPE_CHECKING:
    import pandas as pd

FORMAT = 2
META = "baseline.json"
FRAMES: dict[str, str | list[str]] = {
    "episodes": ["trial", "risk", "episode"],
    "trials": "trial",
    "calibration": ["trial", "risk", "tau"],
}


@dataclass
class Pin:
    """A pinned baseline in memory: ``baseline.json``'s contents and the pinned trials' frames."""

    meta: dict[str, Any]
    episodes: pd.DataFrame
    trials: pd.DataFrame
    calibration: pd.DataFrame


def is_pin(where: str | Path) -> bool:
    return locate(where).is_dir() and (locate(where) / META).exists()


def read_meta(where: Path) -> dict[str, Any]:
    """``baseline.json`` as a dict; one line naming it if it is unreadable."""
    path = where / META
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"unreadable ({str(exc).splitlines()[0]})", source=path) from None
    if not isinstance(meta, dict):
        raise UserError("expected a JSON object", source=path)
    stored_suite(meta.get("suite"))  # a pin made before the rename of a task's `risk` to `risk_spec`
    return meta


def read_pin(where: Path) -> Pin:
    """The pin at ``where`` with its frames; format 1 pins (no per-episode records) are one line asking for a
    re-pin."""
    meta = read_meta(where)
    if meta.get("format", 1) < FORMAT:
        raise UserError(
            "pinned before per-episode records were kept (format 1: per-seed table only, enough for `regress`); "
            f"re-pin it from its run: rsbench baseline pin RUN --to {where}",
            source=where / META,
            key="format",
        )
    frames = {}
    for name, key in FRAMES.items():
        part = locate(where / f"{name}.parquet")
        frames[name] = _sorted(_read_parquet(part), key) if part.exists() else _empty()
    return Pin(meta, frames["episodes"], frames["trials"], frames["calibration"])


def load_pin(where: str | Path) -> Run:
    """A format-2 pin as a :class:`Run` named after its directory, for ``report``: its manifest carries the
    protocol the chunks share, the datasets they recorded and each chunk's own manifest (``chunks``)."""
    path = Path(where)
    pin = read_pin(path)
    chunks = pin.meta.get("chunks") or []
    first = chunks[0]["manifest"] if chunks else {}
    datasets: dict[str, Any] = {}
    for chunk in chunks:
        datasets.update(chunk["manifest"].get("datasets") or {})
    manifest = {
        "run_id": path.name,
        "suite": pin.meta["suite"].get("name"),
        "suite_hash": pin.meta.get("suite_hash"),
        "eval_protocol": first.get("eval_protocol", 1),
        "risk_spec_version": first.get("risk_spec_version"),
        "datasets": datasets,
        "pinned": pin.meta.get("pinned"),
        "chunks": [
            {**c["manifest"], "pinned": c.get("pinned"), "pinned_trials": c["trials"]} for c in chunks
        ],
    }
    return Run(
        path.name, str(path), pin.meta["suite"], manifest, pin.trials, pin.episodes, _empty(), pin.calibration
    )


def add_chunk(existing: Pin | None, run: Run, source: Path) -> Pin:
    """``existing`` (None: a new pin) with ``run``'s finished, evaluated trials added; a trial already pinned
    is replaced by the run's. ``run`` must have the pin's suite and protocol (one line naming the first key
    that differs otherwise). ``baseline.json``'s ``metrics`` and ``margins`` are the caller's (regress's)."""
    import pandas as pd

    finished = _finished(run)
    if not finished:
        raise UserError("the run has no finished, evaluated trials to pin", source=run.uri)
    chunk = {
        "run_id": run.run_id,
        "source": run.uri,
        "pinned": now(),
        "trials": finished,
        "manifest": run.manifest,
    }
    if existing is None:
        meta: dict[str, Any] = {"format": FORMAT, "suite": run.suite, "chunks": []}
        old = {name: _empty() for name in FRAMES}
    else:
        meta = dict(existing.meta)
        _check_chunk(meta, run, source)
        old = {name: getattr(existing, name) for name in FRAMES}
    kept = []
    for c in meta["chunks"]:  # a re-run trial leaves the chunk it came from; an emptied chunk goes
        trials = [t for t in c["trials"] if t not in finished]
        if trials:
            kept.append({**c, "trials": trials})
    chunk["replaced"] = sorted(t for c in meta["chunks"] for t in c["trials"] if t in finished)
    meta.update(
        pinned=chunk["pinned"],
        suite_hash=run.manifest.get("suite_hash"),
        chunks=[*kept, chunk],
        # The newest chunk's provenance under format 1's keys, for readers of older pins.
        run_id=run.run_id,
        source=run.uri,
        manifest=run.manifest,
    )
    frames = {}
    for name, key in FRAMES.items():
        mine = getattr(run, name)
        mine = mine[mine["trial"].isin(finished)] if not mine.empty else mine
        before = old[name]
        before = before[~before["trial"].isin(finished)] if not before.empty else before
        parts = [f for f in (before, mine) if not f.empty]
        frames[name] = _sorted(pd.concat(parts, ignore_index=True), key) if parts else _empty()
    return Pin(meta, frames["episodes"], frames["trials"], frames["calibration"])


def _finished(run: Run) -> list[str]:
    """The run's trials with a finished record and evaluated episodes, sorted."""
    if run.trials.empty or run.episodes.empty:
        return []
    done = set(run.trials.loc[run.trials["status"] == "finished", "trial"])
    return sorted(done & set(run.episodes["trial"]))


def _check_chunk(meta: dict[str, Any], run: Run, source: Path) -> None:
    """A chunk joins a pin only with the same suite and protocol as the chunks already pinned."""
    chunks = meta.get("chunks") or []
    pinned_manifest = chunks[0]["manifest"] if chunks else {}
    found = suite_difference(meta["suite"], pinned_manifest, run.suite, run.manifest)
    if found is not None:
        raise UserError(
            f"run {run.run_id} is not a chunk of this pin: {found.describe('the pin', run.run_id)} "
            "(a chunk runs the pinned suite under the same protocol; pin it elsewhere)",
            source=source,
            key=found.key,
        )


def write_pin(pin: Pin, to: Path, per_seed: pd.DataFrame) -> Path:
    """Write ``pin`` (with its per-seed table) to ``to`` whole: staged beside it, then swapped in; files of
    ``to`` that are not the pin's (a README) are kept. Returns the path of ``baseline.json``."""
    to.parent.mkdir(parents=True, exist_ok=True)
    staged = to.parent / f".{to.name}.staged-{uuid.uuid4().hex[:12]}"
    staged.mkdir()
    try:
        if to.is_dir():
            for entry in to.iterdir():
                if entry.name not in _files() and not entry.name.startswith("."):
                    (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, staged / entry.name)
        (staged / "suite.yaml").write_text(yaml.safe_dump(pin.meta["suite"], sort_keys=False))
        (staged / "per_seed.csv").write_text(per_seed.to_csv(index=False, float_format="%.10g"))
        for name in FRAMES:
            frame = getattr(pin, name)
            if not frame.empty:
                (staged / f"{name}.parquet").write_bytes(_parquet_bytes(frame))
        (staged / META).write_text(json.dumps(pin.meta, indent=2, default=str) + "\n")
        _swap(staged, to)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return to / META


def _files() -> set[str]:
    return {META, "suite.yaml", "per_seed.csv", *(f"{name}.parquet" for name in FRAMES)}


def _swap(staged: Path, to: Path) -> None:
    """Move ``staged`` into ``to``'s place (two renames on one filesystem; the old pin is removed last)."""
    if not to.exists():
        staged.rename(to)
        return
    old = to.parent / f".{to.name}.old-{uuid.uuid4().hex[:12]}"
    to.rename(old)
    staged.rename(to)
    shutil.rmtree(old)


@contextlib.contextmanager
def locked(to: Path) -> Iterator[None]:
    """Hold ``.<name>.lock`` beside the pin while reading, merging and writing it (created exclusively)."""
    to.parent.mkdir(parents=True, exist_ok=True)
    lock = to.parent / f".{to.name}.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise UserError(
            f"another `rsbench baseline pin` is writing this pin (remove {lock} if none is)", source=to
        ) from None
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame()


def check_against(suite: dict[str, Any], where: Path, *, source: str | Path) -> dict[str, Any]:
    """Before any training: does a run of ``suite`` (a resolved suite as data) compare with the pin at
    ``where``? Its protocol must be the pin's and each of its tasks pinned with the same definition; one line
    naming the first key that differs otherwise (``source`` names the suite file). Returns the pinned
    ``protocol`` (:func:`~rsbench.results.protocol.protocol_of`), the pinned method labels (``methods``) and
    a one-line ``summary`` of both, for the caller to show."""
    if not is_pin(where):
        raise UserError(
            "not a pinned baseline (no baseline.json; pin one with `rsbench baseline pin RUN --to DIR`)",
            source=where,
            key="--against",
        )
    meta = read_meta(where)
    chunks = meta.get("chunks") or []
    pinned = chunks[0]["manifest"] if chunks else meta.get("manifest") or {}
    if not isinstance(meta.get("suite"), dict):
        raise UserError("expected the pinned suite", source=where / META, key="suite")
    found = difference(suite, None, meta["suite"], pinned, tasks="left")
    if found is not None:
        raise UserError(
            f"does not match the protocol of {where}: {found.describe(str(source), str(where))} "
            "(its numbers would not be comparable with the pinned ones)",
            source=source,
            key=found.key,
        )
    protocol = protocol_of(meta["suite"], pinned)
    methods = sorted(meta["suite"].get("methods") or {})
    keys = ", ".join(f"{k} {v}" for k, v in protocol.items())
    summary = f"protocol matches {where} ({keys}); pinned method labels: {', '.join(methods)}"
    return {"protocol": protocol, "methods": methods, "summary": summary}


def describe(where: Path) -> str:
    """One line on the pin's newest chunk and what the pin holds, e.g. ``chunk 2 (run again): 1 trial,
    replacing 1 pinned trial; the pin holds 4 trials of 2 method labels on 1 task, from 2 chunks``."""
    pin = read_pin(where)
    chunks = pin.meta["chunks"]
    new = chunks[-1]
    replaced = new.get("replaced") or []
    replacing = f", replacing {_count(len(replaced), 'pinned trial')}" if replaced else ""
    return (
        f"chunk {len(chunks)} (run {new['run_id']}): {_count(len(new['trials']), 'trial')}{replacing}; the pin "
        f"holds {_count(len(pin.trials), 'trial')} of {_count(pin.trials['method'].nunique(), 'method label')} "
        f"on {_count(pin.trials['task'].nunique(), 'task')}, from {_count(len(chunks), 'chunk')}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class PinStatus:
    """What a pin holds of its suite: per (task, method label) the trials pinned of the trials the suite runs
    (one per seed and training sweep point), and the chunks the pin was built from."""

    suite: str
    cells: list[dict[str, Any]]  # {"task", "method", "pinned": [seeds], "seeds": [seeds], "missing": [ids]}
    chunks: list[dict[str, Any]]  # {"run", "pinned", "trials", "commit"} in pinning order

    @property
    def missing(self) -> list[str]:
        """The suite's trial ids with no pinned record, in the suite's order."""
        return [t for cell in self.cells for t in cell["missing"]]

    def only(self) -> list[str]:
        """``rsbench run --only`` names covering :attr:`missing`: ``LABEL-TASK-*`` where nothing of a (label,
        task) is pinned, else the missing trial ids themselves."""
        names: list[str] = []
        for cell in self.cells:
            whole = cell["missing"] and not cell["pinned"]
            names += [f"{cell['method']}-{cell['task']}-*"] if whole else cell["missing"]
        return names


def status(where: Path) -> PinStatus:
    """The pin at ``where`` against its own suite (``suite.yaml``): which trials are pinned, which are not."""
    from rsbench.suite import load_suite

    pin = read_pin(where)
    suite = load_suite(where / "suite.yaml")
    pinned = set(pin.trials["trial"]) if not pin.trials.empty else set()
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for trial in suite.trials():
        cell = cells.setdefault(
            (trial.task, trial.method_label),
            {"task": trial.task, "method": trial.method_label, "pinned": [], "seeds": [], "missing": []},
        )
        cell["seeds"].append(trial.seed)
        if trial.id in pinned:
            cell["pinned"].append(trial.seed)
        else:
            cell["missing"].append(trial.id)
    chunks = [
        {
            "run": c["run_id"],
            "pinned": c.get("pinned"),
            "trials": len(c["trials"]),
            "commit": ((c.get("manifest") or {}).get("git") or {}).get("commit"),
        }
        for c in pin.meta.get("chunks") or []
    ]
    return PinStatus(suite.name, list(cells.values()), chunks)
