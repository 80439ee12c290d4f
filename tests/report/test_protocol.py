"""Runs and baselines of different evaluation protocols are never merged or compared: one line naming both
and the key, exit 2, nothing written (docs/design.md §6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rsbench.report.regress import pin
from rsbench.results import load_run
from rsbench.results.protocol import eval_protocol
from rsbench.results.provenance import EVAL_PROTOCOL

RSBENCH = Path(sys.executable).with_name("rsbench")


def _protocol_1(run_dir: Path) -> Path:
    """The run as an old one: its manifest without ``eval_protocol``."""
    path = run_dir / "manifest.json"
    info = json.loads(path.read_text())
    del info["eval_protocol"]
    path.write_text(json.dumps(info))
    return run_dir


def _rsbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RSBENCH), *args], capture_output=True, text=True, timeout=300, check=False)


def test_new_runs_record_the_protocol_and_old_ones_read_as_1(tmp_path: Path, stored_run) -> None:
    new = load_run(stored_run(tmp_path / "new"))
    assert new.manifest["eval_protocol"] == EVAL_PROTOCOL == 2
    assert eval_protocol(load_run(_protocol_1(stored_run(tmp_path / "old"))).manifest) == 1


def test_report_refuses_to_merge_protocol_1_and_2_runs(tmp_path: Path, stored_run) -> None:
    old, new = _protocol_1(stored_run(tmp_path / "old")), stored_run(tmp_path / "new")
    out = tmp_path / "rep"
    proc = _rsbench("report", str(old), str(new), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "rsbench: error: eval_protocol: cannot merge runs old and new: eval_protocol is 1 in old and 2 in new; "
        "their metrics were not measured the same way"
    ]
    assert not out.exists()


def test_regress_refuses_a_baseline_of_the_other_protocol(tmp_path: Path, stored_run) -> None:
    pin(load_run(_protocol_1(stored_run(tmp_path / "old"))), tmp_path / "baseline")
    new = stored_run(tmp_path / "new")
    out = tmp_path / "out"
    out.mkdir()
    proc = _rsbench("regress", str(new), "--baseline", str(tmp_path / "baseline"), "--out", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"rsbench: error: {tmp_path / 'baseline'}: eval_protocol: ")
    assert lines[0].endswith("eval_protocol is 2 in new and 1 in the baseline")
    assert list(out.iterdir()) == []
    assert not (new / "regression.md").exists()
