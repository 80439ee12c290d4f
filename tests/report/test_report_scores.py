"""The report's statistics text (issue 15): tier scheme, findings per Holm family, reference-score IQM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsbench.report import figures
from rsbench.report.render import render_report
from rsbench.results import load_run


@pytest.fixture(autouse=True)
def _no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "render_figures", lambda *args, **kwargs: [])  # text only: fast


def _with_references(run: Path, lo: float, hi: float) -> Path:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["datasets"]["pointmass"].update(ref_min_score=lo, ref_max_score=hi)
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_reference_scores_give_a_normalised_column_and_iqm(tmp_path: Path, stored_run) -> None:
    run = _with_references(stored_run(tmp_path / "r"), -30.0, -5.0)
    report = render_report([load_run(run)], tmp_path / "out")
    md, html = report.markdown.read_text(), report.index.read_text()
    header = next(line for line in md.splitlines() if line.startswith("| rank"))
    assert "normalised score" in header
    assert "IQM of normalised scores" in md and "PPO expert" in md and "not D4RL's" in md
    assert "not D4RL" in html and "Tiers are monotone in rank" in html
    # Each seed's mean return r scores 100 (r + 30) / 25; the table shows their mean over seeds.
    table = load_run(run).episodes
    board_row = next(line for line in md.splitlines() if "| diffuser | neutral | neutral |" in line)
    means = table[table["method"] == "diffuser"].groupby("seed")["return"].mean()
    assert board_row.split("|")[7].strip().startswith(f"{(100 * (means + 30) / 25).mean():.2f}")


def test_without_references_there_is_no_normalised_column_and_the_reason_is_said(
    tmp_path: Path, stored_run
) -> None:
    run = stored_run(tmp_path / "r")
    md = render_report([load_run(run)], tmp_path / "out").markdown.read_text()
    assert "normalised score" not in md.split("## Across tasks")[0]
    assert "IQM over the seeds of the single task, in raw units" in md
    assert "Tiers are monotone in rank" in md
    assert "### pointmass, CVaR_0.1 (Holm over 6 pairs)" in md  # 4 groups, 3 seeds each: all 6 pairs tested
