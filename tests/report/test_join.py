"""Joining a pinned leaderboard (issue 24) on a tiny version end to end: a pin of one method's run, a pinned
trial reproduced with ``--only``, a one-file method checked against the pin before training, run, and ranked
among the pinned ones with cost columns; then the same through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rsbench.errors import UserError
from rsbench.methods import load_method_file
from rsbench.report.regress import pin
from rsbench.report.render import render_report
from rsbench.results import load_run
from rsbench.results.pins import check_against
from rsbench.results.tables import per_seed
from rsbench.suite import load_suite
from rsbench.train.plan import finish_run, new_run
from rsbench.train.trial import run_trial

REPO = Path(__file__).resolve().parents[2]
BC = REPO / "examples" / "bc_method.py"


@pytest.fixture(autouse=True)
def _data(pointmass_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    load_method_file(BC)


def tiny_suite(where: Path, name: str, methods: dict, **eval_block) -> Path:
    """A suite of one point-mass task, 2 seeds and a few steps and episodes: the protocol the pin keeps."""
    data = {
        "name": name,
        "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed-200ep"}},
        "methods": methods,
        "seeds": [0, 1],
        "train": {"steps": 20, "batch_size": 16, "checkpoint_every": 20, "log_every": 10},
        "eval": {"episodes": 6, "alphas": [0.25], **eval_block},
    }
    where.write_text(yaml.safe_dump(data))
    return where


CQL = {"cql": {"method": "cql", "config": {"hidden": [16], "cql_n_actions": 2}}}
MINE = {"bc": {"method": "bc_example", "config": {"hidden": [16]}}}


def _run(suite_path: Path, results: Path, name: str, only: list[str] = (), files: list[str] = ()) -> Path:
    """``rsbench run`` without Ray: plan the run (``--only`` included), run its pending trials in-process."""
    plan = new_run(
        load_suite(suite_path),
        suite_path,
        results=str(results),
        name=name,
        method_files=list(files),
        only=only,
    )
    for trial in plan.pending:
        assert run_trial(trial, report=lambda metrics, checkpoint: None)["status"] == "finished"
    finish_run(plan)
    return plan.store.root.local_path()


def test_a_method_file_joins_a_pinned_leaderboard_and_a_pinned_trial_reproduces(tmp_path: Path) -> None:
    results, to = tmp_path / "results", tmp_path / "baselines" / "tiny"
    base = tiny_suite(tmp_path / "tiny.yaml", "tiny", CQL)
    pin(load_run(_run(base, results, "base")), to)
    pinned = per_seed(load_run(to).episodes, [0.25]).set_index("trial")

    # Reproduce a pinned number: the same trial alone, on the same machine, lands on its pinned metrics.
    again = load_run(_run(base, results, "again", only=["cql-pm-s1"]))
    assert list(again.trials["trial"]) == ["cql-pm-s1"]
    rerun = per_seed(again.episodes, [0.25]).set_index("trial")
    pd.testing.assert_frame_equal(rerun.loc[["cql-pm-s1"]], pinned.loc[["cql-pm-s1"]], check_exact=True)
    pin(again, to)  # the re-run replaces the pinned trial: nothing moves
    chunks = json.loads((to / "baseline.json").read_text())["chunks"]
    assert [(c["run_id"], c["trials"]) for c in chunks] == [("base", ["cql-pm-s0"]), ("again", ["cql-pm-s1"])]
    pd.testing.assert_frame_equal(per_seed(load_run(to).episodes, [0.25]).set_index("trial"), pinned)

    # A new method: checked against the pin before training, then run and ranked among the pinned ones.
    mine = tiny_suite(tmp_path / "mine.yaml", "mine", MINE)
    shown = check_against(load_suite(mine).to_dict(), to, source=mine)
    assert shown["methods"] == ["cql"] and shown["protocol"]["eval.episodes"] == 6
    other = tiny_suite(tmp_path / "other.yaml", "mine", MINE, episodes=8)
    with pytest.raises(UserError) as info:
        check_against(load_suite(other).to_dict(), to, source=other)
    assert str(info.value) == (
        f"{other}: eval.episodes: does not match the protocol of {to}: eval.episodes is 8 in {other} and 6 in "
        f"{to} (its numbers would not be comparable with the pinned ones)"
    )
    report = render_report(
        [load_run(_run(mine, results, "mine", files=[str(BC)])), load_run(to)], tmp_path / "r"
    )
    md = report.markdown.read_text()
    rows = {
        line.split("|")[3].strip(): line
        for line in md.splitlines()
        if line.startswith("| ") and "tier" not in line
    }
    assert {"bc", "cql"} <= set(rows)
    header = next(line for line in md.splitlines() if line.startswith("| rank"))
    assert header.rstrip(" |").endswith("train s/seed | steps/s | ms/act/env")
    for label in ("bc", "cql"):  # every cost cell filled from the trial records, pinned ones included
        cells = [c.strip() for c in rows[label].strip(" |").split("|")][-3:]
        assert all(float(c) > 0 for c in cells), rows[label]
    assert "ms/act/env" in report.index.read_text()


def test_the_commands_of_benchmark_your_method(tmp_path: Path, run_cli) -> None:
    """What docs/benchmark-your-method.md shows, through the CLI: pin, validate --against, report RUN PIN;
    each mismatch one line, exit 2."""
    results, to = tmp_path / "results", tmp_path / "baselines" / "tiny"
    base = _run(tiny_suite(tmp_path / "tiny.yaml", "tiny", CQL), results, "base")
    code, err = run_cli(["baseline", "pin", str(base), "--to", str(to)])
    assert code == 0 and f"pinned run base into {to}: chunk 1 (run base): 2 trials;" in err, err
    mine = tiny_suite(tmp_path / "mine.yaml", "mine", MINE)
    code, err = run_cli(["validate", str(mine), "--method-file", str(BC), "--against", str(to)])
    assert code == 0 and f"protocol matches {to}" in " ".join(err.split()), err
    other = tiny_suite(tmp_path / "other.yaml", "mine", MINE, seed=3)
    code, err = run_cli(["validate", str(other), "--method-file", str(BC), "--against", str(to)])
    assert code == 2 and err.count("\n") == 1 and f"{other}: eval.seed: does not match the protocol of" in err
    code, err = run_cli(["validate", str(mine), "--method-file", str(BC), "--against", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and "--against: not a pinned baseline" in err
    run = _run(mine, results, "mine", files=[str(BC)])
    code, err = run_cli(["report", str(run), str(to), "--out", str(tmp_path / "rep")])
    assert code == 0 and "report written to" in err, err
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "| bc |" in md and "| cql |" in md and "(pinned): chunk base" in md
    stray = _run(other, results, "stray", files=[str(BC)])
    code, err = run_cli(["report", str(stray), str(to), "--out", str(tmp_path / "bad")])
    assert code == 2 and err.count("\n") == 1 and "eval.seed: cannot merge runs stray and tiny" in err
    assert not (tmp_path / "bad").exists()
