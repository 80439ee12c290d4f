"""A run directory is created exclusively: two runs given one name, even at the same instant, never share it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from rsbench.errors import UserError
from rsbench.suite import load_suite
from rsbench.train.plan import new_run


def _suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "race",
                "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed"}},
                "methods": {"cql": {"method": "cql"}},
                "seeds": [0],
            }
        )
    )
    return path


def _start_together(suite, path: Path, results: Path, name: str) -> list[object]:
    """Two ``new_run`` calls with one name, released at the same instant by a barrier: their outcomes."""
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def start() -> None:
        barrier.wait()
        try:
            outcomes.append(new_run(suite, path, results=str(results), name=name, method_files=[]))
        except UserError as e:
            outcomes.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_runs_started_at_once_with_one_name_never_share_a_directory(tmp_path: Path) -> None:
    path = _suite(tmp_path)
    suite = load_suite(path)
    for attempt in range(20):  # the unguarded check-then-create let both through on the first attempt
        outcomes = _start_together(suite, path, tmp_path / "results", f"race-{attempt}")
        refused = [o for o in outcomes if isinstance(o, UserError)]
        assert len(refused) == 1, f"attempt {attempt}: {outcomes}"
        assert str(refused[0]).startswith("--name: ") and " exists" in str(refused[0])


def test_an_existing_directory_that_is_not_a_run_is_refused_too(tmp_path: Path) -> None:
    path = _suite(tmp_path)
    (tmp_path / "results" / "taken").mkdir(parents=True)
    (tmp_path / "results" / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(
        UserError, match=r"--name: .*taken exists and holds no run yet .* pick another --name"
    ):
        new_run(load_suite(path), path, results=str(tmp_path / "results"), name="taken", method_files=[])
    assert [p.name for p in (tmp_path / "results" / "taken").iterdir()] == ["notes.txt"]
