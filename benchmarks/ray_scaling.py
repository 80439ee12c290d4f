"""Ray Tune benchmarks: do two 1-CPU trials on 2 cores run concurrently, and what does Ray cost?

The trial is a real one (CQL on a 200-episode ``pointmass-mixed`` built in a temp dir, about 10 s of training)
run through ``rsbench.train.tune.run_tune``, exactly as ``rsbench run`` runs it. Figures:

- throughput of two trials at once over the same two one after the other (target >= 1.6x);
- Ray's start-up (``ray.init`` of a local instance until it accepts work) and shut-down;
- per-trial overhead: a trial's wall time under Tune (start to end, seen by the driver) minus the same
  trial run by ``run_trial`` in this process.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

import records

TRIAL = {"method": "cql", "config": {"hidden": [64, 64]}}
STEPS = 1500


def pointmass_suite(folder: Path, name: str, **fields: object) -> Path:
    """A suite file ``<folder>/<name>.yaml`` on ``pointmass-mixed`` with ``fields`` (methods, seeds, ...)."""
    path = folder / f"{name}.yaml"
    task = {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed-200ep"}}
    path.write_text(yaml.safe_dump({"name": name, "tasks": task, **fields}))
    return path


@contextlib.contextmanager
def bench_folder() -> Iterator[Path]:
    """A temp dir holding a 200-episode ``pointmass-mixed`` (the datasets path points into it)."""
    from rsbench.data.build import build

    with tempfile.TemporaryDirectory(prefix="rsbench-bench-") as tmp:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(tmp) / "datasets")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        build("pointmass-mixed-200ep", progress=False)
        yield Path(tmp)


def _suite(folder: Path) -> Path:
    return pointmass_suite(
        folder,
        "bench",
        methods={"cql": TRIAL},
        seeds=[0, 1],
        train={"steps": STEPS, "batch_size": 256, "checkpoint_every": 500, "log_every": 100},
        eval={"episodes": 50, "alphas": [0.1]},
        resources={"cpu": 1},
    )


def ray_trials(device: str = "cpu") -> list[dict]:
    """Two 1-CPU CQL trials: concurrent vs sequential throughput, Ray start-up and per-trial overhead."""
    import ray

    from rsbench.results import RunStore
    from rsbench.suite import load_suite
    from rsbench.train.plan import new_run
    from rsbench.train.trial import run_trial
    from rsbench.train.tune import run_tune

    with bench_folder() as folder:
        suite_path = _suite(folder)
        suite = load_suite(suite_path)

        def plan(name: str):
            return new_run(suite, suite_path, results=str(folder / "results"), name=name, method_files=[])

        # In-process reference: the same trial without Ray.
        reference = plan("reference")
        start = time.perf_counter()
        run_trial(reference.trials[0], report=lambda metrics, checkpoint: None)
        in_process = time.perf_counter() - start

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        ray.get(ray.remote(lambda: 1).remote())
        startup = time.perf_counter() - start
        try:
            walls = {}
            for name, concurrent in (("sequential", 1), ("concurrent", 2)):
                p = plan(name)
                start = time.perf_counter()
                statuses = run_tune(p, max_concurrent=concurrent)
                walls[name] = time.perf_counter() - start
                if set(statuses.values()) != {"finished"}:
                    raise RuntimeError(f"{name} run did not finish: {statuses}")
            trials = RunStore(folder / "results" / "sequential").trial_status()
        finally:
            start = time.perf_counter()
            ray.shutdown()
            shutdown = time.perf_counter() - start
    speedup = walls["sequential"] / walls["concurrent"]
    per_trial = walls["sequential"] / len(trials) - in_process
    return [
        {
            "name": f"2 CQL trials one after the other ({STEPS} steps + 50 episodes each)",
            "value": round(walls["sequential"], 1),
            "unit": "s",
        },
        {
            "name": "the same 2 trials at once (1 CPU each, 2 cores)",
            "value": round(walls["concurrent"], 1),
            "unit": "s",
        },
        {
            "name": "concurrent throughput / sequential",
            "value": round(speedup, 2),
            "unit": "ratio",
            "target": records.same_run(">=", 1.6, "the same 2 trials one after the other, this run"),
        },
        {"name": "one trial in-process, no Ray (run_trial)", "value": round(in_process, 1), "unit": "s"},
        {
            "name": "Ray overhead per trial (sequential wall / 2 - in-process)",
            "value": round(per_trial, 2),
            "unit": "s",
        },
        {"name": "local Ray start-up (ray.init until a task runs)", "value": round(startup, 1), "unit": "s"},
        {"name": "local Ray shut-down", "value": round(shutdown, 1), "unit": "s"},
    ]
