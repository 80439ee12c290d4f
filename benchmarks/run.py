"""rsbench's performance harness: run named benchmarks, write one JSON file and a Markdown table.

    .venv/bin/python benchmarks/run.py                 # every benchmark
    .venv/bin/python benchmarks/run.py eval_pointmass  # only some
    .venv/bin/python benchmarks/run.py --list

Figures go to ``benchmarks/results/results.json`` (with machine info) and ``benchmarks/results/results.md``
(the table docs/performance.md links). A benchmark is a function returning a list of figures, registered with
``@benchmark``; a figure's target is data (``records.same_run``, ``records.constant`` or ``records.check``),
stated next to it and judged by ``records.verdict``, never in the test suite. Each figure records the machine,
time, load and threads it was measured with (``records.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import packed_run
import packing
import planners
import ray_scaling
import reporting

import baselines
import records

OUT = Path(__file__).resolve().parent / "results"
Figure = dict  # {"name", "value", "unit", "target" (optional, records.py's kinds), "note" (optional)}
BENCHMARKS: dict[str, Callable[[], list[Figure]]] = {}


def benchmark(fn: Callable[[], list[Figure]]) -> Callable[[], list[Figure]]:
    BENCHMARKS[fn.__name__] = fn
    return fn


def _best_rate(work: Callable[[], int], repeats: int = 3) -> float:
    """Best of ``repeats`` runs of ``work`` (which returns a count of steps), in steps per second."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = work()
        best = max(best, n / (time.perf_counter() - t0))
    return best


@benchmark
def eval_halfcheetah() -> list[Figure]:
    """Evaluator throughput on RiskyHalfCheetah vs raw HalfCheetah-v5 stepping, trivial policy."""
    import gymnasium as gym
    import mujoco

    from rsbench.eval.rollout import evaluate

    mujoco.set_mju_user_warning(lambda m: None)
    episodes, horizon = 50, 200
    env = gym.make("HalfCheetah-v5")
    zeros = np.zeros(6, np.float32)

    def raw() -> int:
        for _ in range(episodes):
            env.reset(seed=0)
            for _ in range(horizon):
                env.step(zeros)
        return episodes * horizon

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.zeros((len(obs), 6), np.float32)

    def ours() -> int:
        return int(evaluate(policy, "rsbench/RiskyHalfCheetah-v0", episodes).lengths.sum())

    t0 = time.perf_counter()
    ours()  # the first call builds the MuJoCo models the later ones reuse
    cold = episodes * horizon / (time.perf_counter() - t0)
    raw_rate, our_rate = _best_rate(raw), _best_rate(ours)
    ratio = our_rate / raw_rate
    return [
        {"name": "raw HalfCheetah-v5 steps/s", "value": round(raw_rate), "unit": "steps/s"},
        {
            "name": "evaluator RiskyHalfCheetah steps/s (50 episodes)",
            "value": round(our_rate),
            "unit": "steps/s",
        },
        {"name": "evaluator first call, models built", "value": round(cold), "unit": "steps/s"},
        {
            "name": "evaluator / raw",
            "value": round(ratio, 3),
            "unit": "ratio",
            "target": records.same_run(">=", 0.7, "raw HalfCheetah-v5 stepping timed in this run"),
        },
    ]


# The evaluator's throughput goal was set with the harness as a round number, not timed on a machine.
POINTMASS_RATE_PROVENANCE = {
    "machine": planners.REFERENCE_MACHINE,
    "when": "2026-11-24",
    "source": "goal set with the harness (commit 2b5a124), not timed",
}


@benchmark
def eval_pointmass() -> list[Figure]:
    """Evaluator throughput on RiskyPointMass, batch of 1000 episodes, full 100-step horizon."""
    from rsbench.eval.rollout import evaluate

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.full((len(obs), 2), 0.01)  # drifts away from the goal: every episode runs 100 steps

    def ours() -> int:
        return int(evaluate(policy, "rsbench/RiskyPointMass-v0", 1000).lengths.sum())

    rate = _best_rate(ours)
    return [
        {
            "name": "evaluator RiskyPointMass steps/s (1000 episodes)",
            "value": round(rate),
            "unit": "steps/s",
            "target": records.constant(">=", 200_000, POINTMASS_RATE_PROVENANCE),
        },
    ]


def _threads(n: int, fn: Callable[..., list[Figure]]) -> Callable[[], list[Figure]]:
    def run() -> list[Figure]:
        torch.set_num_threads(n)
        devices = os.environ.get("RSBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
        figures = fn("cpu") if "cpu" in devices else []
        if "cuda" in devices and torch.cuda.is_available():
            figures += fn("cuda")
        return figures

    run.threads = n  # type: ignore[attr-defined]  # recorded with each figure
    run.__name__, run.__doc__ = (
        fn.__name__,
        f"{fn.__doc__} ({n} CPU threads; CUDA too when present; RSBENCH_BENCH_DEVICES=cuda for CUDA only)",
    )
    return run


benchmark(_threads(2, planners.unet_train_step))
benchmark(_threads(2, planners.planning))
benchmark(planners.planner_training_gpu)
benchmark(_threads(2, baselines.cql_train_step))
benchmark(_threads(2, baselines.iqn_train_step))
benchmark(_threads(2, baselines.radac_train_step))
benchmark(_threads(2, baselines.act_latency))
benchmark(_threads(2, baselines.radac_iqn_interleaved))
benchmark(_threads(2, packing.packed_training))
benchmark(_threads(2, packing.packed_linear))
benchmark(ray_scaling.ray_trials)
benchmark(packed_run.packed_run)
benchmark(reporting.report_render)


def machine() -> dict:
    """This machine (``records.machine``) with the versions the figures depend on."""
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return records.machine(
        {
            "numpy": np.__version__,
            "torch": torch.__version__,
            "cuda": cuda,
            "threads": torch.get_num_threads(),
        }
    )


def _carry(previous: dict, here: dict) -> dict:
    """A results file for a run on ``here`` that keeps the ``previous`` file's figures, each still naming the
    machine, time and load it was measured with (figures from before they did: the previous file's machine)."""
    results = {
        "machine": here,
        "machines": {**previous.get("machines", {}), records.machine_key(here): here},
        "benchmarks": dict(previous.get("benchmarks", {})),
        "measured": dict(previous.get("measured", {})),  # name -> when, load, threads, machine key
        "history": previous.get("history", []),
    }
    old = records.machine_key(previous["machine"]) if previous.get("machine") else None
    if old:
        results["machines"].setdefault(old, previous["machine"])
    for name, figures in results["benchmarks"].items():
        # files from before per-benchmark times: the old run's time; from before figures named the machine: its
        run = results["measured"].setdefault(
            name, {"when": previous["machine"]["when"], "load": "not recorded"}
        )
        run.setdefault("machine", old)
        for f in figures:
            f.setdefault("measured", run).setdefault("machine", old)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--out", type=Path, default=OUT, help="directory for results.json / results.md")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in BENCHMARKS.items():
            print(f"{name}: {fn.__doc__}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(
            f"benchmarks/run.py: error: unknown benchmark(s) {', '.join(unknown)}; see --list",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp())
    os.chdir(tempfile.mkdtemp())  # MuJoCo may log into the working directory
    path = args.out / "results.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    here = machine()
    results = _carry(previous, here)
    for name in args.names or list(BENCHMARKS):
        print(f"running {name} ...", flush=True)
        started = {
            "when": datetime.now(UTC).isoformat(timespec="minutes"),
            "load": round(os.getloadavg()[0], 1),
            "machine": records.machine_key(here),
        }
        figures = BENCHMARKS[name]()
        started["threads"] = getattr(BENCHMARKS[name], "threads", torch.get_num_threads())
        figures = [{**f, "measured": started} for f in figures]
        # A filtered run (e.g. RSBENCH_PACK_SIZES=locomotion) replaces only the figures it measured.
        fresh = {f["name"] for f in figures}
        kept = [f for f in results["benchmarks"].get(name, []) if f["name"] not in fresh]
        results["benchmarks"][name] = kept + figures
        results["measured"][name] = started
        for f in figures:
            print(f"  {f['name']}: {f['value']} {f['unit']} {records.verdict(f, here)[1]}")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(path)
    tmp.write_text(records.markdown(results))
    tmp.replace(args.out / "results.md")
    print(f"wrote {path} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
