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
def browser_helper():
    """The headless-Chromium helper module (tests/report/browser.py), whether or not Chromium is installed."""
    import importlib.util
    import sys

    name = "rsbench_tests_browser"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "report" / "browser.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def browser(browser_helper):
    """The headless-Chromium helper; skips the test (saying what to install) when Chromium is missing."""
    browser_helper.require_chromium()
    return browser_helper


# -- a stored run: the store's layout with hand-made, seeded episodes (report, regress and pin tests) --

GROUPS = {"rs_diffuser": ["neutral", "cvar:0.1"], "diffuser": ["neutral"], "iqn": ["cvar:0.1"]}
# What rsbench.train.trial.training_risk writes into their records for smoke.yaml's configs.
TRAIN_RISK = {"rs_diffuser": "-", "diffuser": "neutral", "iqn": "cvar:0.1"}


def _stored_run(
    where: Path,
    *,
    seeds=(0, 1, 2),
    episodes: int = 40,
    shift: float = 0.0,
    eval_seed: int = 0,
    distortions: tuple[str, ...] = (),
) -> Path:
    """A run in the store's layout with the smoke suite's protocol and hand-made, seeded episodes."""
    import numpy as np
    import pandas as pd

    from rsbench.results import RunStore
    from rsbench.results.provenance import manifest
    from rsbench.suite import load_suite

    suite = load_suite(REPO / "suites" / "smoke.yaml")
    data = suite.to_dict()
    data["eval"]["seed"] = eval_seed
    if distortions:
        data["eval"]["distortions"] = list(distortions)
    store = RunStore(where)
    store.root.mkdir()
    import yaml

    (where / "suite.yaml").write_text(yaml.safe_dump(data))
    store.write_manifest(
        {
            **manifest(run_id=where.name, suite_name=suite.name, suite_hash=suite.digest(), command=["test"]),
            "finished": "now",
            "cluster": {"nodes": 1},
            "deviations": suite.deviations(),
            "datasets": {
                "pointmass": {
                    "dataset": "rsbench/pointmass-mixed-v1",
                    "warnings": [],
                    "penalty_episode_fraction": 0.3,
                }
            },
        }
    )
    rng = np.random.default_rng(0)
    for method, risks in GROUPS.items():
        for seed in seeds:
            trial = f"{method}-pointmass-s{seed}"
            ident = {
                "trial": trial,
                "method": method,
                "algo": method,
                "task": "pointmass",
                "env": "rsbench/RiskyPointMass-v0",
                "dataset": "pointmass-mixed",
                "seed": seed,
                "sweep": "{}",
            }
            store.write_trial({**ident, "status": "finished", "steps": 300, "train_risk": TRAIN_RISK[method]})
            for risk in risks:
                safe = risk != "neutral"
                returns = rng.normal(-10 if safe else -8, 1, episodes) + shift
                hits = rng.random(episodes) < (0.0 if safe else 0.3)
                returns[hits] -= 15
                store.write_episodes(
                    trial,
                    risk,
                    pd.DataFrame(
                        {
                            **ident,
                            "risk": risk,
                            "episode": range(episodes),
                            "episode_seed": range(episodes),
                            "return": returns,
                            "length": 15 if safe else 8,
                            "violation_steps": hits.astype(int) * 2,
                            "penalty_events": hits.astype(int),
                            "terminated": True,
                            "truncated": False,
                        }
                    ),
                )
                if method != "diffuser":
                    taus = (2 * np.arange(8) + 1) / 16
                    store.write_calibration(
                        trial,
                        risk,
                        pd.DataFrame(
                            {
                                **ident,
                                "risk": risk,
                                "tau": taus,
                                "predicted": np.quantile(returns, taus) + 1,
                                "realised": np.quantile(returns, taus),
                            }
                        ),
                    )
            store.write_curves(
                trial,
                pd.DataFrame(
                    {
                        **ident,
                        "step": np.repeat([100, 200, 300], 2),
                        "wall_time": 1.0,
                        "name": ["loss_a", "loss_b"] * 3,
                        "value": rng.random(6),
                    }
                ),
            )
    return where


@pytest.fixture
def stored_run():
    """``stored_run(where, *, seeds, episodes, shift, eval_seed, distortions) -> where``: a run of the smoke
    suite's protocol in the store's layout, with hand-made, seeded episodes, curves and calibration."""
    return _stored_run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test wrote where the project must not write."""
    stray = [str(p) for p in _STRAY if p.exists() and not _BEFORE[p]]
    if stray:
        print(f"\nfiles written outside the project or temp dirs: {', '.join(stray)}")
        session.exitstatus = 1
