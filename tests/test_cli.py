"""The ``rsbench`` command: happy-path output, and one stderr line with exit 2 for user mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import rsbench
from rsbench import cli
from rsbench.data.catalog import RECIPES
from rsbench.errors import EXIT_CODES, ExitCode, UserError, exit_codes_help
from rsbench.suite import load_suite

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
        line
        == f"rsbench: error: {path}: eval.episods: unknown key; expected one of episodes, alphas, seed, distortions"
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
    monkeypatch.setattr(cli.common, "out", Console(width=200))  # wide enough that no cell is cut
    result = runner.invoke(cli.app, ["validate", str(SMOKE)])
    assert result.exit_code == 0, result.output
    assert "suite 'smoke' is valid, 20 trials" in result.stdout  # 8 RS-Diffuser seeds + 4 x 3
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
    for t in trials:
        assert {"method_label", "method_name", "task", "seed"} <= set(t)
    assert [t["id"] for t in trials] == [t.id for t in load_suite(SMOKE).trials()]
    assert {t["method_label"] for t in trials} == {
        "rs_diffuser",
        "diffuser",
        "decision_diffuser",
        "cql",
        "iqn",
    }


def test_validate_json_of_sweep_suite() -> None:
    result = runner.invoke(cli.app, ["validate", str(SUITES / "valid_user_risk_sweep.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["trials"]) == 48


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("wrong_type_episodes.yaml", "eval.episodes"),
        ("task_risk_bad_obs.yaml", "tasks.pointmass.risk_spec.when[0].obs"),
    ],
)
def test_validate_malformed_exits_2(run_cli, name: str, key: str) -> None:
    path = SUITES / name
    code, stderr = run_cli(["validate", str(path)])
    assert code == 2
    assert _one_error_line(stderr).startswith(f"rsbench: error: {path}: {key}: ")


def test_validate_missing_file_exits_2(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    code, stderr = run_cli(["validate", str(path)])
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


def test_data_inspect_unknown_dataset_exits_2(run_cli) -> None:
    code, stderr = run_cli(["data", "inspect", "nope/x-v0"])
    assert code == 2
    line = _one_error_line(stderr)
    assert line.startswith("rsbench: error: dataset: no Minari dataset 'nope/x-v0'")


def test_data_build_unknown_name_exits_2(run_cli) -> None:
    code, stderr = run_cli(["data", "build", "unknown-name"])
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
    run_cli,
    body: str,
    fragment: str,
    tmp_path: Path,
) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_text(body)
    code, stderr = run_cli(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)])
    assert code == 2
    line = _one_error_line(stderr)
    assert line.startswith(f"rsbench: error: {risk}: ")
    assert fragment in line


def test_data_relabel_missing_risk_file_exits_2(run_cli, tmp_path: Path) -> None:
    risk = tmp_path / "absent.yaml"
    code, stderr = run_cli(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)])
    assert code == 2
    assert _one_error_line(stderr) == f"rsbench: error: {risk}: file not found"


def test_data_relabel_unknown_task_exits_2(run_cli) -> None:
    code, stderr = run_cli(["data", "relabel", "nope/x-v0", "--task", "rsbench/Nope-v0"])
    assert code == 2
    assert _one_error_line(stderr).startswith("rsbench: error: --task: unknown task 'rsbench/Nope-v0'")


# Known bugs (reported, not fixed here): each should become a one-line UserError with exit 2.


def test_data_relabel_unhashable_op_exits_2(run_cli, tmp_path: Path) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_text("when: [{obs: 0, op: ['>'], value: 1}]\npenalty: -1\nprob: 0.1\n")
    code, stderr = run_cli(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)])
    assert code == 2
    assert "when[0].op" in _one_error_line(stderr)


def test_data_relabel_binary_risk_file_exits_2(run_cli, tmp_path: Path) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_bytes(b"\xff\xfe\x00")
    code, stderr = run_cli(["data", "relabel", "nope/x-v0", "--risk-file", str(risk)])
    assert code == 2
    assert _one_error_line(stderr).startswith(f"rsbench: error: {risk}: ")


def test_validate_checks_method_configs(run_cli, tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(SMOKE.read_text())
    data["methods"]["rs_diffuser"]["config"]["candidates"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    code, stderr = run_cli(["validate", str(bad)])
    assert code == 2
    assert _one_error_line(stderr) == (
        f"rsbench: error: {bad}: methods.rs_diffuser.config.candidates: expected >= 1, got 0"
    )


def test_methods_lists_fields_and_loads_method_files(run_cli) -> None:
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
    code, stderr = run_cli(["methods", "--method-file", "nope.py"])
    assert code == 2
    assert (
        _one_error_line(stderr)
        == "rsbench: error: nope.py: expected an existing .py file that registers a method"
    )


# -- the surface: help, exit codes, flags that do not apply, --json, --set (issue 15, items 10 and 12) --


def _command_paths(command, prefix=()):  # every command of the tree, e.g. ("data", "build")
    for name, sub in getattr(command, "commands", {}).items():
        yield (*prefix, name)
        yield from _command_paths(sub, (*prefix, name))


ALL_COMMANDS = [(), *_command_paths(typer.main.get_command(cli.app))]


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "rsbench")
def test_help_shows_example_exit_codes_and_no_bool_metavar(path: tuple[str, ...]) -> None:
    result = runner.invoke(cli.app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # rich wraps long lines
    assert exit_codes_help() in text
    assert "<bool>" not in text
    assert "--no-" not in text  # flags are plain switches
    assert "Examples:" in text


def test_exit_code_table_is_the_designed_one() -> None:
    assert {int(c): c.name for c in ExitCode} == {0: "OK", 1: "FINDING", 2: "USAGE", 3: "INCOMPLETE"}
    assert set(EXIT_CODES) == set(ExitCode)
    assert UserError("x").exit_code == 2


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["run", str(SMOKE), "--retry-failed"],
            "rsbench: error: --retry-failed: applies only with --resume RUN (failed trials of that run)",
        ),
        (
            ["run", "--resume", "results/x", "--set", "eval.episodes=3"],
            "rsbench: error: --set: a resumed run keeps its suite and directory; drop --set",
        ),
        (
            ["eval", "results/x", "--policy", "detour"],
            "rsbench: error: --policy: does not apply here: a RUN is evaluated with its own suite's task, "
            "episodes, seed and CVaR levels",
        ),
        (
            ["eval", "results/x", "--episodes", "5"],
            "rsbench: error: --episodes: does not apply here: a RUN is evaluated with its own suite's task, "
            "episodes, seed and CVaR levels",
        ),
        (
            ["eval"],
            "rsbench: error: --policy: give a RUN to re-evaluate, --policy NAME (see --help) or "
            "--policy-file FILE.py:NAME (exactly one)",
        ),
        (
            ["eval", "--policy", "detour", "--policy-file", "p.py:act"],
            "rsbench: error: --policy: give a RUN to re-evaluate, --policy NAME (see --help) or "
            "--policy-file FILE.py:NAME (exactly one)",
        ),
        (
            ["run", str(SMOKE), "--tracker", "comet"],
            "rsbench: error: --tracker: unknown tracker 'comet'; expected one of tensorboard, mlflow, wandb",
        ),
    ],
)
def test_flags_that_do_not_apply_exit_2_in_one_line(run_cli, args: list[str], line: str) -> None:
    code, stderr = run_cli(args)
    assert code == 2
    assert _one_error_line(stderr) == line


def test_methods_defaults_paste_into_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from rsbench.methods import available
    from rsbench.methods.registry import describe

    for name in available():
        fields = describe(name)["config"]
        block = "\n".join(f"{f['name']}: {cli.yaml_value(f['default'])}" for f in fields)
        expected = {f["name"]: json.loads(json.dumps(f["default"], default=str)) for f in fields}
        assert yaml.safe_load(block) == expected, name
    monkeypatch.setattr(cli.common, "out", Console(width=250))
    table = runner.invoke(cli.app, ["methods", "rs_diffuser"]).stdout
    assert "│ [1, 2, 4, 8] " in table  # dim_mults: a YAML list, not the Python tuple (1, 2, 4, 8)
    assert "[-1, 1]" in table  # cells are not read as rich markup


def test_validate_set_overrides_like_the_file(run_cli) -> None:
    args = ["validate", str(SMOKE), "--set", "seeds=[0, 1]", "--set", "methods.rs_diffuser.seeds=[5]"]
    result = runner.invoke(cli.app, [*args, "--set", "eval.episodes=7", "--json"])
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)["trials"]
    assert [t["seed"] for t in trials if t["method_label"] == "rs_diffuser"] == [5]
    assert {t["seed"] for t in trials} == {0, 1, 5} and len(trials) == 9
    assert {t["episodes"] for t in trials} == {7}
    for override, line in [
        (
            "eval.episods=3",
            "--set: eval.episods: unknown key; expected one of episodes, alphas, seed, distortions",
        ),
        ("eval.episodes=0", "--set: eval.episodes: expected >= 1, got 0"),
        ("eval.episodes=many", "--set: eval.episodes: expected an integer, got 'many'"),
        ("methods.cql.config.cql_alpha=-1", "--set: methods.cql.config.cql_alpha: expected >= 0, got -1.0"),
        (
            "methods.sac.steps=5",
            "--set: methods.sac: unknown label; expected one of rs_diffuser, diffuser, "
            "decision_diffuser, cql, iqn",
        ),
        ("seeds", "--set: expected KEY.PATH=VALUE, e.g. eval.episodes=20, got 'seeds'"),
    ]:
        code, stderr = run_cli(["validate", str(SMOKE), "--set", override])
        assert code == 2
        assert _one_error_line(stderr) == f"rsbench: error: {line}", override


def test_run_dry_run_json_lists_trials_with_overrides() -> None:
    result = runner.invoke(cli.app, ["run", str(SMOKE), "--dry-run", "--json", "--set", "seeds=[4]"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True
    seeds = {t["method_label"]: t["seed"] for t in data["trials"] if t["method_label"] != "rs_diffuser"}
    assert set(seeds.values()) == {4} and len(seeds) == 4
    # RS-Diffuser lists its own seeds, which the suite-wide override leaves alone
    own = [t["seed"] for t in data["trials"] if t["method_label"] == "rs_diffuser"]
    assert own == list(range(8))


def test_locomotion_suites_dry_run_as_their_docs_describe() -> None:
    """docs/leaderboard.md: the CPU tier is 8 methods x 3 tasks x 3 seeds with the planners packed 3 a trial;
    the GPU tier packs 5 seeds per (method, task) on a quarter GPU at the papers' 1M steps (RADAC: 2M steps,
    unpacked)."""

    def trials(name: str) -> list[dict]:
        result = runner.invoke(cli.app, ["run", str(REPO / "suites" / name), "--dry-run", "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["trials"]

    cpu = trials("locomotion.yaml")
    assert len(cpu) == 8 * 3 * 3 and {t["gpu"] for t in cpu} == {0}
    assert {t["pack"] for t in cpu if t["method_name"].endswith("diffuser")} == {3}
    assert {t["method_label"]: t["steps"] for t in cpu}["iqn"] == 10_000
    gpu = trials("locomotion-full.yaml")
    assert len(gpu) == 8 * 9 * 5 and {t["gpu"] for t in gpu} == {0.25}
    # RADAC clips each network's gradient norm, which packed stages cannot: one seed a trial (docs/ramac.md)
    assert {(t["method_name"] == "radac", t["pack"]) for t in gpu} == {(False, 5), (True, 1)}
    assert {t["steps"] for t in gpu if t["method_name"] != "radac"} == {1_000_000}
    assert {t["steps"] for t in gpu if t["method_name"] == "radac"} == {2_000_000}


def test_run_json_summary_of_an_incomplete_run_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rsbench.train.job import SuiteOutcome, failures
    from rsbench.train.plan import finish_run, new_run

    plan = new_run(load_suite(SMOKE), SMOKE, results=str(tmp_path), name="r", method_files=[])
    outcome = SuiteOutcome(plan, finish_run(plan), failures(plan), ["tensorboard"])
    with pytest.raises(typer.Exit) as info:
        cli.run.finish(outcome, as_json=True)
    assert info.value.exit_code == ExitCode.INCOMPLETE == 3
    data = json.loads(capsys.readouterr().out)
    assert data["run"] == "r" and data["run_dir"] == str(tmp_path / "r")
    n = len(plan.trials)
    assert data["trials"] == {"trials": n, "finished": 0, "failed": 0, "missing": n}
    assert data["failed"] == {} and data["trackers"] == ["tensorboard"] and data["exit_code"] == 3
    assert data["resume"] == f"rsbench run --resume {tmp_path / 'r'}"


def test_report_json_prints_the_report_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    import rsbench.report.render as render
    import rsbench.results.store as store

    monkeypatch.setattr(store, "load_run", lambda uri: SimpleNamespace(uri=uri, run_id=Path(uri).name))
    fake = SimpleNamespace(
        index=tmp_path / "index.html",
        markdown=tmp_path / "leaderboard.md",
        figures=[tmp_path / "f.png"],
        planned=[],
        seconds=1.0,
    )
    monkeypatch.setattr(render, "render_report", lambda runs, target, **options: fake)
    result = runner.invoke(cli.app, ["report", "results/a", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "runs": ["results/a"],
        "report_dir": str(tmp_path),
        "index": str(tmp_path / "index.html"),
        "leaderboard": str(tmp_path / "leaderboard.md"),
        "figures": [str(tmp_path / "f.png")],
        "seconds": 1.0,
    }


@pytest.mark.parametrize("setting", ["wang:abc", "cvar:0", "cvar:1.5", "lognormal:1"])
def test_bad_risk_flag_is_one_line_naming_the_setting(run_cli, setting: str) -> None:
    code, stderr = run_cli(["eval", "--policy", "detour", "--episodes", "2", "--risk", f"neutral,{setting}"])
    assert code == 2
    line = _one_error_line(stderr)
    assert line.startswith(f"rsbench: error: --risk: risk setting {setting!r}: ")
    assert "ALPHA" in line or "(0, 1]" in line


# -- the command tree as a whole --


def _leaves(command, path=()):
    """``(path, click command)`` of every runnable command under ``command``."""
    import click

    ctx = click.Context(command)
    subs = getattr(command, "commands", None)
    if not subs:
        yield path, command
        return
    for name in subs:
        yield from _leaves(command.get_command(ctx, name), (*path, name))


def _tree():
    return typer.main.get_command(cli.app)


# Commands that print no table (they train, fit or copy files and say where), so they have no --json.
NO_TABLE = {("behaviour", "train"), ("behaviour", "select"), ("critic",)}


def test_every_table_printing_command_takes_json() -> None:
    leaves = dict(_leaves(_tree()))
    assert set(leaves) >= NO_TABLE
    for path, command in leaves.items():
        flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert ("--json" in flags) != (path in NO_TABLE), path


def test_exit_code_table_names_only_existing_commands() -> None:
    import re

    commands = {path[0] for path, _ in _leaves(_tree())}
    named = set(re.findall(r"\((\w+)\)", exit_codes_help()))
    assert named and named <= commands, named - commands
    for path, _ in _leaves(_tree()):
        text = runner.invoke(cli.app, [*path, "--help"], env={"COLUMNS": "200"}).stdout
        assert exit_codes_help()[:40] in " ".join(text.split()), path


def test_help_text_is_not_read_as_markup() -> None:
    text = runner.invoke(cli.app, ["report", "--help"], env={"COLUMNS": "200"}).stdout
    assert "METHOD[@RISK][[KEY=VALUE,...]]" in text and "rs@cvar:0.1[candidates=1]" in text


def test_importing_the_cli_imports_neither_torch_nor_ray() -> None:
    code = (
        "import sys, rsbench.cli; "
        "print(sorted(m for m in ('torch', 'ray', 'pandas', 'scipy', 'seaborn', 'mujoco') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's rsbench, wherever it is installed from
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert done.stdout.strip() == "[]"


def _first_column(text: str) -> str:
    """The first column of a rendered table, its folded pieces joined (rows in order)."""
    body = [line for line in text.splitlines() if line.startswith("│")]
    return "".join(line.split("│")[1].strip() for line in body)


def test_tables_cut_nothing_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.common, "out", Console(width=80))
    text = runner.invoke(cli.app, ["validate", str(SMOKE)]).stdout
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    trials = load_suite(SMOKE).trials()
    assert _first_column(text) == "".join(t.id for t in trials)
    assert text.count("inference") == 8  # the last column (the inference sweep) is there too, not cropped
    listing = runner.invoke(cli.app, ["data", "list"]).stdout
    assert "…" not in listing and max(map(len, listing.splitlines())) <= 80
    assert _first_column(listing).startswith("".join(r.name for r in RECIPES.values()))
