"""Test isolation: every test writes only under its tmp dir (datasets, home, working directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_REAL_HOME = Path(os.path.expanduser("~"))
_STRAY = [REPO / "MUJOCO_LOG.TXT", _REAL_HOME / ".minari", _REAL_HOME / ".ray" / "auth_token"]
_BEFORE = {p: p.exists() for p in _STRAY}


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def pointmass_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A datasets root holding a small ``pointmass-mixed-200ep`` (200 episodes, under its own id
    ``rsbench/pointmass-mixed-200ep-v1``: a suite names it ``pointmass-mixed-200ep``), built once per session."""
    from rsbench.data.build import build

    root = tmp_path_factory.mktemp("pointmass-datasets")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root))
        build("pointmass-mixed-200ep", seed=0, progress=False)
    return root


@pytest.fixture
def pointmass_data(pointmass_root: Path, monkeypatch: pytest.MonkeyPatch):
    """The session's small ``pointmass-mixed-200ep`` loaded as :class:`OfflineData`."""
    from rsbench.data.offline import load

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pointmass_root))
    return load("rsbench/pointmass-mixed-200ep-v1")


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``run_cli(args) -> (exit code, stderr)``: ``rsbench.cli.main`` run in-process with ``args``."""

    def run(args: list[str]) -> tuple[int, str]:
        import sys

        from rsbench import cli as rsbench_cli

        monkeypatch.setattr(sys, "argv", ["rsbench", *args])
        with pytest.raises(SystemExit) as info:
            rsbench_cli.main()
        return info.value.code, capsys.readouterr().err

    return run


@pytest.fixture(scope="session")
def browser():
    """The headless-Chromium helper (tests/report/browser.py); skips the test when Chromium is missing."""
    import importlib.util
    import sys

    name = "rsbench_tests_browser"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "report" / "browser.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    helper = sys.modules[name]
    helper.require_chromium()
    return helper


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test wrote where the project must not write."""
    stray = [str(p) for p in _STRAY if p.exists() and not _BEFORE[p]]
    if stray:
        print(f"\nfiles written outside the project or temp dirs: {', '.join(stray)}")
        session.exitstatus = 1
