"""The ``rsbench`` command: happy-path output, and one stderr line with exit 2 for user mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import rsbench
from rsbench import cli
from rsbench.data.catalog import RECIPES

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SMOKE = REPO / "suites" / "smoke.yaml"
SUITES = HERE / "suites"
SCRIPT = Path(sys.executable).parent / "rsbench"

runner = CliRunner()

BAD_RISK = 'when: [{obs: -1, op: ">", value: 1}]\npenalty: -1\nprob: 0.1\n'


def _script(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (``main()``: the real UserError handler) in a clean environment."""
    if not SCRIPT.is_file():
        pytest.skip(f"console script not installed next to {sys.executable}")
    env = {
        **os.environ,
        "MINARI_DATASETS_PATH": str(tmp_path / "datasets"),
        "HOME": str(tmp_path / "home"),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False
    )


def _main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Run ``rsbench.cli.main`` in-process; returns (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["rsbench", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return info.value.code, capsys.readouterr().err


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("rsbench: error: ")
    return lines[0]


# -- through the console script (a few: each costs about a second) --


def test_script_validate_malformed_suite(tmp_path: Path) -> None:
    path = SUITES / "unknown_nested_key.yaml"
    proc = _script(["validate", str(path)], tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert (
        line == f"rsbench: error: {path}: eval.episods: unknown key; expected one of episodes, alphas, seed"
    )
    assert proc.stdout == ""


def test_script_inspect_unknown_dataset(tmp_path: Path) -> None:
    proc = _script(["data", "inspect", "nope/x-v0"], tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "'nope/x-v0'" in line
    assert str(tmp_path / "datasets") in line
    assert "local datasets: none" in line


def test_script_relabel_malformed_risk_file(tmp_path: Path) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_text(BAD_RISK)
    proc = _script(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)], tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert line.startswith(f"rsbench: error: {risk}: ")
    assert "when[0].obs: expected a non-negative observation index, got -1" in line


# -- in-process --


def test_version() -> None:
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"rsbench {rsbench.__version__}"


def test_validate_smoke_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "out", Console(width=200))  # wide enough that no cell is cut
    result = runner.invoke(cli.app, ["validate", str(SMOKE)])
    assert result.exit_code == 0, result.output
    assert "suite 'smoke' is valid, 10 trials" in result.stdout
    for method in ("rs_diffuser", "decision_diffuser", "diffuser", "cql"):
        assert method in result.stdout


def test_validate_smoke_json() -> None:
    result = runner.invoke(cli.app, ["validate", str(SMOKE), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["suite"] == "smoke"
    assert data["file"] == str(SMOKE)
    assert len(data["digest"]) == 16
    trials = data["trials"]
    assert len(trials) == 10
    for t in trials:
        assert {"method", "task", "seed"} <= set(t)
    assert {(t["method"], t["task"], t["seed"]) for t in trials} == {
        (m, "pointmass", s)
        for m in ("rs_diffuser", "diffuser", "decision_diffuser", "cql", "iqn")
        for s in (0, 1)
    }


def test_validate_json_of_sweep_suite() -> None:
    result = runner.invoke(cli.app, ["validate", str(SUITES / "valid_user_risk_sweep.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["trials"]) == 48


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("wrong_type_episodes.yaml", "eval.episodes"),
        ("task_risk_bad_obs.yaml", "tasks.pointmass.risk.when[0].obs"),
    ],
)
def test_validate_malformed_exits_2(
    name: str, key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = SUITES / name
    code, stderr = _main(["validate", str(path)], monkeypatch, capsys)
    assert code == 2
    assert _one_error_line(stderr).startswith(f"rsbench: error: {path}: {key}: ")


def test_validate_missing_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nope.yaml"
    code, stderr = _main(["validate", str(path)], monkeypatch, capsys)
    assert code == 2
    assert _one_error_line(stderr) == f"rsbench: error: {path}: file not found"


def test_data_list_json_empty_root(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["datasets_path"] == str(tmp_path / "datasets")
    rows = {r["name"]: r for r in data["datasets"]}
    assert set(rows) == set(RECIPES)
    assert rows["pointmass-mixed"]["dataset"] == "rsbench/pointmass-mixed-v1"
    assert rows["pointmass-mixed"]["task"] == "rsbench/RiskyPointMass-v0"
    assert rows["pointmass-mixed"]["built"] is False
    assert not any(r["built"] for r in data["datasets"])


def test_data_inspect_unknown_dataset_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stderr = _main(["data", "inspect", "nope/x-v0"], monkeypatch, capsys)
    assert code == 2
    line = _one_error_line(stderr)
    assert line.startswith("rsbench: error: dataset: no Minari dataset 'nope/x-v0'")


def test_data_build_unknown_name_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stderr = _main(["data", "build", "unknown-name"], monkeypatch, capsys)
    assert code == 2
    line = _one_error_line(stderr)
    assert "unknown dataset 'unknown-name'" in line
    assert "pointmass-mixed" in line


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (BAD_RISK, "when[0].obs: expected a non-negative observation index, got -1"),
        (
            "when: [{obs: 0, op: '>', value: 1}]\npenalty: -1\nprob: 2\n",
            "prob: expected a probability in [0, 1]",
        ),
        ("when: [{obs: 0, op: '>', value: 1}]\npenalty: -1\n", "prob: missing required key"),
        ("- when\n", "expected a mapping with when/penalty/prob"),
        ("when: [1, 2\n", "invalid YAML"),
    ],
)
def test_data_relabel_malformed_risk_file_exits_2(
    body: str,
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_text(body)
    code, stderr = _main(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)], monkeypatch, capsys)
    assert code == 2
    line = _one_error_line(stderr)
    assert line.startswith(f"rsbench: error: {risk}: ")
    assert fragment in line


def test_data_relabel_missing_risk_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    risk = tmp_path / "absent.yaml"
    code, stderr = _main(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)], monkeypatch, capsys)
    assert code == 2
    assert _one_error_line(stderr) == f"rsbench: error: {risk}: file not found"


def test_data_relabel_unknown_task_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stderr = _main(["data", "relabel", "nope/x-v0", "--task", "rsbench/Nope-v0"], monkeypatch, capsys)
    assert code == 2
    assert _one_error_line(stderr).startswith("rsbench: error: --task: unknown task 'rsbench/Nope-v0'")


# Known bugs (reported, not fixed here): each should become a one-line UserError with exit 2.


def test_data_relabel_unhashable_op_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_text("when: [{obs: 0, op: ['>'], value: 1}]\npenalty: -1\nprob: 0.1\n")
    code, stderr = _main(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)], monkeypatch, capsys)
    assert code == 2
    assert "when[0].op" in _one_error_line(stderr)


def test_data_relabel_binary_risk_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_bytes(b"\xff\xfe\x00")
    code, stderr = _main(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)], monkeypatch, capsys)
    assert code == 2
    assert _one_error_line(stderr).startswith(f"rsbench: error: {risk}: ")


def test_validate_checks_method_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        SMOKE.read_text().replace("candidates: 8, replan_every: 2}", "candidates: 0, replan_every: 2}", 1)
    )
    code, stderr = _main(["validate", str(bad)], monkeypatch, capsys)
    assert code == 2
    assert _one_error_line(stderr) == (
        f"rsbench: error: {bad}: methods.rs_diffuser.config.candidates: expected >= 1, got 0"
    )


def test_methods_lists_fields_and_loads_method_files(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = runner.invoke(
        cli.app, ["methods", "--json", "--method-file", str(REPO / "examples" / "bc_method.py")]
    )
    assert result.exit_code == 0, result.output
    info = {m["name"]: m for m in json.loads(result.stdout)}
    assert {"rs_diffuser", "diffuser", "decision_diffuser", "bc_example"} <= set(info)
    assert info["rs_diffuser"]["risk_aware"] and not info["diffuser"]["risk_aware"]
    fields = {f["name"]: f for f in info["rs_diffuser"]["config"]}
    assert fields["candidates"]["inference"] and not fields["horizon"]["inference"]
    assert fields["horizon"]["default"] == 32 and fields["horizon"]["doc"]
    table = runner.invoke(cli.app, ["methods", "diffuser"])
    assert table.exit_code == 0 and "guidance_scale" in table.stdout
    code, stderr = _main(["methods", "--method-file", "nope.py"], monkeypatch, capsys)
    assert code == 2
    assert (
        _one_error_line(stderr)
        == "rsbench: error: nope.py: expected an existing .py file that registers a method"
    )
