"""Benchmark records (benchmarks/records.py) on synthetic figures: a constant target from another machine is
information, never a failure; a same-run target still fails when missed; the committed table is its JSON's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_records", REPO / "benchmarks" / "records.py")
assert _spec and _spec.loader
records = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(records)

HERE = {"host": "vm", "cpu_model": "AMD EPYC 7B13", "cores": 2, "torch": "2.13.0+cpu", "when": "2026-12-06"}
THERE = {"host": "vm", "cpu_model": "Intel Xeon Platinum 8481C", "cores": 2}
UNNAMED = {"host": "vm", "cpu_model": None, "cores": 2}  # a record from before the CPU model was kept


def _constant(on: dict, value: float = 0.63) -> dict:
    return records.constant("<=", value, {"machine": on, "when": "2026-11-24", "source": "reference impl"})


def _results(*figures: dict, machine: dict = HERE) -> dict:
    measured = {
        "when": "2026-12-06T12:00+00:00",
        "load": 0.4,
        "threads": 2,
        "machine": records.machine_key(machine),
    }
    return {
        "machine": machine,
        "machines": {records.machine_key(machine): machine},
        "benchmarks": {"planning": [{**f, "measured": measured} for f in figures]},
    }


def test_a_missed_constant_from_another_machine_is_information_with_its_ratio() -> None:
    figure = {"name": "plan 64 envs", "value": 1.26, "unit": "s", "target": _constant(THERE)}
    status, text = records.verdict(figure, HERE)
    assert status == "informational"
    assert (
        "constant from host vm (Intel Xeon Platinum 8481C, 2 cores), 2026-11-24, not comparable here" in text
    )
    assert "2.00x the constant" in text
    table = records.markdown(_results(figure))
    row = next(line for line in table.splitlines() if "plan 64 envs" in line)
    assert "❌" not in row and "✅" not in row and "not comparable here" in row
    assert "(constant: reference impl)" in row


def test_a_constant_whose_machine_is_unnamed_is_never_comparable() -> None:
    """Neither side naming its CPU model cannot establish the same machine, even with the same host name."""
    figure = {"name": "plan", "value": 2.0, "unit": "s", "target": _constant(UNNAMED)}
    assert records.verdict(figure, UNNAMED)[0] == "informational"
    assert records.verdict(figure, HERE)[0] == "informational"


def test_a_constant_from_this_machine_is_judged() -> None:
    same = {**HERE, "host": "other-name"}  # same CPU model and cores: comparable
    missed = {"name": "plan", "value": 0.9, "unit": "s", "target": _constant(same)}
    met = {"name": "plan", "value": 0.5, "unit": "s", "target": _constant(same)}
    assert records.verdict(missed, HERE) == ("missed", "❌ missed")
    assert records.verdict(met, HERE) == ("met", "✅ met")
    assert records.verdict(missed, {**HERE, "cores": 16})[0] == "informational"


def test_a_missed_same_run_target_fails_on_any_machine() -> None:
    figure = {
        "name": "act 64 envs / act 1 env",
        "value": 5.4,
        "unit": "ratio",
        "target": records.same_run("<=", 3, "act 1 env, this run"),
    }
    for on in (HERE, THERE, UNNAMED):
        assert records.verdict(figure, on) == ("missed", "❌ missed")
    row = records.markdown(_results(figure)).splitlines()[2]
    assert "<= 3 ratio (same run: act 1 env, this run)" in row and row.endswith("❌ missed |")
    ok = {**figure, "value": 2.9}
    assert records.verdict(ok, HERE) == ("met", "✅ met")
    assert records.verdict({**figure, "target": records.same_run(">=", 3, "x")}, HERE)[0] == "met"


def test_checks_and_figures_without_target() -> None:
    assert records.verdict({"value": 1, "target": records.check("finite losses", False)}, HERE)[0] == "missed"
    assert records.verdict({"value": 1, "target": records.check("finite losses", True)}, HERE)[0] == "met"
    assert records.verdict({"value": 1}, HERE) == ("", "")


def test_a_constant_needs_its_provenance() -> None:
    with pytest.raises(ValueError, match="machine, when and source"):
        records.constant("<=", 1.0, {"when": "2026-11-24"})


def test_the_table_names_the_machine_or_says_it_is_unknown() -> None:
    figure = {"name": "f", "value": 1.0, "unit": "s"}
    assert "CPU AMD EPYC 7B13, 2 cores, host vm" in records.markdown(_results(figure))
    legacy = {"machine": {"host": "vm", "cpu": "x86_64", "cores": 2}, "benchmarks": {"b": [figure]}}
    table = records.markdown(legacy)
    assert "CPU unknown (recorded before the machine was named), 2 cores, host vm" in table
    assert "Rows whose record names no machine" in table


def test_rows_name_their_machine_when_a_file_holds_several() -> None:
    results = _results({"name": "f", "value": 1.0, "unit": "s"})
    other = {**THERE, "torch": "2.13.0+cpu"}
    results["machines"][records.machine_key(other)] = other
    results["benchmarks"]["packing"] = [
        {
            "name": "g",
            "value": 2.0,
            "unit": "x",
            "measured": {"when": "t", "load": 1, "machine": records.machine_key(other)},
        }
    ]
    table = records.markdown(results)
    assert "host vm (Intel Xeon Platinum 8481C, 2 cores)" in next(
        r for r in table.splitlines() if "| g |" in r
    )
    assert "Rows whose record names no machine" not in table


def test_cpu_model_reads_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n"
    )
    assert records.cpu_model(info) == "AMD EPYC 7B13 64-Core Processor"
    machine = records.machine({"torch": "x"})
    assert {"cpu_model", "cores", "load_average", "when", "torch"} <= set(machine)


@pytest.mark.parametrize("name", ["results", "cuda-h200"])
def test_the_committed_tables_are_their_records(name: str) -> None:
    """The committed Markdown is what the renderer makes of the committed JSON; no constant there fails."""
    results = json.loads((REPO / "benchmarks" / "results" / f"{name}.json").read_text())
    assert records.markdown(results) == (REPO / "benchmarks" / "results" / f"{name}.md").read_text()
    for figures in results["benchmarks"].values():
        for f in figures:
            if isinstance(f.get("target"), dict) and f["target"]["kind"] == "constant":
                assert records.verdict(f, results["machine"])[0] == "informational"


def test_the_harness_records_machine_threads_and_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benchmarks/run.py with a synthetic benchmark (no real one runs): every figure names its machine, time,
    load and threads; the file names the machine; a missed same-run target fails, a foreign constant informs."""
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    assert spec and spec.loader
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)

    def synthetic() -> list[dict]:
        return [
            {"name": "ratio", "value": 5.0, "unit": "x", "target": run.records.same_run("<=", 3, "this run")},
            {"name": "time", "value": 2.0, "unit": "s", "target": _constant(THERE, 1.0)},
        ]

    synthetic.threads = 2  # type: ignore[attr-defined]
    monkeypatch.setattr(run, "BENCHMARKS", {"synthetic": synthetic})
    monkeypatch.chdir(tmp_path)  # run.main moves into a temp dir (MuJoCo's log): come back after
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    legacy = {  # a file from before figures named their machine
        "machine": {"host": "old", "cpu": "x86_64", "cores": 2, "torch": "2.13.0+cpu", "when": "2026-11-30"},
        "benchmarks": {"eval_old": [{"name": "old figure", "value": 1.0, "unit": "s"}]},
    }
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").write_text(json.dumps(legacy))
    assert run.main(["synthetic", "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    machine = results["machine"]
    assert (
        machine["cpu_model"] == records.cpu_model() and machine["cores"] and len(machine["load_average"]) == 3
    )
    assert {"torch", "numpy", "python", "when"} <= set(machine)
    for f in results["benchmarks"]["synthetic"]:
        assert f["measured"]["threads"] == 2 and {"when", "load"} <= set(f["measured"])
        assert results["machines"][f["measured"]["machine"]] == machine
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| ratio | 5.0 x |" in table and "❌ missed" in table
    assert "not comparable here" in next(r for r in table.splitlines() if "| time |" in r)
    # the old figure keeps its machine: not the new run's
    old = next(r for r in table.splitlines() if "old figure" in r)
    assert "host old (CPU model unknown, 2 cores)" in old and "2026-11-30" in old
    assert "CPU unknown (recorded before the machine was named), 2 cores, host old" in table


def test_the_changepoint_record_names_its_machine() -> None:
    spec = importlib.util.spec_from_file_location("bench_changepoint", REPO / "benchmarks" / "changepoint.py")
    assert spec and spec.loader
    changepoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(changepoint)
    results = json.loads((REPO / "benchmarks" / "results" / "changepoint.json").read_text())
    table = changepoint.markdown(results)
    assert table == (REPO / "benchmarks" / "results" / "changepoint.md").read_text()
    assert f"on CPU {records.UNKNOWN_CPU}" in table.splitlines()[0]  # recorded before the machine was named
    named = {**results, "machine": records.machine({"numpy": "2"})}
    assert f"on {records.describe(named['machine'])}" in changepoint.markdown(named).splitlines()[0]
