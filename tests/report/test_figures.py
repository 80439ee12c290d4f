import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rsbench.report.figures import Figure, _risk_key, render_figures
from rsbench.results.tables import per_seed as per_seed_table

ALPHAS = [0.05, 0.1, 0.25]
TASKS = ["pointmass", "hopper"]
# (method, algo, risk settings it is evaluated at): rs_diffuser is one model at two risk settings.
METHODS = [("rs_diffuser", "rs_diffuser", ["neutral", "cvar:0.1"]), ("cql", "cql", ["neutral"])]
SEEDS = [0, 1, 2]
EPISODES = 20
KINDS = ["ecdf", "violins", "cvar-alpha", "frontier", "violations", "curves"]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    episodes, curves, calibration = [], [], []
    for task in TASKS:
        for method, algo, risks in METHODS:
            for seed in SEEDS:
                trial = f"{task}-{method}-{seed}"
                ident = {
                    "trial": trial,
                    "method": method,
                    "algo": algo,
                    "task": task,
                    "seed": seed,
                    "sweep": "{}",
                }
                for risk in risks:
                    shift = -1.0 if risk == "neutral" else 0.0
                    returns = rng.normal(10.0 + shift, 3.0, EPISODES)
                    violations = rng.poisson(2.0 if risk == "neutral" else 0.5, EPISODES)
                    episodes.append(
                        pd.DataFrame(
                            {
                                **ident,
                                "env": f"rsbench/{task}-v0",
                                "dataset": f"{task}-mixed",
                                "risk": risk,
                                "episode": np.arange(EPISODES),
                                "episode_seed": 1000 + np.arange(EPISODES),
                                "return": returns,
                                "length": np.full(EPISODES, 50),
                                "violation_steps": violations,
                                "penalty_events": violations,
                                "terminated": np.zeros(EPISODES, dtype=bool),
                                "truncated": np.ones(EPISODES, dtype=bool),
                            }
                        )
                    )
                    if task == "pointmass" and method == "rs_diffuser":
                        taus = (2 * np.arange(8) + 1) / 16
                        calibration.append(
                            pd.DataFrame(
                                {
                                    **ident,
                                    "risk": risk,
                                    "tau": taus,
                                    "predicted": np.quantile(returns, taus) + rng.normal(0, 0.5, 8),
                                    "realised": np.quantile(returns, taus),
                                }
                            )
                        )
                steps = np.arange(0, 100, 10)
                for name in ["critic_loss", "actor_loss"]:
                    curves.append(
                        pd.DataFrame(
                            {
                                **ident,
                                "env": f"rsbench/{task}-v0",
                                "dataset": f"{task}-mixed",
                                "step": steps,
                                "wall_time": steps * 0.01,
                                "name": name,
                                "value": np.exp(-steps / 50) + rng.normal(0, 0.02, steps.size),
                            }
                        )
                    )
    eps = pd.concat(episodes, ignore_index=True)
    return {
        "per_seed": per_seed_table(eps, ALPHAS),
        "episodes": eps,
        "curves": pd.concat(curves, ignore_index=True),
        "calibration": pd.concat(calibration, ignore_index=True),
    }


def _render(frames: dict[str, pd.DataFrame], out: Path, **override: pd.DataFrame) -> list[Figure]:
    f = {**frames, **override}
    return render_figures(f["per_seed"], f["episodes"], f["curves"], f["calibration"], ALPHAS, out)


def _expected(kinds_by_task: dict[str, list[str]]) -> list[str]:
    return [f"{task}-{kind}.png" for task in sorted(kinds_by_task) for kind in kinds_by_task[task]]


def _assert_pngs(figures: list[Figure], out: Path) -> None:
    for fig in figures:
        path = out / fig.file
        assert path.is_file()
        assert path.read_bytes()[:4] == b"\x89PNG"
        assert fig.title.strip()
        assert fig.caption.strip()
        assert fig.task is not None
        assert fig.file.startswith(f"{fig.task}-")


def test_renders_every_figure_in_order(frames, tmp_path):
    out = tmp_path / "figures"  # tmp_path itself also holds the per-test MPLCONFIGDIR and HOME
    figures = _render(frames, out)
    expected = _expected({"hopper": KINDS, "pointmass": [*KINDS, "calibration"]})
    assert [f.file for f in figures] == expected
    _assert_pngs(figures, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    frontier = next(f for f in figures if f.file == "pointmass-frontier.png")
    assert "CVaR_0.1" in frontier.caption


def test_empty_curves_and_calibration_are_skipped(frames, tmp_path):
    figures = _render(frames, tmp_path, curves=pd.DataFrame(), calibration=pd.DataFrame())
    kinds = [k for k in KINDS if k != "curves"]
    assert [f.file for f in figures] == _expected({"hopper": kinds, "pointmass": kinds})
    _assert_pngs(figures, tmp_path)


def test_missing_columns_skip_their_figures(frames, tmp_path):
    # No CVaR columns and no violation counts: the frontier and violation figures cannot be drawn.
    per_seed = frames["per_seed"].drop(columns=[c for c in frames["per_seed"] if c.startswith("cvar_")])
    episodes = frames["episodes"].drop(columns=["violation_steps"])
    hopper = frames["episodes"]["task"] == "hopper"
    figures = _render(
        frames,
        tmp_path,
        per_seed=per_seed,
        episodes=episodes,
        curves=frames["curves"].loc[frames["curves"]["task"] == "pointmass"],
        calibration=frames["calibration"].drop(columns=["realised"]),
    )
    kinds = ["ecdf", "violins", "cvar-alpha"]
    assert [f.file for f in figures] == _expected({"hopper": kinds, "pointmass": [*kinds, "curves"]})
    assert hopper.any()  # the hopper rows exist: only the missing columns removed its figures
    _assert_pngs(figures, tmp_path)


def test_single_seed_and_empty_input(frames, tmp_path):
    one_seed = {k: v.loc[v["seed"] == 0] for k, v in frames.items()}
    figures = _render(one_seed, tmp_path / "one")
    assert len(figures) == 2 * len(KINDS) + 1
    _assert_pngs(figures, tmp_path / "one")
    empty = pd.DataFrame()
    assert render_figures(empty, empty, empty, empty, ALPHAS, tmp_path / "none") == []


def test_output_is_deterministic(frames, tmp_path):
    pointmass = {k: v.loc[v["task"] == "pointmass"] for k, v in frames.items()}
    first = _render(pointmass, tmp_path / "a")
    second = _render(pointmass, tmp_path / "b")
    assert first == second
    for fig in first:
        assert (tmp_path / "a" / fig.file).read_bytes() == (tmp_path / "b" / fig.file).read_bytes(), fig.file


def test_risk_order_along_the_frontier():
    risks = ["seeking:0.25", "cvar:0.1", "bogus", "neutral", "seeking:0.9", "cvar:0.5"]
    ordered = sorted(risks, key=_risk_key)
    assert ordered == ["neutral", "cvar:0.5", "cvar:0.1", "seeking:0.9", "seeking:0.25", "bogus"]


def test_import_does_not_load_matplotlib():
    code = (
        "import sys, rsbench.report.figures; "
        "bad = [m for m in ('matplotlib', 'seaborn') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_distortions_follow_the_tails_along_the_frontier():
    risks = ["power:-2", "wang:-0.7", "cvar:0.1", "wang:0.5", "cpw:0.71", "bogus", "neutral"]
    ordered = sorted(risks, key=_risk_key)
    assert ordered == ["neutral", "cvar:0.1", "wang:0.5", "wang:-0.7", "cpw:0.71", "power:-2", "bogus"]
