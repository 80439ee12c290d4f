"""Nightly regression: pin a baseline, regress against it, exit codes; the acceptance run on the smoke suite."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsbench.errors import UserError
from rsbench.report.regress import exit_code, pin, regress
from rsbench.results import load_run

REPO = Path(__file__).resolve().parents[2]
RSBENCH = Path(sys.executable).with_name("rsbench")


def _stored_run():
    spec = importlib.util.spec_from_file_location(
        "rsbench_tests_report_run", Path(__file__).with_name("test_report.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.stored_run


def test_pin_then_regress_same_run_is_never_a_regression(tmp_path: Path) -> None:
    stored_run = _stored_run()
    run = load_run(stored_run(tmp_path / "base"))
    meta = pin(run, tmp_path / "baselines" / "smoke")
    info = json.loads(meta.read_text())
    assert info["run_id"] == "base" and info["metrics"] == ["mean_return", "cvar_0.1", "violation_rate"]
    rows = regress(run, tmp_path / "baselines" / "smoke")
    assert len(rows) == 4 * 3  # (method, risk) groups x metrics
    assert {r.result.verdict.value for r in rows} <= {"OK", "INCONCLUSIVE"} and exit_code(rows) == 0
    worse = load_run(stored_run(tmp_path / "worse", shift=-30.0))
    rows = regress(worse, tmp_path / "baselines" / "smoke")
    bad = {(r.method, r.risk, r.metric) for r in rows if r.result.verdict.value == "REGRESSION"}
    assert ("diffuser", "neutral", "mean_return") in bad and exit_code(rows) == 1
    assert all(r.result.p_adjusted is not None for r in rows)  # BH over the family


def test_regress_refuses_other_eval_seeds_and_non_baselines(tmp_path: Path) -> None:
    stored_run = _stored_run()
    pin(load_run(stored_run(tmp_path / "base")), tmp_path / "b")
    other = load_run(stored_run(tmp_path / "other", eval_seed=3))
    with pytest.raises(
        UserError, match=r"eval.seed: run and baseline evaluate differently: eval.seed is 3 here and 0"
    ):
        regress(other, tmp_path / "b")
    with pytest.raises(UserError, match="not a baseline"):
        regress(other, tmp_path)


METHOD = "decision_diffuser"  # untrained, its plans are noise on every seed: a consistent, large drop


def _smoke_subset(tmp_path: Path, name: str, **overrides) -> Path:
    data = yaml.safe_load((REPO / "suites" / "smoke.yaml").read_text())
    data["methods"] = {METHOD: {**data["methods"][METHOD], **overrides}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_crippled_method_is_a_regression_against_the_pinned_smoke_baseline(tmp_path: Path) -> None:
    """The pinned `baselines/smoke` came from a real smoke run on the default `pointmass-mixed`; the same
    data is built here, Decision Diffuser is rerun unchanged (exit 0) and with its training cut to one step
    (exit 1)."""
    from rsbench.data.build import build

    build("pointmass-mixed", progress=False)
    results = tmp_path / "results"
    verdicts = {}
    for name, overrides in (("same", {}), ("crippled", {"steps": 1})):
        suite = _smoke_subset(tmp_path, name, **overrides)
        ran = subprocess.run(
            [str(RSBENCH), "run", str(suite), "--results", str(results), "--name", name],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert ran.returncode == 0, ran.stderr
        check = subprocess.run(
            [str(RSBENCH), "regress", str(results / name), "--baseline", str(REPO / "baselines" / "smoke")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        verdicts[name] = (check.returncode, json.loads((results / name / "regression.json").read_text()))
        assert "verdicts written to" in check.stderr
    code, rows = verdicts["same"]
    assert code == 0
    assert {r["verdict"] for r in rows if r["method"] == METHOD} <= {"OK", "INCONCLUSIVE"}
    assert {r["verdict"] for r in rows if r["method"] != METHOD} == {"MISSING"}
    code, rows = verdicts["crippled"]
    assert code == 1
    assert "REGRESSION" in {r["verdict"] for r in rows if r["method"] == METHOD}
