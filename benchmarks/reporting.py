"""Report benchmark: render the newest stored smoke run's report (target: under 30 s on 2 cores)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from planners import REFERENCE_MACHINE

import records

ROOT = Path(__file__).resolve().parents[1]
# A goal for the user's wait, stated for 2 cores when `rsbench report` was written, not timed
RENDER_GOAL = {
    "machine": REFERENCE_MACHINE,
    "when": "2026-11-24",
    "source": "goal for 2 cores (commit f167e1d), not timed",
}


def report_render(device: str = "cpu") -> list[dict]:
    """`rsbench report` on the newest results/smoke-* run: load the store, statistics, figures, HTML."""
    from rsbench.report.render import render_report
    from rsbench.results import load_run

    runs = sorted(p for p in (ROOT / "results").glob("smoke-*") if (p / "manifest.json").is_file())
    if not runs:
        return [{"name": "no stored smoke run: run `bash scripts/smoke.sh` first", "value": 0, "unit": ""}]
    with tempfile.TemporaryDirectory(prefix="rsbench-report-") as out:
        start = time.perf_counter()
        report = render_report([load_run(runs[-1])], Path(out))
        seconds = time.perf_counter() - start
    return [
        {
            "name": f"report of a smoke run ({len(report.figures)} figures), load + render",
            "value": round(seconds, 2),
            "unit": "s",
            "target": records.constant("<=", 30, RENDER_GOAL),
        }
    ]
