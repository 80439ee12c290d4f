"""scripts/nightly.sh keeps every exit code's meaning (2 usage > 1 finding > 3 incomplete > 0), never turns a
usage error into 1, and tells the first night (no pinned baseline) how to pin itself. The steps are a stand-in
``rsbench`` (RSBENCH=...) that records its calls and exits with the code each test asks for."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
case $1 in
  run) while [ $# -gt 0 ]; do case $1 in --name) n=$2 ;; --results) r=$2 ;; esac; shift; done
       mkdir -p "$r/$n" && echo '{}' > "$r/$n/manifest.json"; exit "${CODE_RUN:-0}" ;;
  report) exit "${CODE_REPORT:-0}" ;;
  regress) exit "${CODE_REGRESS:-0}" ;;
  history) exit "${CODE_HISTORY:-0}" ;;
esac
"""


def _nightly(tmp_path: Path, pinned: bool, **codes: int) -> tuple[int, str, list[str]]:
    fake = tmp_path / "rsbench"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    baseline = tmp_path / "baselines" / "nightly"
    if pinned:
        baseline.mkdir(parents=True)
        (baseline / "baseline.json").write_text("{}")
    env = {**os.environ, "RSBENCH": str(fake), "RESULTS": str(tmp_path / "results"), "CALLS": str(tmp_path / "calls"),
           "PUBLISH": str(tmp_path / "reports"), "BASELINE": str(baseline),
           **{f"CODE_{k.upper()}": str(v) for k, v in codes.items()}}  # fmt: skip
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "nightly.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stderr, (tmp_path / "calls").read_text().splitlines()


def test_first_night_says_how_to_pin_itself_and_keeps_the_runs_code(tmp_path: Path) -> None:
    code, stderr, calls = _nightly(tmp_path, pinned=False)
    assert code == 0
    assert "no pinned baseline" in stderr and "baseline pin " in stderr and "--to " in stderr
    assert [c.split()[0] for c in calls] == ["run", "report", "history"]  # nothing to regress against
    assert "--baseline" not in calls[-1] and "--suite nightly" in calls[-1]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ({}, 0),
        ({"regress": 1}, 1),
        ({"history": 1}, 1),
        ({"run": 3}, 3),
        ({"run": 3, "regress": 1}, 1),
        ({"regress": 2}, 2),  # a usage error stays 2: never read as a REGRESSION
        ({"regress": 2, "history": 1, "run": 3}, 2),
    ],
)
def test_exit_code_is_the_most_serious_steps(tmp_path: Path, codes: dict[str, int], expected: int) -> None:
    code, _, calls = _nightly(tmp_path, pinned=True, **codes)
    assert code == expected
    regress = next(c for c in calls if c.startswith("regress"))
    assert "--baseline" in regress and "--history" in regress and "--last 7" in regress
    assert "--baseline" in calls[-1] and calls[-1].startswith("history")
