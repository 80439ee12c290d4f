"""The import-layer check (docs/design.md §1, ``[tool.importlinter]`` in pyproject.toml) passes, and fails on a
planted violation of each kind of rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.is_file(), reason="import-linter is not installed (the dev extra)")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the ``rsbench`` package found at ``root`` with the repository's contracts."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), str(root / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=120,
    )


def test_the_layers_hold() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("eval/metrics.py", "import rsbench.train.fit", "eval/ and report/ never import train/ or Ray"),
        ("eval/stats.py", "from rsbench.behaviour import named", "eval/ is pure"),
        ("report/leaderboard.py", "import ray", "eval/ and report/ never import train/ or Ray"),
        ("results/store.py", "import ray", "only train/ imports Ray"),
        ("methods/cql.py", "import gymnasium", "methods never touch an environment"),
        ("report/leaderboard.py", "from rsbench.methods import registry", "report/ reads the results store"),
    ],
)
def test_a_planted_violation_fails(tmp_path: Path, module: str, line: str, contract: str) -> None:
    shutil.copytree(
        REPO / "rsbench", tmp_path / "rsbench", ignore=shutil.ignore_patterns("__pycache__", "*.pt")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "rsbench" / module, "a") as f:
        f.write(f"\n\ndef _planted() -> None:\n    {line}  # noqa\n")  # a lazy import counts too
    done = _lint(tmp_path)
    assert done.returncode != 0
    broken = done.stdout.split("Broken contracts", 1)[1]
    assert contract in broken, done.stdout
