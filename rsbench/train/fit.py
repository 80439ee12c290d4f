"""The plain training loop: ``fit(method, data, steps)`` in one process, no Ray (docs/design.md §1).

It samples batches with the method's :class:`~rsbench.methods.base.DataSpec`, calls ``update``, stops at
the first non-finite loss, logs averaged losses every ``log_every`` steps and checkpoints every
``checkpoint_every`` steps. Resuming from a checkpoint restores the method, its generator and the data
sampler's generator, so ``fit(10) + resume to 20`` gives the same weights as ``fit(20)``.
Evaluation, logging to files and plotting are the caller's business.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rsbench.methods.base import Method
from rsbench.train.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    import pandas as pd

    from rsbench.data.offline import OfflineData


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; names the method, the step and the loss."""

    def __init__(self, method: str, step: int, loss: str, value: float):
        self.method, self.step, self.loss, self.value = method, step, loss, value
        super().__init__(f"{method}: training diverged at step {step}: loss {loss!r} is {value}")


@dataclass
class FitResult:
    """What :func:`fit` did: ``curves`` has one row per log point (``step``, ``wall_time`` and every
    loss averaged over the steps since the previous row)."""

    steps: int
    curves: list[dict[str, float]] = field(default_factory=list)
    wall_time: float = 0.0
    checkpoint: Path | None = None

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.curves)


def fit(
    method: Method,
    data: OfflineData,
    steps: int,
    *,
    batch_size: int = 64,
    seed: int = 0,
    log_every: int = 100,
    checkpoint_every: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
    on_checkpoint: Callable[[int, Method, dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> FitResult:
    """Train ``method`` on ``data`` until it has taken ``steps`` gradient steps in total.

    Args:
        batch_size: sequences or transitions per update.
        seed: seeds the data sampler's ``numpy.random.Generator``.
        log_every: average the losses over this many steps per curve row.
        checkpoint_every: save every this many steps (and at the end) into ``checkpoint_dir``; 0 = never.
        resume_from: a checkpoint directory to continue from (the method's weights are replaced by it).
        on_log: called with every curve row (e.g. to report to Ray Tune).
        on_checkpoint: called as ``(step, method, trainer_state)`` instead of writing to ``checkpoint_dir``
            when given (Ray Tune writes its own checkpoint directories).
        progress: show a progress bar.

    Raises:
        TrainingDiverged: a loss was NaN or infinite.
    """
    if steps < 0 or batch_size < 1 or log_every < 1 or checkpoint_every < 0:
        raise ValueError("steps >= 0, batch_size >= 1, log_every >= 1 and checkpoint_every >= 0 are required")
    if checkpoint_every and checkpoint_dir is None and on_checkpoint is None:
        raise ValueError("checkpoint_every needs checkpoint_dir or on_checkpoint")
    rng = np.random.default_rng(seed)
    result = FitResult(steps=0)
    elapsed = 0.0
    if resume_from is not None:
        elapsed = restore(method, rng, result, resume_from)
    elif method.steps == 0:
        method.prepare(data)
    sampler = method.data_spec().sampler(data, batch_size, rng)

    def trainer_state() -> dict[str, Any]:
        return {"sampler_rng": rng.bit_generator.state, "curves": result.curves, "wall_time": elapsed}

    def checkpoint() -> None:
        if on_checkpoint is not None:
            on_checkpoint(method.steps, method, trainer_state())
        else:
            result.checkpoint = save_checkpoint(checkpoint_dir, method, trainer=trainer_state())  # type: ignore[arg-type]

    log = LossLog(method.name)
    start = time.perf_counter() - elapsed
    bar = _progress(method.name, steps, method.steps) if progress else None
    try:
        while method.steps < steps:
            losses = method.update(method.to_batch(sampler.sample()))
            method.steps += 1
            log.add(method.steps, losses)
            elapsed = time.perf_counter() - start
            if method.steps % log_every == 0 or method.steps == steps:
                row = log.row(method.steps, elapsed)
                result.curves.append(row)
                if on_log is not None:
                    on_log(row)
            if checkpoint_every and (method.steps % checkpoint_every == 0 or method.steps == steps):
                checkpoint()
            if bar is not None:
                bar[0].update(bar[1], completed=method.steps)
    finally:
        if bar is not None:
            bar[0].stop()
    result.steps = method.steps
    result.wall_time = elapsed
    return result


class LossLog:
    """Losses summed since the last curve row; a non-finite loss raises :class:`TrainingDiverged`."""

    def __init__(self, method: str):
        self.method = method
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, step: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if not math.isfinite(value):
                raise TrainingDiverged(self.method, step, name, value)
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1

    def row(self, step: int, wall_time: float) -> dict[str, float]:
        """The curve row at ``step`` (losses averaged since the previous row), and a fresh start."""
        row = {
            "step": float(step),
            "wall_time": wall_time,
            **{k: v / self.count for k, v in self.sums.items()},
        }
        self.sums, self.count = {}, 0
        return row


def restore(method: Method, rng: np.random.Generator, result: FitResult, checkpoint: str | Path) -> float:
    """Load ``checkpoint`` into ``method`` (weights, optimisers, generator, steps), the data sampler's
    ``rng`` and ``result.curves``; returns the wall time trained so far."""
    saved, trainer = load_checkpoint(checkpoint, device=method.device)
    if saved.name != method.name:
        raise ValueError(f"checkpoint {checkpoint} holds {saved.name!r}, not {method.name!r}")
    method.load_state_dict(saved.state_dict())
    rng.bit_generator.state = trainer["sampler_rng"]
    result.curves = list(trainer.get("curves", []))
    return float(trainer.get("wall_time", 0.0))


def _progress(name: str, total: int, done: int) -> tuple[Any, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(f"[bold]{name}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    task = bar.add_task(name, total=total, completed=done)
    bar.start()
    return bar, task
