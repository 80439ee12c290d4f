"""End to end: 8 seeds of the smoke suite's CQL as one ``pack: 8`` trial on both CPUs against 8 separate
1-CPU trials two at a time, each a whole ``rsbench run`` (Ray start, training, evaluation, results written).

Both run through the suite job ``rsbench.train.job.execute`` on a fresh local Ray of 2 CPUs, the function
``rsbench run`` calls, on a 200-episode ``pointmass-mixed`` built in a temp dir. The two are run in alternation (separate,
packed, separate, packed, ...) so that a noisy shared machine slows both alike; the figure is the ratio of
their median wall times. The issue's target: the packed run at least 1.5x faster.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from ray_scaling import bench_folder, pointmass_suite

import records

# The smoke suite's CQL (suites/smoke.yaml) and its training and evaluation budget.
CQL = {"method": "cql", "config": {"hidden": [64, 64], "actor_lr": 0.0003, "cql_n_actions": 4}}
SEEDS = list(range(8))
TARGET = 1.5
ROUNDS = 2


def _suite(folder: Path, resources: dict) -> Path:
    return pointmass_suite(
        folder,
        f"pack{resources.get('pack', 1)}",
        methods={"cql": CQL},
        seeds=SEEDS,
        train={"steps": 300, "batch_size": 64, "checkpoint_every": 100, "log_every": 25},
        eval={"episodes": 50, "alphas": [0.05, 0.1, 0.25]},
        resources=resources,
    )


def packed_run(device: str = "cpu") -> list[dict]:
    """Wall time of ``rsbench run`` for 8 CQL seeds: ``pack: 8`` on 2 CPUs vs 8 separate 1-CPU trials."""
    from rsbench.train.job import execute, plan_suite

    with bench_folder() as folder:
        suites = {
            "separate": _suite(folder, {"cpu": 1}),
            "packed": _suite(folder, {"cpu": 2, "pack": 8}),
        }
        times: dict[str, list[float]] = {k: [] for k in suites}
        for r in range(ROUNDS):
            for kind, path in suites.items():
                plan = plan_suite(path, results=str(folder / "results"), name=f"{kind}-{r}")
                t0 = time.perf_counter()
                outcome = execute(plan, cpus=2)  # the suite job `rsbench run` runs
                times[kind].append(time.perf_counter() - t0)
                if outcome.counts["finished"] != outcome.counts["trials"]:
                    raise RuntimeError(f"{kind} run did not finish: {outcome.counts} {outcome.failures}")
    separate, packed = statistics.median(times["separate"]), statistics.median(times["packed"])
    ratio = separate / packed
    note = f"{ROUNDS} alternating rounds, runs (s): separate {times['separate']}, packed {times['packed']}"
    return [
        {
            "name": "rsbench run, 8 CQL seeds as 8 separate 1-CPU trials",
            "value": round(separate, 1),
            "unit": "s",
        },
        {"name": "rsbench run, 8 CQL seeds as one pack: 8 on 2 CPUs", "value": round(packed, 1), "unit": "s"},
        {
            "name": "packed run speed-up (8 separate trials / one pack)",
            "value": round(ratio, 2),
            "unit": "x",
            "target": records.same_run(">=", TARGET, "8 separate trials, alternated in this run"),
            "note": note,
        },
    ]
