"""Pick the committed levels from a training run and record their provenance (docs/design.md §3).

``expert`` is the run's final policy; ``medium`` the checkpoint whose mean return on the base task is nearest
one third of the expert's (D4RL's rule: the policies are risk-unaware and the levels are defined on the task
they train on); ``replay/`` every checkpoint up to the medium one, from the untrained policy (step 0) on. The reference scores are measured on the
risky task. Defining medium on the risky scale instead would pick, on HalfCheetah, a policy too slow to ever
cross the velocity threshold (no penalty events in its data: nothing for a risk-sensitive method to learn),
because the expert's speed costs it most of its return there.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rsbench.behaviour.committed import POLICIES_DIR, TASKS
from rsbench.behaviour.evaluate import PolicyReturns, stochastic, uniform_random
from rsbench.behaviour.policy import load_policy
from rsbench.errors import UserError

MEDIUM_FRACTION = 1 / 3
SCREEN_EPISODES = 30


def checkpoints(run: Path) -> list[Path]:
    paths = sorted((run / "checkpoints").glob("step_*.pt"))
    if not paths:
        raise UserError("no checkpoints: run `rsbench behaviour train` first", source=run / "checkpoints")
    return paths


def _train_returns(run: Path) -> dict[int, float]:
    with (run / "train_log.csv").open() as f:
        return {int(r["steps"]): float(r["train_return_last20"]) for r in csv.DictReader(f)}


def _base_mean(path: Path, task_id: str, episodes: int) -> float:
    return PolicyReturns.measure(stochastic(load_policy(path)), task_id, episodes, risky=False).base_mean


def pick_medium(
    run: Path, task_id: str, expert_base: float, screen_episodes: int = SCREEN_EPISODES
) -> tuple[Path, float]:
    """The checkpoint whose base-task return is nearest a third of the expert's (D4RL's rule, on the
    risk-unaware task the policies train on). Candidates: checkpoints whose training return is 15-60% of
    the final one; each is measured on ``screen_episodes`` episodes."""
    target = MEDIUM_FRACTION * expert_base
    log = _train_returns(run)
    final = log[max(log)]
    trained = [p for p in checkpoints(run)[:-1] if _step(p) > 0]  # step 0 is the untrained policy
    paths = [p for p in trained if 0.15 * final <= log.get(_step(p), np.inf) <= 0.6 * final]
    paths = paths or trained
    measured = {p: _base_mean(p, task_id, screen_episodes) for p in paths}
    best = min(measured, key=lambda p: abs(measured[p] - target))
    return best, target


def _step(path: Path) -> int:
    return int(path.stem.split("_")[1])


def select(
    task: str,
    run: Path,
    episodes: int = 100,
    dest: Path = POLICIES_DIR,
    screen_episodes: int = SCREEN_EPISODES,
) -> dict[str, Any]:
    """Measure random and expert, pick medium, copy the files into ``dest/task`` and record provenance."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", key="TASK")
    task_id = TASKS[task][1]
    expert_path = checkpoints(run)[-1]
    expert = PolicyReturns.measure(stochastic(load_policy(expert_path)), task_id, episodes)
    random = PolicyReturns.measure(uniform_random(load_policy(expert_path).act_dim), task_id, episodes)
    ref_min, ref_max = random.risky_mean, expert.risky_mean
    medium_path, target = pick_medium(run, task_id, expert.base_mean, screen_episodes)
    medium = PolicyReturns.measure(stochastic(load_policy(medium_path)), task_id, episodes)
    out = dest / task
    shutil.rmtree(out, ignore_errors=True)
    (out / "replay").mkdir(parents=True)
    shutil.copyfile(expert_path, out / "expert.pt")
    shutil.copyfile(medium_path, out / "medium.pt")
    for p in checkpoints(run):
        if _step(p) <= _step(medium_path):
            shutil.copyfile(p, out / "replay" / p.name)
    policies = {
        "random": asdict(random),
        "medium": {"steps": _step(medium_path), **asdict(medium)},
        "expert": {"steps": _step(expert_path), **asdict(expert)},
    }
    record = {
        "task": TASKS[task][0],
        "risky_task": task_id,
        "ref_min_score": ref_min,
        "ref_max_score": ref_max,
        "medium_target": target,
        "episodes": episodes,
        "train": load_policy(expert_path).provenance,
        "policies": policies,
    }
    _write_provenance(dest, task, record)
    return record


def _write_provenance(dest: Path, task: str, record: dict[str, Any]) -> None:
    from filelock import FileLock

    from rsbench.results.fs import locate

    path = dest / "provenance.json"
    # Tasks are selected in parallel processes; each updates its own entry of the one file.
    with FileLock(str(path) + ".lock"):
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[task] = record
        locate(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
