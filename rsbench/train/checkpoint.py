"""Method checkpoints: one directory per checkpoint, written under a temporary name and renamed into place.

A checkpoint directory holds ``method.json`` (method name, config, space, step: enough to rebuild the
method without the dataset), ``state.pt`` (:meth:`Method.state_dict`) and ``trainer.json`` (the data
sampler's generator state and the loss curves so far, so a resumed run repeats an uninterrupted one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

from rsbench.errors import UserError
from rsbench.methods.base import Method, Space

_STEP_DIR = re.compile(r"^step-(\d+)$")


def save_checkpoint(
    directory: str | Path, method: Method, *, trainer: dict[str, Any] | None = None, keep: int = 1
) -> Path:
    """Write ``directory/step-<steps>/`` atomically and keep only the newest ``keep`` checkpoints."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{method.steps:09d}"
    tmp = directory / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        write_checkpoint_files(tmp, method, trainer=trainer)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    for old in sorted(_step_dirs(directory))[:-keep] if keep > 0 else []:
        shutil.rmtree(old[1])
    return final


def write_checkpoint_files(directory: Path, method: Method, *, trainer: dict[str, Any] | None = None) -> None:
    """The checkpoint's files into an existing directory (used directly for Ray Tune checkpoints)."""
    meta = {
        "format": 1,
        "method": method.name,
        "config": method.config.to_dict(),
        "space": method.space.to_dict(),
        "steps": method.steps,
    }
    torch.save(method.state_dict(), directory / "state.pt")
    (directory / "method.json").write_text(json.dumps(meta, indent=2))
    (directory / "trainer.json").write_text(json.dumps(trainer or {}))


def _step_dirs(directory: Path) -> list[tuple[int, Path]]:
    out = []
    for p in directory.iterdir() if directory.is_dir() else []:
        m = _STEP_DIR.match(p.name)
        if m and (p / "state.pt").is_file():
            out.append((int(m.group(1)), p))
    return out


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete ``step-*`` checkpoint under ``directory`` (None if there is none)."""
    dirs = _step_dirs(Path(directory))
    return max(dirs)[1] if dirs else None


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[Method, dict[str, Any]]:
    """Rebuild the method saved in checkpoint directory ``path`` on ``device``; returns it and the
    trainer state. A missing or foreign directory is a one-line ``UserError``."""
    from rsbench.methods.registry import available, create, get

    path = Path(path)
    meta_file = path / "method.json"
    if not meta_file.is_file() or not (path / "state.pt").is_file():
        raise UserError("not an rsbench checkpoint (expected method.json and state.pt)", source=path)
    meta = json.loads(meta_file.read_text())
    config = meta["config"]
    if meta["method"] in available():
        config = {**get(meta["method"]).Config.checkpoint_defaults, **config}
    method = create(meta["method"], Space.from_dict(meta["space"]), config, device=device, source=meta_file)
    method.load_state_dict(torch.load(path / "state.pt", map_location=method.device, weights_only=True))
    trainer_file = path / "trainer.json"
    trainer = json.loads(trainer_file.read_text()) if trainer_file.is_file() else {}
    return method, trainer
