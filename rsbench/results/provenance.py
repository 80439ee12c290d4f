"""The provenance manifest of a run: enough to say what produced its numbers and whether two runs compare."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from rsbench.envs.spec import RISK_SPEC_VERSION
from rsbench.paths import PACKAGE_DIR

# The evaluation protocol a run's episodes follow (docs/design.md §6); a manifest without the key is protocol 1.
# 1: one episode set per (eval.seed, task), shared by every training seed; 2: training seed s is evaluated on
# the set of (eval.seed, task, s). Results of different protocols are never merged or compared
# (rsbench.results.protocol.difference).
EVAL_PROTOCOL = 2
PACKAGES = ("rsbench", "torch", "ray", "numpy", "scipy", "pandas", "pyarrow", "gymnasium", "mujoco", "minari")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_state() -> dict[str, Any]:
    """Commit and dirtiness of the checkout rsbench is imported from (``None`` outside a git checkout)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def manifest(
    *, run_id: str, suite_name: str, suite_hash: str, command: list[str], **extra: Any
) -> dict[str, Any]:
    """A fresh manifest; the Ray layer adds ``cluster`` and, at the end, ``finished`` and the trial counts."""
    return {
        "run_id": run_id,
        "suite": suite_name,
        "suite_hash": suite_hash,
        "risk_spec_version": RISK_SPEC_VERSION,
        "eval_protocol": EVAL_PROTOCOL,
        "git": git_state(),
        "versions": versions(),
        "python": sys.version.split()[0],
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "command": command,
        "started": now(),
        **extra,
    }
