"""The run's progress display off a terminal: what a log of a chunk that trains for hours shows."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from rsbench.suite import load_suite
from rsbench.train.progress import LiveTable

SMOKE = Path(__file__).parents[2] / "suites" / "smoke.yaml"


def test_a_log_gets_a_line_per_tenth_of_the_steps_then_evaluating_then_finished() -> None:
    trial = replace(load_suite(SMOKE).trials()[0], pack=1)  # one Tune unit per trial
    out = io.StringIO()
    table = LiveTable([trial], console=Console(file=out, force_terminal=False, width=200))
    unit = SimpleNamespace(config={"trial": {"id": trial.id}})
    table.on_trial_start(0, [], unit)
    steps = [trial.steps * k // 40 for k in range(1, 41)]  # a report every 40th of the steps
    for step in steps:
        table.on_trial_result(0, [], unit, {"step": step, "loss": 0.5})
    table.on_trial_result(0, [], unit, {"step": trial.steps, "loss": 0.5})  # evaluation reports again
    table.on_trial_result(0, [], unit, {"trial_status": "finished"})
    table.on_trial_complete(0, [], unit)
    lines = out.getvalue().splitlines()
    training = [line for line in lines if line.startswith("training: ")]
    assert [line.split()[2] for line in training] == [
        f"{trial.steps * k // 10}/{trial.steps}" for k in range(1, 10)
    ]
    assert all("ETA " in line for line in training)
    assert sum(line.startswith(f"evaluating: {trial.id} (trained in ") for line in lines) == 1
    assert sum(line.startswith(f"finished: {trial.id} (") for line in lines) == 1


def test_a_terminal_gets_the_live_table_and_no_progress_lines() -> None:
    trial = load_suite(SMOKE).trials()[0]
    out = io.StringIO()
    table = LiveTable([trial], console=Console(file=out, force_terminal=True, width=200))
    table._log_progress(trial.id, {"status": "training", "step": 5, "total": 10, "started": 1.0})
    assert "training: " not in out.getvalue()


def _started_8000_step_trial(monkeypatch):
    """An 8000-step trial started at t = 100 s on a clock the test moves (``now[0]``), logging to ``out``."""
    import rsbench.train.progress as progress

    trial = replace(load_suite(SMOKE).trials()[0], pack=1, steps=8000)
    out = io.StringIO()
    table = LiveTable([trial], console=Console(file=out, force_terminal=False, width=200))
    unit = SimpleNamespace(config={"trial": {"id": trial.id}})
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    table.on_trial_start(0, [], unit)
    return trial, table, out, unit, now


def test_a_resumed_trials_eta_counts_only_the_steps_trained_in_this_run(monkeypatch) -> None:
    """Resumed at 2500 of 8000 steps, 750 steps in 7 minutes: 4750 steps left take about 44 minutes, not the
    10 that dividing the elapsed time by all 3250 steps gave."""
    _, table, out, unit, now = _started_8000_step_trial(monkeypatch)
    now[0] = 110.0
    table.on_trial_result(0, [], unit, {"step": 2500, "loss": 0.5})  # the first report after restoring
    now[0] = 530.0
    table.on_trial_result(0, [], unit, {"step": 3250, "loss": 0.5})
    (line,) = [x for x in out.getvalue().splitlines() if x.startswith("training: ") and "3250/8000" in x]
    assert line.endswith("(7:10, ETA 44:20)")  # 420 s for 750 steps: 4750 steps in 2660 s
    table.on_trial_recover(0, [], unit)  # a retry restores the 2500-step checkpoint 100 s later
    now[0] = 630.0
    table.on_trial_result(0, [], unit, {"step": 2500, "loss": 0.5})
    now[0] = 1050.0
    table.on_trial_result(0, [], unit, {"step": 4000, "loss": 0.5})
    assert out.getvalue().splitlines()[-1].endswith("ETA 18:40)")  # 1500 steps in 420 s: 4000 left in 1120 s


def test_a_packs_evaluation_logs_each_part_with_an_eta(monkeypatch) -> None:
    """A planner pack evaluates for hours after its last training line: each stored part (a risk setting at a
    sweep point, of each seed) gets a line, with the ETA at the rate of the parts so far."""
    trial, table, out, unit, now = _started_8000_step_trial(monkeypatch)
    table.on_trial_result(0, [], unit, {"step": 8000, "loss": 0.5})  # the last checkpoint: evaluation begins
    for done in (1, 2):
        now[0] += 600.0
        table.on_trial_result(0, [], unit, {"step": 8000, "evaluated": done, "to_evaluate": 6})
    lines = [x for x in out.getvalue().splitlines() if x.startswith("evaluated: ")]
    assert lines == [
        f"evaluated: {trial.id} 1/6 parts (10:00, ETA 50:00)",
        f"evaluated: {trial.id} 2/6 parts (20:00, ETA 40:00)",
    ]
    assert "eval 2/6" in _rendered(table)


def _rendered(table: LiveTable) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(table._table())
    return out.getvalue()


def test_trials_and_packs_report_each_evaluated_part() -> None:
    from rsbench.train.trial import _eval_reporter, eval_parts

    trial = load_suite(SMOKE).trials()[0]
    reports: list[dict] = []
    on_part = _eval_reporter(lambda metrics, checkpoint: reports.append(metrics), trial.steps, 4)
    on_part()
    on_part()
    assert [(r["evaluated"], r["to_evaluate"], r["step"]) for r in reports] == [
        (1, 4, trial.steps),
        (2, 4, trial.steps),
    ]
    assert eval_parts(trial) == 4  # the smoke RS-Diffuser: 2 guidance scales x 2 risk settings
