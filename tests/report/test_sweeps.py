"""Swept suites: inference-time sweep points are evaluated without retraining, and a swept run reports
(one group label per method, risk and sweep point, in the leaderboard and every figure's palette)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rsbench.errors import UserError
from rsbench.report.render import render_report
from rsbench.results import load_run
from rsbench.results.tables import group_label, group_labels
from rsbench.suite import load_suite
from rsbench.train.plan import finish_run, new_run
from rsbench.train.trial import run_trial

TINY = {
    "horizon": 8, "dim": 16, "dim_mults": [1, 2], "critic_dim": 16, "inv_hidden": [16],
    "diffusion_steps": 4, "sampling_steps": 4, "sampler": "ddim", "ema_start": 0, "replan_every": 2,
}  # fmt: skip


def _suite(tmp_path: Path, sweep: dict, *, seeds=(0, 1), steps: int = 4, episodes: int = 3) -> Path:
    data = {
        "name": "swept",
        "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed-200ep"}},
        "methods": {"rs": {"method": "rs_diffuser", "config": TINY, "risk": ["neutral", "cvar:0.1"]}},
        "seeds": list(seeds),
        "sweep": sweep,
        "train": {"steps": steps, "batch_size": 8, "checkpoint_every": steps, "log_every": steps},
        "eval": {"episodes": episodes, "alphas": [0.1]},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_group_label_is_method_risk_and_sweep_point() -> None:
    frame = pd.DataFrame(
        {
            "method": ["rs", "rs", "cql"],
            "risk": ["cvar:0.1", "neutral", "neutral"],
            "sweep": ['{"methods.rs.config.candidates": 1}', "{}", float("nan")],
        }
    )
    assert list(group_labels(frame)) == ["rs cvar:0.1 [candidates=1]", "rs neutral", "cql neutral"]
    assert group_label("rs", "neutral", {"methods.rs.config.dim": 8}) == "rs neutral [dim=8]"


def test_inference_time_sweep_keys_do_not_retrain(tmp_path: Path) -> None:
    sweep = {
        "methods.rs.config.dim": [8, 16],  # a training setting: one trial per value
        "methods.rs.config.guidance_scale": [0.0, 1.0],  # inference-time: evaluated, not retrained
        "methods.rs.config.candidates": [1, 4],
    }
    trials = load_suite(_suite(tmp_path, sweep)).trials()
    assert len(trials) == 2 * 2  # dim x seeds
    for t in trials:
        assert set(t.sweep) == {"methods.rs.config.dim"}
        assert t.config["dim"] == t.sweep["methods.rs.config.dim"]
        assert "guidance_scale" not in t.config
        assert sorted((p["methods.rs.config.guidance_scale"], p["methods.rs.config.candidates"]) for p in t.evals) == [
            (0.0, 1), (0.0, 4), (1.0, 1), (1.0, 4)
        ]  # fmt: skip


def test_an_inference_sweep_value_out_of_bounds_is_one_line(tmp_path: Path) -> None:
    path = _suite(tmp_path, {"methods.rs.config.candidates": [0, 4]})
    with pytest.raises(UserError, match=r"sweep.methods.rs.config.candidates=0: config.candidates"):
        load_suite(path).trials()


@pytest.mark.slow
def test_a_swept_suite_runs_and_reports(tmp_path: Path, pointmass_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    sweep = {"methods.rs.config.n_quantiles": [4, 8], "methods.rs.config.guidance_scale": [0.0, 1.0]}
    path = _suite(tmp_path, sweep)
    plan = new_run(load_suite(path), path, results=str(tmp_path / "results"), name="swept", method_files=[])
    for trial in plan.pending:
        assert run_trial(replace(trial, cpu=1, gpu=0), report=lambda *a: None)["status"] == "finished"
    assert (
        finish_run(plan)["finished"] == 4
    )  # 2 n_quantiles x 2 seeds trained; guidance points only evaluated
    run = load_run(tmp_path / "results" / "swept")
    groups = set(group_labels(run.episodes))
    assert len(groups) == 2 * 2 * 2  # n_quantiles x guidance x risk
    assert "rs cvar:0.1 [guidance_scale=1.0, n_quantiles=8]" in groups
    report = render_report([run], tmp_path / "report")  # the old figure palette raised KeyError here
    text = report.markdown.read_text()
    assert (
        "| rs [guidance_scale=1.0, n_quantiles=8] | - | cvar:0.1 | 2 |" in text
    )  # training risk, inference risk
    assert report.figures and all(f.exists() for f in report.figures)
