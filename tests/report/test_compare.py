"""Planned comparisons (``rsbench report --compare A,B``) and the undertrained-run warning."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rsbench.errors import UserError
from rsbench.eval import stats
from rsbench.report.compare import planned_comparisons, resolve, split_pair
from rsbench.report.training import training_warnings
from rsbench.results.tables import with_groups


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for cand, shift in ((1, 0.0), (16, 3.0)):
        for risk, gain in (("neutral", 0.0), ("cvar:0.1", 2.0)):
            for seed in range(5):
                rows.append(
                    {
                        "method": "rs", "task": "pm", "risk": risk, "seed": seed,
                        "sweep": json.dumps({"methods.rs.config.candidates": cand}),
                        "cvar_0.1": -20 + shift + gain + rng.normal(0, 0.5),
                        "violation_rate": 0.4 - 0.1 * gain + rng.normal(0, 0.01),
                        "mean_return": -8 - 0.5 * gain + rng.normal(0, 0.2),
                    }
                )  # fmt: skip
    return with_groups(pd.DataFrame(rows))


def test_group_names_resolve_by_method_risk_and_sweep_values() -> None:
    table = _table()
    assert resolve("rs@cvar:0.1[candidates=1]", table) == "rs cvar:0.1 [candidates=1]"
    with pytest.raises(UserError, match=r"--compare: 'rs@cvar:0.1' names 2 groups of the report"):
        resolve("rs@cvar:0.1", table)
    with pytest.raises(UserError, match="names 0 groups"):
        resolve("rs@cvar:0.1[candidates=2]", table)
    assert split_pair("rs@cvar:0.1[candidates=1,x=2],rs@neutral[candidates=1]") == (
        "rs@cvar:0.1[candidates=1,x=2]",
        "rs@neutral[candidates=1]",
    )
    with pytest.raises(UserError, match="expected A,B"):
        split_pair("rs@cvar:0.1")


def test_planned_comparisons_are_welch_tests_holm_corrected_over_the_planned_family() -> None:
    table = _table()
    pairs = [
        "rs@cvar:0.1[candidates=1],rs@neutral[candidates=1]",
        "rs@cvar:0.1[candidates=16],rs@neutral[candidates=16]",
    ]
    planned = planned_comparisons(table, pairs, [0.05, 0.1])
    cvar = [p for p in planned if p.metric == "cvar_0.1"]
    assert [(p.a, p.b) for p in cvar] == [
        ("rs cvar:0.1 [candidates=1]", "rs neutral [candidates=1]"),
        ("rs cvar:0.1 [candidates=16]", "rs neutral [candidates=16]"),
    ]
    first = cvar[0]
    x = table[table["group"] == first.a].sort_values("seed")["cvar_0.1"].to_numpy()
    y = table[table["group"] == first.b].sort_values("seed")["cvar_0.1"].to_numpy()
    p = stats.welch_t_test(x, y).p_value
    assert first.p == pytest.approx(p) and first.difference == pytest.approx(x.mean() - y.mean())
    assert first.p_holm == pytest.approx(stats.holm([p, cvar[1].p])[0]) and first.family == 2
    assert first.n_a == first.n_b == 5
    assert "Welch p = " in first.sentence() and "Holm over 2 planned" in first.sentence()
    assert {p.metric for p in planned} == {"cvar_0.1", "violation_rate", "mean_return"}


def _curves(values: list[float], method: str = "rs") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"trial": f"{method}-s{s}", "method": method, "task": "pm", "step": 50 * (i + 1), "name": "diffusion_loss",
             "value": v * (1 + 0.01 * s)}
            for s in range(3)
            for i, v in enumerate(values)
        ]
    )  # fmt: skip


def test_a_run_whose_loss_still_falls_is_reported_as_undertrained() -> None:
    falling = _curves([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    flat = _curves([1.0, 0.5, 0.3, 0.2, 0.2, 0.21, 0.2, 0.2], method="cql")
    (line,) = training_warnings(pd.concat([falling, flat]))
    assert line.startswith("rs on pm looks undertrained: after 400 steps")
    assert "diffusion_loss -36%" in line
    sparse = training_warnings(_curves([1.0, 0.5, 0.3]))
    assert sparse and "too few to tell" in sparse[0]
    assert training_warnings(pd.DataFrame()) == []


def test_a_loss_that_crosses_zero_is_not_called_sparsely_logged() -> None:
    # An actor objective (negative, flat) logged at 8 points beside a flat critic loss: nothing to warn about.
    actor = _curves([-1.0, -2.0, -3.0, -3.1, -3.0, -3.1, -3.0, -3.0], method="cql").assign(name="actor_loss")
    critic = _curves([1.0, 0.5, 0.3, 0.2, 0.2, 0.21, 0.2, 0.2], method="cql")
    assert training_warnings(pd.concat([actor, critic])) == []


def test_report_cli_states_planned_comparisons_and_rejects_unknown_groups(tmp_path, stored_run) -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from rsbench import cli

    run = stored_run(tmp_path / "results" / "run-a")
    runner = CliRunner()
    ok = runner.invoke(
        cli.app,
        [
            "report",
            str(run),
            "--out",
            str(tmp_path / "rep"),
            "--compare",
            "rs_diffuser@cvar:0.1,rs_diffuser@neutral",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "planned: rs_diffuser cvar:0.1 vs rs_diffuser neutral on pointmass: CVaR_0.1" in ok.output
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "## Planned comparisons" in md and "Holm over 1 planned" in md
    rsbench = Path(sys.executable).with_name("rsbench")  # main() turns a UserError into one line, exit 2
    bad = subprocess.run(
        [
            str(rsbench),
            "report",
            str(run),
            "--out",
            str(tmp_path / "rep2"),
            "--compare",
            "nope,rs_diffuser@neutral",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "rsbench: error: --compare: 'nope' names 0 groups of the report (groups: diffuser neutral; iqn cvar:0.1; "
        "rs_diffuser cvar:0.1; rs_diffuser neutral)"
    ]
