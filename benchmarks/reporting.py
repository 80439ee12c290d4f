"""Report benchmark: render the newest stored smoke run's report (target: under 30 s on 2 cores)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
            "target": "<= 30",
            "met": seconds <= 30,
        }
    ]
