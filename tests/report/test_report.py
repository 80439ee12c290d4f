"""`rsbench report`: a stored run -> index.html + leaderboard.md + figures, checked in headless Chromium."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from rsbench.errors import UserError
from rsbench.report.render import render_report
from rsbench.results import load_run

REPO = Path(__file__).resolve().parents[2]
GROUPS = {"rs_diffuser": ["neutral", "cvar:0.1"], "diffuser": ["neutral"], "iqn": ["cvar:0.1"]}


def test_report_renders_and_opens_cleanly_in_chromium(tmp_path: Path, browser, stored_run) -> None:
    run = stored_run(tmp_path / "results" / "smoke-test")
    report = render_report([load_run(run)], tmp_path / "reports" / "smoke-test")
    assert report.index.is_file() and report.markdown.is_file()
    assert {p.name for p in report.figures} >= {
        "pointmass-ecdf.png",
        "pointmass-frontier.png",
        "pointmass-cvar-alpha.png",
        "pointmass-violations.png",
        "pointmass-curves.png",
        "pointmass-calibration.png",
    }
    html = report.index.read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: it opens offline
    screenshot = Path(__file__).resolve().parents[2] / "reports" / "test-screenshots" / "report.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page = browser.check_page(report.index, tmp_path / "report.png")
    shutil.copy(tmp_path / "report.png", screenshot)  # kept as test output (reports/ is git-ignored)
    assert page.console_errors == []
    assert page.images == len(report.figures) and page.broken_images == []
    assert page.table_rows["leaderboard-pointmass"] == 4  # one row per (method, risk setting) evaluated
    assert "smoke-test" in page.title


def test_leaderboard_markdown_has_ranked_rows_findings_and_provenance(tmp_path: Path, stored_run) -> None:
    run = stored_run(tmp_path / "results" / "r")
    report = render_report([load_run(run)], tmp_path / "out")
    md = report.markdown.read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and "pointmass" not in line]
    ranked = [line for line in rows if line.split("|")[1].strip().isdigit()]
    assert len(ranked) == 4
    header = next(line for line in rows if line.startswith("| rank"))
    assert header.startswith("| rank | tier | method | training risk | inference risk | seeds |")
    risks = {tuple(c.strip() for c in line.split("|")[3:6]) for line in ranked}
    # smoke.yaml: IQN trained for cvar:0.1; RS-Diffuser's risk is chosen at inference; Diffuser learns the mean
    assert risks == {
        ("iqn", "cvar:0.1", "cvar:0.1"),
        ("rs_diffuser", "-", "neutral"),
        ("rs_diffuser", "-", "cvar:0.1"),
        ("diffuser", "neutral", "neutral"),
    }
    assert "Training risk: the risk level a method is trained for" in md
    assert "has a higher CVaR_0.1 than" in md and "(Holm)" in md
    assert "## Provenance" in md and "suite smoke" in md
    # the smoke suite's budget deviations from Diffuser's reference defaults, in the provenance footer
    assert "deviations from the reference defaults: " in md and "; diffuser: " in md
    assert "candidates 8 (reference 64)" in md
    assert "decision_diffuser: inv_hidden [64, 64] (reference [256, 256]), lr 0.001 (reference 0.0002)" in md
    assert "fewer than 5 seeds" in md


def test_a_suites_distortion_is_a_leaderboard_column(tmp_path: Path, stored_run) -> None:
    run = stored_run(tmp_path / "results" / "r", distortions=("wang:-0.7",))
    md = render_report([load_run(run)], tmp_path / "out").markdown.read_text()
    header = next(line for line in md.splitlines() if "CVaR_0.1" in line and line.startswith("|"))
    assert "wang:-0.7 risk" in header
    plain = render_report([load_run(stored_run(tmp_path / "results" / "p"))], tmp_path / "o2")
    assert "wang:-0.7" not in plain.markdown.read_text()


def test_runs_merge_and_protocol_mismatch_is_one_line(tmp_path: Path, stored_run) -> None:
    a = load_run(stored_run(tmp_path / "a"))
    b = load_run(stored_run(tmp_path / "b", shift=-5.0))
    report = render_report([a, b], tmp_path / "merged")
    md = report.markdown.read_text()
    assert "rs_diffuser@a" in md and "rs_diffuser@b" in md  # the same label in two runs is told apart
    c = load_run(stored_run(tmp_path / "c", eval_seed=7))
    with pytest.raises(UserError, match=r"cannot merge runs a and c: eval.seed is 0 in a and 7 in c"):
        render_report([a, c], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_report_cli_prints_where_it_wrote(tmp_path: Path, capsys, monkeypatch, stored_run) -> None:
    from rsbench import cli

    run = stored_run(tmp_path / "r")
    monkeypatch.setattr(sys, "argv", ["rsbench", "report", str(run), "--out", str(tmp_path / "rep")])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code in (0, None)
    err = capsys.readouterr().err
    assert f"report written to {tmp_path / 'rep' / 'index.html'}" in " ".join(err.split())
    monkeypatch.setattr(sys, "argv", ["rsbench", "report", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2 and "not an rsbench run" in capsys.readouterr().err
    assert json.loads((run / "manifest.json").read_text())["run_id"] == "r"


_FIT = """
const page = document.documentElement;
return {
  viewport: window.innerWidth,
  page: page.scrollWidth,
  boards: Array.from(document.querySelectorAll("table.leaderboard")).map(t => ({
    box: t.parentElement.clientWidth,
    inner: t.parentElement.scrollWidth,
    table: t.scrollWidth,
    overflow: getComputedStyle(t.parentElement).overflowX,
  })),
};
"""


@pytest.mark.browser
def test_leaderboard_is_readable_at_any_width(tmp_path: Path, browser, monkeypatch, stored_run) -> None:
    """The page never gets wider than the window: at 1400 px the leaderboard fits its box; narrower, it scrolls
    inside it with every column reachable (600 px)."""
    import rsbench.report.figures as figures

    monkeypatch.setattr(figures, "render_figures", lambda *args, **kwargs: [])  # the tables are the point
    run = stored_run(tmp_path / "results" / "wide")
    report = render_report([load_run(run)], tmp_path / "reports" / "wide")
    for width in (1400, 600):
        fit = browser.check_page(report.index, tmp_path / f"{width}.png", width=width, probe=_FIT).probed
        assert fit["page"] <= fit["viewport"], (width, fit)  # no horizontal scroll of the whole page
        assert fit["boards"], fit
        for board in fit["boards"]:
            assert board["box"] <= fit["viewport"]
            assert board["inner"] >= board["table"]  # the whole table lies inside its box ...
            if board["table"] > board["box"]:  # ... and what does not fit scrolls there
                assert board["overflow"] in ("auto", "scroll"), (width, board)
            if width == 1400:  # a desktop window shows every column at once (headers wrap, intervals too)
                assert board["table"] <= board["box"], board
