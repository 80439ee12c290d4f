"""``rsbench run`` on Ray Tune: results store, resume and fault tolerance (the issue's tests (a)-(e))."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from rsbench.methods import load_method_file
from rsbench.results import RunStore, load_run
from rsbench.results.tables import per_seed
from rsbench.suite import load_suite
from rsbench.train.plan import new_run
from rsbench.train.trial import find_checkpoint
from rsbench.train.tune import run_tune

FAULTY = Path(__file__).with_name("faulty_method.py")
RSBENCH = Path(sys.executable).with_name("rsbench")


@pytest.fixture(autouse=True)
def _data(pointmass_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    monkeypatch.setenv("RSBENCH_FAULT_DIR", str(tmp_path / "pids"))
    (tmp_path / "pids").mkdir()
    load_method_file(FAULTY)
    return pointmass_root


def _suite(tmp_path: Path, methods: dict, *, seeds=(0, 1), steps=40, checkpoint_every=20, episodes=4) -> Path:
    data = {
        "name": "faults",
        "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed-200ep"}},
        "methods": methods,
        "seeds": list(seeds),
        "train": {"steps": steps, "batch_size": 16, "checkpoint_every": checkpoint_every, "log_every": 10},
        "eval": {"episodes": episodes, "alphas": [0.1]},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _plan(tmp_path: Path, suite_path: Path, name: str = "run"):
    return new_run(
        load_suite(suite_path),
        suite_path,
        results=str(tmp_path / "results"),
        name=name,
        method_files=[str(FAULTY)],
    )


def _one_result_per_trial(run_dir: Path, episodes: int) -> None:
    run = load_run(run_dir)
    assert run.trials["trial"].is_unique
    counts = run.episodes.groupby(["trial", "risk"]).size()
    assert (counts == episodes).all(), counts


@pytest.mark.slow
def test_a_killed_trial_worker_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    suite = _suite(
        tmp_path, {"bc": {"method": "faulty_bc", "config": {"sleep": 0.02}}}, steps=200, checkpoint_every=50
    )
    plan = _plan(tmp_path, suite)
    killed: list[int] = []

    def kill_once_checkpointed() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = sorted((tmp_path / "pids").glob("*.json"))
            if pids and any(find_checkpoint(plan.store, t.id) for t in plan.trials):
                pid = json.loads(pids[0].read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.2)

    killer = threading.Thread(target=kill_once_checkpointed, daemon=True)
    killer.start()
    statuses = run_tune(plan, cpus=2, max_failures=2)
    killer.join()
    assert killed, "no trial was killed"
    assert set(statuses.values()) == {"finished"}
    starts = [json.loads(p.read_text())["start_step"] for p in (tmp_path / "pids").glob("*.json")]
    assert len(starts) == 3 and max(starts) >= 50  # two first starts, one restart from a checkpoint
    _one_result_per_trial(plan.store.root.local_path(), 4)
    assert load_run(plan.store.root).trials["steps"].tolist() == [200, 200]


@pytest.mark.slow
def test_b_interrupted_driver_resume_runs_only_missing_trials(tmp_path: Path) -> None:
    methods = {"bc": {"method": "faulty_bc", "config": {"sleep": 0.03}}}
    suite = _suite(tmp_path, methods, seeds=(0, 1, 2), steps=80)
    cmd = [
        str(RSBENCH),
        "run",
        str(suite),
        "--results",
        str(tmp_path / "results"),
        "--name",
        "r",
        "--max-concurrent",
        "1",
        "--method-file",
        str(FAULTY),
    ]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    trials = tmp_path / "results" / "r" / "trials"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(trials.glob("*.parquet")):
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=120)
    assert driver.returncode == 3, output
    done_before = {p.name: p.stat().st_mtime_ns for p in trials.glob("*.parquet")}
    assert 1 <= len(done_before) < 3, output
    assert "rsbench run --resume" in output
    resumed = subprocess.run(
        [str(RSBENCH), "run", "--resume", str(tmp_path / "results" / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{3 - len(done_before)} of 3 trials to run" in resumed.stderr
    assert "1/1 parts (" in resumed.stderr  # the log's line per evaluated part, reported through Tune
    after = {p.name: p.stat().st_mtime_ns for p in trials.glob("*.parquet")}
    assert len(after) == 3 and all(after[n] == t for n, t in done_before.items())
    _one_result_per_trial(tmp_path / "results" / "r", 4)
    assert load_run(tmp_path / "results" / "r").manifest["resumed"]


def test_c_diverging_trial_fails_alone_with_exit_code_3(tmp_path: Path) -> None:
    methods = {
        "ok": {"method": "faulty_bc"},
        "nan": {"method": "faulty_bc", "config": {"nan_at": 3}},
    }
    suite = _suite(tmp_path, methods, seeds=(0,))
    result = subprocess.run(
        [
            str(RSBENCH),
            "run",
            str(suite),
            "--results",
            str(tmp_path / "results"),
            "--name",
            "r",
            "--method-file",
            str(FAULTY),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    assert "1 finished, 1 failed" in result.stderr
    assert "failed: nan-pm-s0: faulty_bc: training diverged at step 3: loss 'bc_loss' is nan" in result.stderr
    run = load_run(tmp_path / "results" / "r")
    status = dict(zip(run.trials["trial"], run.trials["status"], strict=True))
    assert status == {"nan-pm-s0": "failed", "ok-pm-s0": "finished"}
    assert set(run.episodes["trial"]) == {"ok-pm-s0"}
    assert run.manifest["counts"] == {"trials": 2, "finished": 1, "failed": 1, "missing": 0}


@pytest.mark.slow
def test_d_two_node_cluster_runs_trials_on_both_nodes(tmp_path: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        suite = _suite(tmp_path, {"bc": {"method": "faulty_bc", "config": {"sleep": 0.05}}})
        plan = _plan(tmp_path, suite)
        statuses = run_tune(plan, address=cluster.address)
        assert set(statuses.values()) == {"finished"}
        run = load_run(plan.store.root)
        assert run.trials["node_id"].nunique() == 2
        assert run.manifest["cluster"]["nodes"] == 2
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_e_same_suite_and_seeds_give_identical_metrics(tmp_path: Path) -> None:
    methods = {
        "bc": {"method": "faulty_bc"},
        "cql": {"method": "cql", "config": {"hidden": [16], "cql_n_actions": 2}},
    }
    suite = _suite(tmp_path, methods, seeds=(0, 1), steps=20, checkpoint_every=10)
    from rsbench.train.job import execute, run_suite

    tables = []
    for name in ("first", "second"):
        # The suite job as a Python user calls it, and as the CLI does (a plan, then execute).
        if name == "first":
            outcome = run_suite(
                suite, results=str(tmp_path / "results"), name=name, method_files=[FAULTY], cpus=2
            )
        else:
            outcome = execute(_plan(tmp_path, suite, name), cpus=2)
        assert outcome.counts == {"trials": 4, "finished": 4, "failed": 0, "missing": 0}
        assert outcome.exit_code == 0 and outcome.failures == {}
        run = load_run(outcome.run_dir)
        assert set(run.manifest["datasets"]) == {"pm"}  # the job recorded the dataset's tail coverage
        tables.append(per_seed(run.episodes, [0.1]).drop(columns="trial"))
        assert set(run.curves["name"]) >= {"bc_loss", "critic_loss"}
    assert tables[0].equals(tables[1])
    assert (
        RunStore(tmp_path / "results" / "first").read_manifest()["suite_hash"] == load_suite(suite).digest()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "rsbench: error: SUITE: give a SUITE file or --resume RUN (not both)"),
        (["S", "--resume", "R"], "rsbench: error: SUITE: give a SUITE file or --resume RUN (not both)"),
        (["--resume", "nowhere"], "not an rsbench run (no manifest.json)"),
        (["S", "--name", "a/b"], "rsbench: error: --name: expected a plain directory name, got 'a/b'"),
    ],
)
def test_run_usage_errors_are_one_line(run_cli, args, message, tmp_path: Path) -> None:
    suite = _suite(tmp_path, {"bc": {"method": "faulty_bc"}})
    args = [str(suite) if a == "S" else a for a in args]
    results = (
        [] if "--resume" in args else ["--results", str(tmp_path / "results")]
    )  # --results is for new runs
    code, stderr = run_cli(["run", *args, *results])
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "results").exists()


def test_run_refuses_to_reuse_a_run_directory(run_cli, tmp_path: Path) -> None:
    suite = _suite(tmp_path, {"bc": {"method": "faulty_bc"}})
    _plan(tmp_path, suite, "taken")
    code, stderr = run_cli(
        [
            "run",
            str(suite),
            "--results",
            str(tmp_path / "results"),
            "--name",
            "taken",
            "--method-file",
            str(FAULTY),
        ]
    )
    assert (
        code == 2 and "--name: run" in stderr and "exists; continue it with `rsbench run --resume" in stderr
    )


def test_dry_run_prints_the_trial_table_and_starts_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    suite = _suite(tmp_path, {"bc": {"method": "faulty_bc"}, "b2": {"method": "faulty_bc"}}, seeds=(0, 1, 2))
    from typer.testing import CliRunner

    from rsbench import cli

    result = CliRunner().invoke(
        cli.app,
        [
            "run",
            str(suite),
            "--dry-run",
            "--results",
            str(tmp_path / "results"),
            "--method-file",
            str(FAULTY),
        ],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps the title to the terminal's width
    assert "6 trials (dry run, nothing started)" in text
    assert "b2-pm-s2" in result.output and "bc-pm-s0" in result.output
    assert not (tmp_path / "results").exists()


def test_only_runs_some_method_labels_now_and_leaves_the_rest_for_resume(tmp_path: Path, run_cli) -> None:
    suite = _suite(tmp_path, {"bc": {"method": "faulty_bc"}, "b2": {"method": "faulty_bc"}}, seeds=(0, 1, 2))
    results = ["--results", str(tmp_path / "results"), "--method-file", str(FAULTY)]
    code, err = run_cli(["run", str(suite), "--only", "b2,nope", *results])
    assert code == 2 and err.strip() == (
        "rsbench: error: --only: no method label or trial id 'nope' in suite 'faults' (its methods: b2, bc; "
        f"list its trial ids with `rsbench validate {suite}`)"
    )
    assert not (tmp_path / "results").exists()  # a wrong label creates no run
    from typer.testing import CliRunner

    from rsbench import cli

    # The trial table goes to the rich console, which CliRunner captures (capsys does not).
    shown = CliRunner().invoke(cli.app, ["run", str(suite), "--only", "b2", "--dry-run", *results])
    assert shown.exit_code == 0 and "3 trials (dry run" in " ".join(shown.output.split())
    assert "b2-pm-s0" in shown.output and "bc-pm-s0" not in shown.output
    plan = _plan(tmp_path, suite)  # a run started, nothing trained yet: --resume --only picks its trials
    code, err = run_cli(["run", "--resume", plan.store.root.uri, "--only", "nope"])
    assert code == 2 and "--only: no method label or trial id 'nope'" in err
    assert "resumed" not in plan.store.read_manifest()  # a wrong label leaves the run as it was
    shown = CliRunner().invoke(cli.app, ["run", "--resume", plan.store.root.uri, "--only", "bc", "--dry-run"])
    assert shown.exit_code == 0 and "3 trials to run (dry run)" in " ".join(shown.output.split())
    assert "bc-pm-s2" in shown.output and "b2-pm-s0" not in shown.output


def test_a_chunk_run_is_its_selection_and_a_bare_resume_finishes_only_the_chunk(
    tmp_path: Path, run_cli
) -> None:
    """Resuming a chunk once started every pending trial of the 72-trial locomotion suite: a bare --resume
    must continue the chunk's --only selection, and a finished chunk is a complete run (exit 0)."""
    from rsbench.train.plan import resume_run

    suite = _suite(tmp_path, {"bc": {"method": "faulty_bc"}, "b2": {"method": "faulty_bc"}}, seeds=(0, 1))
    where = tmp_path / "results" / "chunk"
    code, err = run_cli(["run", str(suite), "--only", "b2-pm-s0", "--name", "chunk",
                         "--results", str(tmp_path / "results"), "--method-file", str(FAULTY)])  # fmt: skip
    assert code == 0, err
    assert "run chunk: 1 of 1 trials to run (the run's selection --only b2-pm-s0)" in err
    assert "1 finished, 0 failed, 0 missing" in err
    assert "3 trials of the suite are outside this run's --only; add some with: rsbench run --resume" in err
    info = RunStore(where).read_manifest()
    assert info["only"] == ["b2-pm-s0"]
    assert info["counts"] == {"trials": 1, "finished": 1, "failed": 0, "missing": 0, "unselected": 3}

    assert resume_run(str(where)).pending == []  # the chunk is done; the suite's other 3 trials stay out
    before = RunStore(where).read_manifest()
    listed = [t.id for t in resume_run(str(where), only=["bc-*"], dry_run=True).pending]
    assert listed == ["bc-pm-s0", "bc-pm-s1"]  # a dry run lists them and leaves the manifest as it was
    assert RunStore(where).read_manifest()["only"] == ["b2-pm-s0"]
    assert RunStore(where).read_manifest() == before  # no resumption stamp either
    plan = resume_run(str(where), only=["bc-*"])  # adding trials joins them to the selection
    assert [t.id for t in plan.pending] == ["bc-pm-s0", "bc-pm-s1"]
    assert RunStore(where).read_manifest()["only"] == ["b2-pm-s0", "bc-*"]
    assert [t.id for t in resume_run(str(where)).pending] == ["bc-pm-s0", "bc-pm-s1"]
    whole = _plan(tmp_path, suite, name="whole")  # a run without --only is the whole suite, as before
    assert whole.selection == [] and len(resume_run(whole.store.root.uri).pending) == 4


def test_eval_run_adds_risk_settings_without_retraining(tmp_path: Path) -> None:
    suite = _suite(
        tmp_path, {"bc": {"method": "faulty_risky_bc"}, "plain": {"method": "faulty_bc"}}, seeds=(0,)
    )
    plan = _plan(tmp_path, suite)
    assert set(run_tune(plan, cpus=1).values()) == {"finished"}
    curves_before = (plan.store.root.local_path() / "curves" / "bc-pm-s0.parquet").stat().st_mtime_ns
    result = subprocess.run(
        [str(RSBENCH), "eval", str(plan.store.root.uri), "--risk", "cvar:0.05,neutral"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # faulty_bc ignores the inference risk: it is evaluated at neutral only, never labelled cvar:0.05
    assert "evaluated 3 (trial, risk) pairs" in result.stderr
    run = load_run(plan.store.root)
    risks = run.episodes.groupby("method")["risk"].unique().map(sorted).to_dict()
    assert risks == {"bc": ["cvar:0.05", "neutral"], "plain": ["neutral"]}
    _one_result_per_trial(plan.store.root.local_path(), 4)
    records = dict(zip(run.trials["trial"], run.trials["risk"].map(json.loads), strict=True))
    assert records == {"bc-pm-s0": ["neutral", "cvar:0.05"], "plain-pm-s0": ["neutral"]}
    latency = {  # decision latency per evaluated risk setting, the re-evaluated one replaced
        t: sorted(e["risk"] for e in json.loads(v))
        for t, v in zip(run.trials["trial"], run.trials["decision_latency"], strict=True)
    }
    assert latency == {"bc-pm-s0": ["cvar:0.05", "neutral"], "plain-pm-s0": ["neutral"]}
    assert (plan.store.root.local_path() / "curves" / "bc-pm-s0.parquet").stat().st_mtime_ns == curves_before
    bad = subprocess.run(
        [str(RSBENCH), "eval", str(plan.store.root.uri), "--risk", "cvar:2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("rsbench: error: --risk:"), bad.stderr


def test_a_ray_that_does_not_start_is_one_line_exit_3_and_the_run_resumes(
    tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk started at nice 19 beside two planner packs got a 40-line traceback: Ray's node timed out."""
    import ray

    from rsbench.train.plan import resume_run

    def starved(*args, **kwargs):
        raise Exception(
            "The current node timed out during startup. This could happen because some of the raylet"
        )

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", starved)
    suite = _suite(tmp_path, {"bc": {"method": "faulty_bc"}}, seeds=(0,))
    results = tmp_path / "results"
    code, err = run_cli(
        ["run", str(suite), "--name", "r", "--results", str(results), "--method-file", str(FAULTY)]
    )
    where = RunStore(results / "r").root.uri
    assert code == 3
    assert err.strip().splitlines()[-1] == (
        "rsbench: error: ray: Ray did not start (The current node timed out during startup. This could happen "
        f"because some of the raylet); no trial ran, continue with `rsbench run --resume {where}`"
    )
    assert [t.id for t in resume_run(where).pending] == ["bc-pm-s0"]
