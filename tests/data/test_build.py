import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsbench.data import store
from rsbench.data.build import build
from rsbench.data.catalog import RECIPES
from rsbench.data.coverage import tail_coverage


def test_dataset_opens_with_plain_minari_and_has_risk_flags(pointmass_root: Path):
    # A fresh interpreter that never imports rsbench: the dataset must stand on its own.
    code = (
        "import json, minari, numpy as np\n"
        "ds = minari.load_dataset('rsbench/pointmass-mixed-v1')\n"
        "eps = list(ds.iterate_episodes())\n"
        "v = np.concatenate([e.infos['violation'][1:] for e in eps])\n"
        "p = np.concatenate([e.infos['penalty'][1:] for e in eps])\n"
        "print(json.dumps({'episodes': ds.total_episodes, 'steps': int(ds.total_steps), "
        "'violations': int(v.sum()), 'penalties': int(p.sum()), 'len_ok': bool(len(v) == ds.total_steps)}))\n"
    )
    env = {**os.environ, "MINARI_DATASETS_PATH": str(pointmass_root)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 200 and summary["len_ok"]
    assert summary["violations"] > 0 and 0 < summary["penalties"] < summary["violations"]


def test_flags_agree_with_the_spec_and_rewards(pointmass_data):
    from rsbench.envs import SPECS

    spec = SPECS["rsbench/RiskyPointMass-v0"]
    d = pointmass_data
    assert np.array_equal(d.violations, spec.violation(d.next_observations))
    assert not np.any(d.penalties & ~d.violations)
    assert d.metadata["risk_spec"] == spec.to_dict() and d.metadata["risk_spec_version"] == 1
    assert len(set(d.episode_seeds.tolist())) == d.n_episodes


def test_mixture_holds_both_shortcut_and_detour(pointmass_data):
    report = tail_coverage(pointmass_data)
    # About half the episodes cut through the hazard; the rest go around.
    assert 0.3 < report["risky_episode_fraction"] < 0.7
    assert report["penalty_events"] > 0
    assert report["return_quantiles"]["0"] <= report["return_quantiles"]["0.5"]


def test_build_skips_existing_and_force_rebuilds(tmp_path: Path):
    dataset_id, built = build("pointmass-mixed", episodes=5, progress=False)
    assert built and store.exists(dataset_id)
    assert build("pointmass-mixed", episodes=5, progress=False) == (dataset_id, False)
    assert build("pointmass-mixed", episodes=7, force=True, progress=False) == (dataset_id, True)
    assert store.read_metadata(dataset_id)["total_episodes"] == 7
    assert store.list_ids() == [dataset_id]


def test_same_seed_same_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from rsbench.data.offline import load

    loaded = []
    for name in ("a", "b"):
        monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / name))
        build("pointmass-mixed", episodes=10, seed=3, progress=False)
        loaded.append(load("rsbench/pointmass-mixed-v1"))
    a, b = loaded
    assert np.array_equal(a.observations, b.observations) and np.array_equal(a.rewards, b.rewards)


def test_crashed_build_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    dataset_id, _ = build("pointmass-mixed", episodes=4, progress=False)
    before = store.read_metadata(dataset_id)

    def broken(rng):
        raise RuntimeError("behaviour crashed")

    monkeypatch.setitem(
        RECIPES,
        "pointmass-mixed",
        RECIPES["pointmass-mixed"].__class__(**{**RECIPES["pointmass-mixed"].__dict__, "behaviour": broken}),
    )
    with pytest.raises(RuntimeError):
        build("pointmass-mixed", episodes=4, force=True, progress=False)
    assert store.read_metadata(dataset_id) == before
    root = Path(os.environ["MINARI_DATASETS_PATH"])
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_mujoco_recipe_builds(tmp_path: Path):
    from rsbench.data.offline import load

    dataset_id, _ = build("hopper-mixed", episodes=4, progress=False)
    d = load(dataset_id)
    assert d.obs_dim == 11 and d.act_dim == 3 and d.has_risk_flags
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
