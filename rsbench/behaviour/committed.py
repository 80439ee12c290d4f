"""The committed behaviour policies: ``rsbench/behaviour/policies/<task>/`` plus ``provenance.json``.

Per task: ``expert.pt`` (the final PPO policy), ``medium.pt`` (the checkpoint nearest one third of the
expert's return on the risky task, as D4RL's "medium") and ``replay/step_*.pt`` (every training checkpoint up
to the medium one, the source of ``medium-replay``). ``provenance.json`` records the command, steps, seed,
the returns measured for each level and the reference scores (``ref_min_score``: uniform random policy,
``ref_max_score``: expert, both on the risky task at its evaluation horizon).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from rsbench.behaviour.policy import BehaviourPolicy, load_policy
from rsbench.errors import UserError

POLICIES_DIR = Path(__file__).resolve().parent / "policies"
LEVELS = ("medium", "expert")

# Short task name -> (base gymnasium id, risky rsbench id).
TASKS: dict[str, tuple[str, str]] = {
    "halfcheetah": ("HalfCheetah-v5", "rsbench/RiskyHalfCheetah-v0"),
    "hopper": ("Hopper-v5", "rsbench/RiskyHopper-v0"),
    "walker2d": ("Walker2d-v5", "rsbench/RiskyWalker2d-v0"),
}


def provenance() -> dict[str, Any]:
    """The committed provenance record (``{}`` when no policy has been committed yet)."""
    path = POLICIES_DIR / "provenance.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def reference_scores(task: str) -> dict[str, float]:
    """``{"ref_min_score": ..., "ref_max_score": ...}`` of a task's committed policies."""
    record = provenance().get(task)
    if not record:
        raise UserError(f"no committed behaviour policies for {task!r}", source=POLICIES_DIR, key=task)
    return {k: float(record[k]) for k in ("ref_min_score", "ref_max_score")}


def task_reference_scores(task_id: str) -> dict[str, float] | None:
    """Reference scores of a risky task id (``rsbench/RiskyHopper-v0``), or None where none are committed."""
    short = next((k for k, (_, risky) in TASKS.items() if risky == task_id), None)
    record = provenance().get(short or "")
    return {k: float(record[k]) for k in ("ref_min_score", "ref_max_score")} if record else None


@functools.cache
def policy(task: str, level: str) -> BehaviourPolicy:
    """The committed ``level`` policy of ``task`` (cached: datasets load it once per episode)."""
    path = POLICIES_DIR / task / f"{level}.pt"
    if not path.is_file():
        raise UserError(
            f"no committed {level} policy for {task}: train one with `rsbench behaviour train {task}`",
            source=path,
        )
    return load_policy(path)


def replay_checkpoints(task: str) -> tuple[Path, ...]:
    """The training checkpoints up to the medium level, in training order."""
    paths = tuple(sorted((POLICIES_DIR / task / "replay").glob("step_*.pt")))
    if not paths:
        raise UserError(f"no committed replay checkpoints for {task}", source=POLICIES_DIR / task / "replay")
    return paths


@functools.cache
def replay_policy(path: Path) -> BehaviourPolicy:
    return load_policy(path)
