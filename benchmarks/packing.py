"""Packed multi-seed training: per seed-step speed-up of K seeds as one stacked model over separate training.

For each packable method at the smoke suite's and the locomotion suite's sizes, and K in 1, 2, 4, 8, 16,
one separate update and one packed update of K seeds are timed in alternation (interleaved, so a noisy
shared machine slows both alike); the figure is median(separate) / (median(packed) / K). Batches are
fixed synthetic HalfCheetah-sized transitions or windows (obs 17, act 6) so only the update is timed.
The planners' smoke sizes are suites/smoke.yaml's (no locomotion suite trains them); their locomotion
entry is Diffuser's reference U-Net (``planners.LOCOMOTION``, batch 32). ``RSBENCH_PACK_SIZES`` and
``RSBENCH_PACK_METHODS`` (comma-separated) restrict the entries.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from planners import LOCOMOTION, _sync, _synthetic

import records

KS = (1, 2, 4, 8, 16)
KS_CUDA = (*KS, 32, 64)  # where a GPU saturates: the figure GPU users choose K by
UPDATES = 2  # updates per timed call: a whole cycle of a method whose actor steps every other update
# suites/smoke.yaml's planner training settings (its inference settings do not change an update)
_SMOKE_UNET = {"horizon": 16, "dim": 16, "dim_mults": [1, 2], "lr": 1e-3, "ema_start": 0, "ema_every": 1}
_SMOKE_PLANNERS = {
    "diffuser": {},
    "decision_diffuser": {"inv_hidden": [64, 64]},
    "rs_diffuser": {"inv_hidden": [64, 64], "critic_dim": 16, "n_quantiles": 16, "critic_target": "to_go"},
}
# (label, method, config, batch size): the smoke suite's and suites/locomotion-sanity.yaml's settings; that
# suite has no planner, so theirs is Diffuser's reference U-Net (benchmarks/planners.py)
SIZES = (
    ("smoke", "cql", {"hidden": [64, 64], "actor_lr": 3e-4, "cql_n_actions": 4}, 64),
    ("smoke", "iqn", {"hidden": [64, 64], "n_taus": 16, "n_target_taus": 16, "n_policy_taus": 16}, 64),
    ("locomotion", "cql", {"hidden": [128, 128]}, 256),
    (
        "locomotion",
        "iqn",
        {"hidden": [128, 128], "n_taus": 32, "n_target_taus": 16, "n_policy_taus": 32},
        256,
    ),
    *(("smoke", name, {**_SMOKE_UNET, **extra}, 64) for name, extra in _SMOKE_PLANNERS.items()),
    ("locomotion", "diffuser", {**LOCOMOTION, "ema_start": 0}, 32),
)
TARGET_K8 = 2.0  # the acceptance: >= 2x per seed-step at K = 8 for the smoke sizes on 2 cores
TARGET_CUDA_K16 = 5.0  # and >= 5x at K = 16 for the locomotion sizes on a GPU
SEPARATE = "separate updates timed interleaved in this run"


def _interleaved(a: Callable[[], object], b: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b``, timed alternately after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for _ in range(rounds):
        for fn, out in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def _speedups(method: str, config: dict, batch_size: int, device: str) -> dict[int, tuple[float, float]]:
    """``K -> (ms per separate update, ms per seed-step packed)``."""
    from rsbench.methods import Space, create
    from rsbench.methods.packing import Pack

    data = _synthetic()
    space = Space.from_data(data)
    alone = create(method, space, config, seed=0, device=device)
    alone.prepare(data)
    sampler = alone.data_spec().sampler(data, batch_size, np.random.default_rng(0))
    one = alone.to_batch(sampler.sample())
    out = {}
    for k in KS if device == "cpu" else KS_CUDA:
        members = [create(method, space, config, seed=s, device=device) for s in range(k)]
        for m in members:  # a planner's losses read its return normaliser
            m.prepare(data)
        pack = Pack(members)  # type: ignore[arg-type]
        samples = [sampler.sample() for _ in range(k)]
        stacked = {
            key: torch.as_tensor(np.stack([s[key] for s in samples]), device=device) for key in samples[0]
        }
        rounds = 7 if k <= 4 else 4

        # Step counters advance as in `fit`/`fit_pack`, so step-dependent stages (IQN's actor every other
        # update) run in their training mix; each timing covers UPDATES updates, a whole such cycle.
        def packed_step(pack: Pack = pack, stacked: dict = stacked, members: list = members) -> None:
            for _ in range(UPDATES):
                pack.update(stacked)
                for m in members:
                    m.steps += 1
            _sync(device)

        def separate_step() -> None:
            for _ in range(UPDATES):
                alone.update(one)
                alone.steps += 1
            _sync(device)

        sep, packed = _interleaved(separate_step, packed_step, rounds)
        out[k] = (1000 * sep / UPDATES, 1000 * packed / (k * UPDATES))
    return out


def packed_training(device: str = "cpu") -> list[dict]:
    """Per seed-step speed-up of packing for every built-in packable method at smoke and locomotion sizes
    (``RSBENCH_PACK_SIZES=smoke`` for the smoke sizes only, ``RSBENCH_PACK_METHODS=diffuser,...`` for some
    methods only)."""
    figures = []
    sizes, methods = (os.environ.get(f"RSBENCH_PACK_{key}") for key in ("SIZES", "METHODS"))
    for size, method, config, batch_size in SIZES:
        if (sizes and size not in sizes.split(",")) or (methods and method not in methods.split(",")):
            continue
        for k, (sep_ms, packed_ms) in _speedups(method, config, batch_size, device).items():
            figure = {
                "name": f"{method} {size} (batch {batch_size}), pack K={k}, per seed-step speed-up [{device}]",
                "value": round(sep_ms / packed_ms, 2),
                "unit": "x",
                "note": f"separate {sep_ms:.1f} ms, packed {packed_ms:.1f} ms per seed-step; interleaved",
            }
            if size == "smoke" and k == 8 and device == "cpu":
                figure["target"] = records.same_run(">=", TARGET_K8, SEPARATE)
            if size == "locomotion" and k == 16 and device == "cuda":
                figure["target"] = records.same_run(">=", TARGET_CUDA_K16, SEPARATE)
            figures.append(figure)
            print(
                f"  {figure['name']}: {figure['value']}x ({figure['note']})", flush=True
            )  # long: show progress
    return figures


LINEAR_ROWS = (64, 256, 1024)  # CQL's smoke batch; IQN's smoke critic rows are batch x taus = 64 x 16 = 1024


def packed_linear(device: str = "cpu") -> list[dict]:
    """Why packing gains less for IQN than for CQL: one 64 -> 64 linear layer, forward and backward, K = 8
    seeds under ``vmap`` against 8 separate calls, at 64, 256 and 1024 rows per seed. A layer that already
    has 1024 rows per seed keeps the cores busy alone, so stacking it gains little."""
    from torch.func import vmap
    from torch.nn.functional import linear

    k, features, figures = 8, 64, []
    stacked = vmap(linear)
    for rows in LINEAR_ROWS:
        gen = torch.Generator(device=device).manual_seed(0)

        def draw(*shape: int, gen: torch.Generator = gen) -> torch.Tensor:
            return torch.randn(shape, generator=gen, device=device).requires_grad_()

        x, w, b = draw(k, rows, features), draw(k, features, features), draw(k, features)
        # each seed's own leaves: slices of the stacked leaves would add a scatter into them per backward
        seeds = [tuple(t[s].detach().clone().requires_grad_() for t in (x, w, b)) for s in range(k)]

        def packed(x: torch.Tensor = x, w: torch.Tensor = w, b: torch.Tensor = b) -> None:
            stacked(x, w, b).sum().backward()
            _sync(device)

        def separate(seeds: list = seeds) -> None:
            for xs, ws, bs in seeds:
                linear(xs, ws, bs).sum().backward()
            _sync(device)

        sep, pk = _interleaved(separate, packed, rounds=30)
        figures.append(
            {
                "name": f"linear 64->64, {rows} rows per seed, K=8 vmapped vs separate [{device}]",
                "value": round(sep / pk, 2),
                "unit": "x",
                "note": f"separate {1000 * sep:.2f} ms, packed {1000 * pk:.2f} ms for 8 seeds; interleaved",
            }
        )
    return figures
