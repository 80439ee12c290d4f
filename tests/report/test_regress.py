"""Nightly regression: pin a baseline, regress against it, exit codes; the acceptance run on the smoke suite."""

from __future__ import annotations

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


def test_pin_then_regress_same_run_is_never_a_regression(tmp_path: Path, stored_run) -> None:
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


def test_regress_refuses_other_eval_seeds_and_non_baselines(tmp_path: Path, stored_run) -> None:
    pin(load_run(stored_run(tmp_path / "base")), tmp_path / "b")
    other = load_run(stored_run(tmp_path / "other", eval_seed=3))
    with pytest.raises(
        UserError,
        match=r"eval.seed: run and baseline evaluate differently: eval.seed is 3 in other and 0 in the baseline",
    ):
        regress(other, tmp_path / "b")
    with pytest.raises(UserError, match="not a baseline"):
        regress(other, tmp_path)


METHOD = "decision_diffuser"  # untrained, its plans are noise on every seed: a consistent, large drop


def _smoke_subset(tmp_path: Path, name: str, **overrides) -> Path:
    data = yaml.safe_load((REPO / "suites" / "smoke.yaml").read_text())
    data["methods"] = {METHOD: {**data["methods"][METHOD], **overrides}}
    data.pop("sweep", None)  # the smoke sweep is RS-Diffuser's
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _pinned_protocol() -> int:
    from rsbench.results.protocol import eval_protocol

    meta = json.loads((REPO / "baselines" / "smoke" / "baseline.json").read_text())
    return eval_protocol(meta.get("manifest") or ((meta.get("chunks") or [{}])[0].get("manifest") or {}))


@pytest.mark.slow
@pytest.mark.skipif(
    _pinned_protocol() != 2,
    reason="baselines/smoke predates eval_protocol 2: re-pin it from a clean smoke run",
)
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


# ------------------------------------------------------------------------------------------------ issue 15


def _poison(run_dir: Path, trial: str = "diffuser-pointmass-s1", risk: str = "neutral") -> None:
    """Make one episode return of ``trial`` NaN, as a diverged policy would."""
    import pandas as pd

    from rsbench.results import RunStore
    from rsbench.results.store import risk_slug

    part = run_dir / "episodes" / trial / f"{risk_slug(risk)}.parquet"
    frame = pd.read_parquet(part)
    frame.loc[3, "return"] = float("nan")
    RunStore(run_dir).write_episodes(trial, risk, frame)


def test_nan_episode_return_is_dropped_and_named_not_a_crash(tmp_path: Path, stored_run) -> None:
    pin(load_run(stored_run(tmp_path / "base")), tmp_path / "b")
    _poison(stored_run(tmp_path / "nan"))
    rows = regress(load_run(tmp_path / "nan"), tmp_path / "b")
    row = next(r for r in rows if (r.method, r.risk, r.metric) == ("diffuser", "neutral", "mean_return"))
    assert row.dropped == ("run diffuser-pointmass-s1 (nan)",)
    assert row.result.n_candidate == 2 and "dropped non-finite: run diffuser-pointmass-s1" in row.reason
    assert exit_code(rows) == 0  # exit code 1 means REGRESSION only


def test_nan_baseline_gives_a_finite_margin_and_margin_zero_works(tmp_path: Path, stored_run) -> None:
    import numpy as np

    from rsbench.report.regress import default_margin

    assert default_margin("mean_return", np.array([np.nan, -20.0, np.nan])) == 2.0
    assert default_margin("mean_return", np.array([np.nan, np.nan])) == 0.1
    run = load_run(stored_run(tmp_path / "base"))
    meta_path = pin(run, tmp_path / "b")
    meta = json.loads(meta_path.read_text())
    for per_group in meta["margins"].values():
        for key in per_group:
            per_group[key] = 0
    meta_path.write_text(json.dumps(meta))
    rows = regress(run, tmp_path / "b")  # the README says margins live here; 0 means "any drop counts"
    assert {r.result.margin for r in rows} == {0.0}
    meta["margins"]["mean_return"]["diffuser|pointmass|neutral|{}"] = "ten"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(
        UserError, match=r"baseline.json: margins.mean_return.diffuser\|pointmass\|neutral\|\{\}"
    ):
        regress(run, tmp_path / "b")


def test_markdown_states_the_ci_level_of_alpha_and_the_family_mde(tmp_path: Path, stored_run) -> None:
    from rsbench.report.regress import markdown

    run = load_run(stored_run(tmp_path / "base"))
    pin(run, tmp_path / "b")
    text = markdown(regress(run, tmp_path / "b", alpha=0.1), run, tmp_path / "b")
    assert "effect [80% CI]" in text and "90% CI" not in text
    assert "BH over 12 tests" in text and f"level {0.1 / 12:.3g} = alpha / 12" in text


def test_corrupted_results_part_is_one_line_naming_the_file(run_cli, tmp_path: Path, stored_run) -> None:
    pin(load_run(stored_run(tmp_path / "base")), tmp_path / "b")
    part = tmp_path / "base" / "episodes" / "iqn-pointmass-s0" / "cvar-0.1.parquet"
    part.write_bytes(part.read_bytes()[: len(part.read_bytes()) // 2])  # a truncated write
    code, err = run_cli(["regress", str(tmp_path / "base"), "--baseline", str(tmp_path / "b")])
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and str(part) in err and "not a valid parquet file" in err


def test_hand_edited_baseline_errors_are_one_line_exit_2(run_cli, tmp_path: Path, stored_run) -> None:
    run = stored_run(tmp_path / "base")
    meta_path = pin(load_run(run), tmp_path / "b")
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "metrics": []}))
    code, err = run_cli(["regress", str(run), "--baseline", str(tmp_path / "b")])
    assert code == 2 and err.count("\n") == 1 and "baseline.json: metrics: expected a non-empty list" in err
    meta_path.write_text(json.dumps(meta))
    csv = tmp_path / "b" / "per_seed.csv"
    csv.write_text(csv.read_text().replace("cvar_0.1", "cvar_0.2"))
    code, err = run_cli(["regress", str(run), "--baseline", str(tmp_path / "b")])
    assert code == 2 and "per_seed.csv: missing column(s) cvar_0.1" in err


def test_regress_and_pin_print_json(tmp_path: Path, stored_run) -> None:
    """``--json`` on ``baseline pin`` and ``regress``: the same data as the files, on stdout."""
    from typer.testing import CliRunner

    from rsbench import cli

    base, worse = stored_run(tmp_path / "base"), stored_run(tmp_path / "worse", shift=-30.0)
    runner = CliRunner()
    pinned = runner.invoke(cli.app, ["baseline", "pin", str(base), "--to", str(tmp_path / "b"), "--json"])
    assert pinned.exit_code == 0, pinned.output
    data = json.loads(pinned.stdout)
    assert data["baseline"] == str(tmp_path / "b") and data["run"] == "base"
    assert {"baseline.json", "per_seed.csv", "suite.yaml"} <= set(data["files"])
    judged = runner.invoke(cli.app, ["regress", str(worse), "--baseline", str(tmp_path / "b"), "--json"])
    assert judged.exit_code == 1, judged.output
    data = json.loads(judged.stdout)
    assert data["exit_code"] == 1 and data["alpha"] == 0.05
    [pinned_board] = data["baselines"]
    assert pinned_board["name"] == "regression" and pinned_board["baseline"] == str(tmp_path / "b")
    written = json.loads((tmp_path / "worse" / "regression.json").read_text())
    assert json.dumps(pinned_board["verdicts"]) == json.dumps(written)  # as text: NaN != NaN
    assert any(v["verdict"] == "REGRESSION" for v in pinned_board["verdicts"])
