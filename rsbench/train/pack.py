"""The plain training loop for a pack: :func:`fit_pack` trains K seeds of one method as one stacked model
(:class:`rsbench.methods.packing.Pack`), no Ray.

Each seed keeps what :func:`rsbench.train.fit` gives a lone seed: its own data sampler (seeded by its seed),
its own noise generator, curves, checkpoints and resume, so a seed's weights and curves are those of its
separate training up to float rounding. A seed whose loss turns non-finite is masked out of the pack (its
state stays that of the step it diverged at, its result is the :class:`TrainingDiverged`) while the others
go on. Seeds resumed from checkpoints at different steps first catch up alone, then train packed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rsbench.methods.base import Method
from rsbench.methods.packing import Pack, PackableMethod
from rsbench.train.fit import FitResult, LossLog, TrainingDiverged, restore

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData

OnLog = Callable[[int, dict[str, float]], None]
OnCheckpoint = Callable[[int, list[tuple[int, Method, dict[str, Any]]]], None]


@dataclass
class _Seed:
    """One member's training state: its method, data stream, curves and loss log."""

    index: int
    method: PackableMethod
    rng: np.random.Generator
    result: FitResult
    log: LossLog
    elapsed: float = 0.0  # trained before this call (from its checkpoint)
    sampler: Any = None
    diverged: TrainingDiverged | None = field(default=None)

    def trainer_state(self, wall_time: float) -> dict[str, Any]:
        return {
            "sampler_rng": self.rng.bit_generator.state,
            "curves": self.result.curves,
            "wall_time": wall_time,
        }


def fit_pack(
    methods: Sequence[PackableMethod],
    data: OfflineData,
    steps: int,
    *,
    seeds: Sequence[int],
    batch_size: int = 64,
    log_every: int = 100,
    checkpoint_every: int = 0,
    resume_from: Sequence[str | Path | None] | None = None,
    on_log: OnLog | None = None,
    on_checkpoint: OnCheckpoint | None = None,
) -> list[FitResult | TrainingDiverged]:
    """Train every method of ``methods`` (one per seed, built independently) until ``steps`` in total.

    Args:
        seeds: seeds the data samplers, one per method (as ``fit``'s ``seed``).
        resume_from: per method, a checkpoint directory to continue from, or None.
        on_log: called as ``(index, curve row)`` for every seed's curve row.
        on_checkpoint: called every ``checkpoint_every`` steps (and at the end) as ``(step, [(index, method,
            trainer_state)])`` for the seeds still training; the methods hold their seed's weights then.

    Returns, per method, its :class:`FitResult` or the :class:`TrainingDiverged` that masked it out.
    """
    if len(seeds) != len(methods) or (resume_from is not None and len(resume_from) != len(methods)):
        raise ValueError("fit_pack needs one seed (and one resume_from entry) per method")
    if checkpoint_every and on_checkpoint is None:
        raise ValueError("checkpoint_every needs on_checkpoint")
    members = [
        _start(i, m, data, s, (resume_from or [None] * len(methods))[i])
        for i, (m, s) in enumerate(zip(methods, seeds, strict=True))
    ]
    for s in members:
        s.sampler = s.method.data_spec().sampler(data, batch_size, s.rng)
    start = time.perf_counter()

    def wall(s: _Seed) -> float:
        return s.elapsed + time.perf_counter() - start

    def checkpoint(step: int, live: list[_Seed]) -> None:
        if on_checkpoint is not None:
            on_checkpoint(step, [(s.index, s.method, s.trainer_state(wall(s))) for s in live])

    def after_step(s: _Seed, losses: dict[str, float]) -> None:
        step = s.method.steps
        try:
            s.log.add(step, losses)
        except TrainingDiverged as e:
            s.diverged = e
            return
        if step % log_every == 0 or step == steps:
            row = s.log.row(step, wall(s))
            s.result.curves.append(row)
            if on_log is not None:
                on_log(s.index, row)

    _catch_up(members, after_step)
    live = [s for s in members if s.diverged is None and s.method.steps < steps]
    _train_packed(live, steps, after_step, checkpoint_every, checkpoint)
    for s in members:
        s.result.steps, s.result.wall_time = s.method.steps, wall(s)
    return [s.diverged or s.result for s in members]


def _train_packed(
    live: list[_Seed],
    steps: int,
    after_step: Callable[[_Seed, dict[str, float]], None],
    checkpoint_every: int,
    checkpoint: Callable[[int, list[_Seed]], None],
) -> None:
    """Train the ``live`` seeds (all at one step) as one stacked model until ``steps``, masking out a seed
    whose loss diverges and unstacking the pack for every checkpoint and at the end."""
    pack = Pack([s.method for s in live]) if live else None
    while pack is not None and pack.steps < steps:
        batch = _stack_batches([s.sampler.sample() for s in live], pack.template.device)
        losses = pack.update(batch)
        values = torch.stack(list(losses.values())).cpu().tolist() if losses else []
        for k, s in enumerate(live):
            s.method.steps += 1
            after_step(s, {name: values[j][k] for j, name in enumerate(losses)})
        if any(s.diverged for s in live):
            pack.unstack()  # the diverged seeds keep the state they diverged with
            live = [s for s in live if s.diverged is None]
            pack = Pack([s.method for s in live]) if live else None
        step = live[0].method.steps if live else steps
        if pack is not None and checkpoint_every and (step % checkpoint_every == 0 or step == steps):
            pack.unstack()
            checkpoint(step, live)
    if pack is not None:
        pack.unstack()


def _start(
    index: int, method: PackableMethod, data: OfflineData, seed: int, resume: str | Path | None
) -> _Seed:
    rng = np.random.default_rng(seed)
    s = _Seed(index, method, rng, FitResult(steps=0), LossLog(method.name))
    if resume is not None:
        s.elapsed = restore(method, rng, s.result, resume)
    elif method.steps == 0:
        method.prepare(data)
    return s


def _catch_up(members: list[_Seed], after_step: Callable[[_Seed, dict[str, float]], None]) -> None:
    """Seeds resumed from older checkpoints train alone up to the newest one's step, so all can pack."""
    target = max(s.method.steps for s in members)
    for s in members:
        while s.diverged is None and s.method.steps < target:
            losses = s.method.update(s.method.to_batch(s.sampler.sample()))
            s.method.steps += 1
            after_step(s, losses)


def _stack_batches(batches: list[dict[str, np.ndarray]], device: torch.device) -> dict[str, torch.Tensor]:
    """K numpy batches as ``(K, B, ...)`` float tensors on ``device`` (one transfer per key)."""
    return {
        key: torch.as_tensor(np.stack([b[key] for b in batches]), dtype=torch.float32).to(
            device, non_blocking=True
        )
        for key in batches[0]
    }
