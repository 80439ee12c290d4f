"""``rsbench run --tracker``: Ray Tune's logger callbacks, writing inside the run directory."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsbench import cli
from rsbench.suite import Trial, load_suite
from rsbench.train.plan import new_run
from rsbench.train.trackers import TRACKERS, check_trackers, tracker_callbacks
from rsbench.train.trials import unit_to_dict

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "suites" / "smoke.yaml"
RSBENCH = Path(sys.executable).with_name("rsbench")


def _installed(name: str) -> bool:
    return importlib.util.find_spec(TRACKERS[name].module) is not None


def _needs(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not _installed(name), reason=f"{TRACKERS[name].module} not installed")


@pytest.fixture
def plan(tmp_path: Path):
    return new_run(load_suite(SMOKE), SMOKE, results=str(tmp_path / "results"), name="r", method_files=[])


@pytest.mark.parametrize("name", list(TRACKERS))
def test_a_missing_package_names_the_extra_in_one_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda mod, *a: None if mod == TRACKERS[name].module else real(mod, *a)
    )
    monkeypatch.setattr(sys, "argv", ["rsbench", "run", str(SMOKE), "--tracker", name, "--results", "out"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    module, extra = TRACKERS[name].module, TRACKERS[name].extra
    assert capsys.readouterr().err == (
        f"rsbench: error: --tracker: {name} needs the {module} package: pip install 'rsbench[{extra}]'\n"
    )
    assert not (tmp_path / "out").exists(), "nothing is created before the check"


def test_repeats_are_dropped_and_order_kept() -> None:
    names = [n for n in TRACKERS if _installed(n)]
    assert check_trackers([*names, *names]) == names


@_needs("tensorboard")
def test_tensorboard_callback(plan) -> None:
    from ray.tune.logger import TBXLoggerCallback

    (callback,) = tracker_callbacks(["tensorboard"], plan)
    assert isinstance(callback, TBXLoggerCallback)


@_needs("mlflow")
def test_mlflow_writes_a_file_store_inside_the_run(plan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    (callback,) = tracker_callbacks(["mlflow"], plan)
    assert callback.tracking_uri == f"file:{plan.store.root.local_path()}/mlruns"
    assert callback.experiment_name == "r"
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert tracker_callbacks(["mlflow"], plan)[0].tracking_uri == "http://tracking.example:5000"


@_needs("wandb")
def test_wandb_is_offline_inside_the_run(plan, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    (callback,) = tracker_callbacks(["wandb"], plan)
    assert callback.kwargs == {"mode": "offline", "dir": str(plan.store.root.local_path() / "wandb")}
    assert (callback.project, callback.group) == ("smoke", "r")
    assert os.environ["WANDB_MODE"] == "offline"  # Ray asks for an API key unless the mode is offline


@pytest.mark.slow
def test_run_with_every_installed_tracker_writes_inside_the_run(tmp_path: Path, pointmass_root: Path) -> None:
    names = [n for n in TRACKERS if _installed(n)]
    if not names:
        pytest.skip("no tracker package installed")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "trackers",
                "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed-200ep"}},
                "methods": {"cql": {"method": "cql", "config": {"hidden": [16], "cql_n_actions": 2}}},
                "seeds": [0],
                "train": {"steps": 20, "batch_size": 16, "checkpoint_every": 10, "log_every": 10},
                "eval": {"episodes": 2, "alphas": [0.5]},
            }
        )
    )
    args = [str(RSBENCH), "run", str(suite), "--results", str(tmp_path), "--name", "t", "--json"]
    for name in names:
        args += ["--tracker", name]
    env = {**os.environ, "MINARI_DATASETS_PATH": str(pointmass_root), "WANDB_SILENT": "true"}
    env.pop("WANDB_MODE", None)
    proc = subprocess.run(
        args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["trials"]["finished"] == 1 and summary["trackers"] == names
    run = tmp_path / "t"
    if "tensorboard" in names:
        assert list((run / "tune").rglob("events.out.tfevents.*"))
    if "mlflow" in names:
        assert list((run / "mlruns").rglob("metrics/*loss*"))
    if "wandb" in names:
        assert list((run / "wandb").rglob("offline-run-*"))


@_needs("mlflow")
@pytest.mark.slow
def test_mlflow_callback_records_a_trial_in_the_run(plan, monkeypatch: pytest.MonkeyPatch) -> None:
    """The callback as Tune drives it on the driver (Ray itself not needed): one mlflow run per trial."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    class TuneTrial:  # what MLflowLoggerCallback reads of a Tune trial
        def __init__(self, unit: Trial) -> None:
            self.trial_id, self.config, self.local_path = unit.id, {"trial": unit_to_dict(unit)}, None

        def __str__(self) -> str:
            return self.trial_id

    (callback,) = tracker_callbacks(["mlflow"], plan)
    callback.setup()
    trial = TuneTrial(plan.trials[0])
    callback.log_trial_start(trial)
    callback.log_trial_result(1, trial, {"training_iteration": 1, "critic_loss": 0.5})
    callback.log_trial_end(trial)
    store = plan.store.root.local_path() / "mlruns"
    (metric,) = store.glob("*/*/metrics/critic_loss")
    assert metric.read_text().split()[1] == "0.5"
    assert list(store.glob("*/*/params/trial/config/candidates"))
