"""`rsbench history` on synthetic nights written as real run directories (tests/report/nights.py): a planted
drop found at its night with its commits, series breaks, notes, exit codes, the rolling baseline, the page."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rsbench import cli
from rsbench.errors import UserError, exit_codes_help
from rsbench.report.history import (
    History,
    _passing_nights,
    build_history,
    nightly_verdicts,
    render_history,
    rolling_baseline,
)
from rsbench.report.regress import pin, regress
from rsbench.results import load_run
from rsbench.results.fs import locate

HERE = Path(__file__).resolve().parent
SCRIPT = Path(sys.executable).parent / "rsbench"
DROP_AT, NIGHTS = 20, 30
runner = CliRunner()


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"rsbench_tests_report_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


nights = _module("nights")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 nights; diffuser's returns drop by 2 from night 20 on; one trial of night 7 failed."""
    root = tmp_path_factory.mktemp("history") / "results"
    nights.write_history(
        root, NIGHTS, shift_from=(DROP_AT, {"diffuser": -2.0}), n7={"failed": ("iqn-pointmass-s1",)}
    )
    return root


@pytest.fixture(scope="module")
def history(planted: Path) -> History:
    return build_history([str(planted)])


def test_planted_drop_is_found_at_its_night_with_its_commits(history: History) -> None:
    changes = history.changes()
    assert changes, "the planted drop was not found"
    assert {c["group"] for c in changes} == {"diffuser neutral"}  # the other methods show no change
    returns = next(c for c in changes if c["metric"] == "mean_return")
    after, before = returns["first_after"], returns["last_before"]
    assert abs(after["index"] - DROP_AT) <= 1 and before["index"] == after["index"] - 1
    assert after["commit"] == nights.commit_of(after["index"])[:10]
    assert before["commit"] == nights.commit_of(before["index"])[:10]
    assert after["run"] == f"nightly-202611{after['index'] + 1:02d}-030000"
    assert returns["shift_low"] < -2.0 < returns["shift_high"] < 0 and returns["direction"] == "worse"
    assert not history.change_in_newest_night()
    assert any("nightly-20261108-030000: 1 failed of 15 trials" in n for n in history.notes)
    series = next(s for s in history.series if s.group == "iqn cvar:0.1" and s.metric == "mean_return")
    assert int(np.isfinite(series.values[7]).sum()) == 4  # the failed seed is a gap, not a break


def test_json_has_the_changes_and_exit_1_for_a_change_on_the_newest_night(
    planted: Path, tmp_path: Path
) -> None:
    """A 31st night where iqn drops too: the change is on the newest night (exit 1, the nightly alert), the
    diffuser drop of night 20 is still there, and --json prints the page's JSON with its `changes`."""
    extra = tmp_path / "extra"
    nights.write_night(extra, NIGHTS, shift={"diffuser": -2.0, "iqn": -4.0})
    out = tmp_path / "page"
    result = runner.invoke(cli.app, ["history", str(planted), str(extra), "--out", str(out), "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["change_in_newest_night"] and len(data["nights"]) == NIGHTS + 1
    flagged = [c for c in data["changes"] if c["newest_night"]]
    assert {c["group"] for c in flagged} == {"iqn cvar:0.1"}
    assert flagged[0]["first_after"]["commit"] == nights.commit_of(NIGHTS)[:10]
    assert {c["first_after"]["index"] for c in data["changes"] if c["group"] == "diffuser neutral"} <= {
        19,
        20,
        21,
    }
    assert data["nights"][0]["commit"] == nights.commit_of(0)[:10]
    assert json.loads((out / "history.json").read_text())["changes"] == data["changes"]


def test_a_new_protocol_or_suite_starts_a_new_series_and_gaps_are_named(
    planted: Path, tmp_path: Path
) -> None:
    """Three nights under eval_protocol 2 after the 30, the first after a two-night gap: a new series (no
    change looked for across it), the break and the missing nights named on the page."""
    later = tmp_path / "later"
    for k in (NIGHTS + 2, NIGHTS + 3, NIGHTS + 4):
        nights.write_night(later, k, shift={"rs_diffuser": 5.0}, manifest_edit={"eval_protocol": 2})
    history = build_history([str(planted), str(later)])
    assert [n.series for n in history.nights] == [0] * NIGHTS + [1] * 3
    assert any(
        "new series from nightly-20261203-030000 (eval_protocol is 1 in nightly-20261130-030000 and 2" in n
        for n in history.notes
    )
    assert any(
        "2 night(s) missing between nightly-20261130-030000 and nightly-20261203-030000" in n
        for n in history.notes
    )
    # rs_diffuser's +5 sits entirely in the new series: never reported as a change across the break.
    assert {c["group"] for c in history.changes()} == {"diffuser neutral"}


def test_several_suites_need_a_choice_and_usage_errors_are_one_line(planted: Path, tmp_path: Path) -> None:
    other = tmp_path / "mixed"
    shutil.copytree(planted / "nightly-20261101-030000", other / "nightly-20261101-030000")
    nights.write_night(other, 1, name="smoke")
    with pytest.raises(UserError, match=r"runs of several suites \(nightly, smoke\): pick one with --suite"):
        build_history([str(other)])
    assert [n.run.run_id for n in build_history([str(other)], suite="smoke").nights] == [
        "smoke-20261102-030000"
    ]
    with pytest.raises(UserError, match=r"--suite: no runs of suite 'locomotion' \(found: nightly, smoke\)"):
        build_history([str(other)], suite="locomotion")
    if not SCRIPT.is_file():
        pytest.skip("console script not installed")
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [str(SCRIPT), "history", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"rsbench: error: {tmp_path / 'nowhere'}: RUN_OR_DIR: expected a run directory or a directory of runs"
    ]


def test_verdicts_per_night_against_the_pinned_baseline(planted: Path, tmp_path: Path) -> None:
    pin(load_run(planted / "nightly-20261101-030000"), tmp_path / "pinned")
    runs = [str(planted / f"nightly-202611{d:02d}-030000") for d in (6, 26)]  # single runs as arguments
    history = build_history(runs, baseline=tmp_path / "pinned")
    diffuser = ("pointmass", "diffuser", "neutral", "{}", "mean_return")
    assert history.nights[0].verdicts[diffuser] in ("OK", "INCONCLUSIVE")
    assert history.nights[1].verdicts[diffuser] == "REGRESSION"
    assert history.nights[1].verdicts == {
        k: r.result.verdict.value
        for r in regress(history.nights[1].run, tmp_path / "pinned")
        for k in [(r.task, r.method, r.risk, str(r.sweep), r.metric)]
    }


def test_rolling_baseline_uses_the_last_nights_that_passed(planted: Path, tmp_path: Path) -> None:
    """Night 25's rolling baseline of 5: nights 20-24, all after the drop, so the drop is not a regression
    against it while it is against the pinned night 0; night 7 (a failed trial) never enters a baseline."""
    run = load_run(planted / "nightly-20261126-030000")
    table, meta, used = rolling_baseline(run, str(planted), 5)
    assert used == [f"nightly-202611{d:02d}-030000" for d in range(21, 26)]
    assert table.groupby(["method", "risk"])["seed"].nunique().tolist() == [5, 5, 5]  # seeds stay the unit
    assert meta["nights"] == used
    passed = [loc.name for loc in _passing_nights(run, str(planted))]
    assert "nightly-20261108-030000" not in passed and len(passed) == 24
    pin(load_run(planted / "nightly-20261101-030000"), tmp_path / "pinned")
    out = tmp_path / "verdicts"
    out.mkdir()
    args = ["regress", str(planted / "nightly-20261126-030000"), "--baseline", str(tmp_path / "pinned")]
    result = runner.invoke(cli.app, [*args, "--history", str(planted), "--last", "5", "--out", str(out)])
    assert result.exit_code == 1, result.output  # the pinned baseline sees the drop
    pinned = json.loads((out / "regression.json").read_text())
    rolling = json.loads((out / "regression-rolling.json").read_text())
    key = lambda r: (r["method"], r["metric"])  # noqa: E731
    assert {key(r): r["verdict"] for r in pinned}[("diffuser", "mean_return")] == "REGRESSION"
    assert {key(r): r["verdict"] for r in rolling}[("diffuser", "mean_return")] != "REGRESSION"
    assert "rolling baseline of 5 night(s)" in (out / "regression-rolling.md").read_text()
    with pytest.raises(UserError, match="no earlier night of suite 'nightly'"):
        rolling_baseline(load_run(planted / "nightly-20261101-030000"), str(planted), 3)


def test_the_first_night_is_judged_by_the_pinned_baseline_alone(planted: Path, tmp_path: Path) -> None:
    """No night before the first: nightly_verdicts notes that there is no rolling baseline yet and writes
    the pinned verdicts alone (what `rsbench regress --baseline B --history H` does on a suite's first night)."""
    first = load_run(planted / "nightly-20261101-030000")
    pin(first, tmp_path / "pinned")
    notes: list[str] = []
    judged = nightly_verdicts(
        first, locate(tmp_path), baseline=tmp_path / "pinned", history=str(planted), note=notes.append
    )
    assert [v.name for v in judged] == ["regression"] and judged[0].exit_code == 0
    assert len(notes) == 1 and notes[0].startswith("note: no rolling baseline yet")
    assert json.loads((tmp_path / "regression.json").read_text()) == judged[0].to_dict()["verdicts"]
    assert not (tmp_path / "regression-rolling.md").exists()
    with pytest.raises(ValueError, match="a pinned baseline, a history or both"):
        nightly_verdicts(first, locate(tmp_path))


@pytest.mark.browser
def test_history_page_in_a_browser(history: History, tmp_path: Path) -> None:
    browser = _module("browser")
    browser.require_chromium()
    report = render_history(history, tmp_path / "page")
    html = report.index.read_text()
    assert "http://" not in html and "https://" not in html
    page = browser.check_page(report.index, tmp_path / "history.png")
    assert page.console_errors == [] and page.broken_images == []
    assert page.images == len(report.figures) == 3
    assert page.table_rows["changes"] >= 1 and page.table_rows["nights"] == NIGHTS
    assert page.table_rows["series-pointmass-mean_return"] == NIGHTS
    keep = HERE.parents[1] / "reports" / "test-screenshots" / "history.png"
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "history.png", keep)  # kept as test output (reports/ is git-ignored)


def test_history_is_in_every_commands_exit_code_table() -> None:
    """The exit-code table promises 1 for a change point in the newest night: the command keeping it exists."""
    assert "change point in the newest night (history)" in exit_codes_help()
    result = runner.invoke(cli.app, ["history", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "change point" in result.output and "Exit codes:" in result.output


def test_the_page_warns_when_whole_nights_move_together(history: History) -> None:
    """The detector's model check: series whose nights share a shift beyond seed noise are named in a note;
    the planted history (independent seed noise, one real change) has none."""
    from rsbench.report.history import Series, _night_effect_note

    assert not any("whole nights move together" in n for n in history.notes)
    rng = np.random.default_rng(0)

    def series(metric: str, night_sd: float) -> Series:
        values = rng.normal(size=(30, 5)) + rng.normal(0, night_sd, size=(30, 1))
        return Series(0, "pointmass", "cql", "neutral", "{}", metric, list(range(30)), list(range(5)), values)

    notes = _night_effect_note([series("mean_return", 1.0), series("violation_rate", 0.0)], 0.05)
    assert len(notes) == 1 and "in 1 of 2 series (cql neutral mean return on pointmass;" in notes[0]
