"""The package surface: what ``import rsbench`` does and costs, and what pyproject promises."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

HEAVY = ("mujoco", "ray", "torch", "seaborn", "matplotlib", "minari", "pandas", "statsmodels")


def test_import_rsbench_registers_the_risky_ids_and_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys, gymnasium, rsbench\n"
        "print(sorted(k for k in gymnasium.registry if k.startswith('rsbench/Risky')))\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "gymnasium.make('rsbench/RiskyPointMass-v0').reset(seed=0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=True
    )
    ids, heavy = proc.stdout.splitlines()
    assert ast.literal_eval(ids) == sorted(
        [
            "rsbench/RiskyHalfCheetah-v0",
            "rsbench/RiskyHopper-v0",
            "rsbench/RiskyPointMass-v0",
            "rsbench/RiskyWalker2d-v0",
        ]
    )
    assert ast.literal_eval(heavy) == []


def _requirement(name: str, group: list[str]) -> str | None:
    return next((r for r in group if r.split("[")[0].split(">")[0].split("=")[0].strip() == name), None)


def test_python_floor_is_the_one_ci_runs_and_ruff_targets() -> None:
    # CI runs 3.11 and the code uses typing.Self (3.11+): the floor, ruff's target and mypy's agree.
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == "3.11"
    assert sys.version_info >= (3, 11)


def test_statsmodels_is_a_test_reference_not_a_runtime_dependency() -> None:
    project = PYPROJECT["project"]
    assert _requirement("statsmodels", project["dependencies"]) is None
    assert _requirement("statsmodels", project["optional-dependencies"]["dev"]) is not None
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "rsbench").rglob("*.py")
        if any(
            (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "statsmodels" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "statsmodels")
            for n in ast.walk(ast.parse(p.read_text()))
        )
    ]
    assert offenders == []


def test_scipy_floor_has_the_rng_keyword_the_tests_use() -> None:
    # scipy.stats.bootstrap(..., rng=Generator) arrived in scipy 1.15 (tests/eval/test_stats.py uses it).
    assert _requirement("scipy", PYPROJECT["project"]["dependencies"]) == "scipy>=1.15"


def test_ci_type_checks_rsbench() -> None:
    # scripts/test.sh is what CI runs; mypy reads its configuration (files = rsbench) from pyproject.
    assert ".venv/bin/mypy" in (REPO / "scripts" / "test.sh").read_text()
    assert PYPROJECT["tool"]["mypy"]["files"] == ["rsbench"]
    assert _requirement("mypy", PYPROJECT["project"]["optional-dependencies"]["dev"]) is not None
