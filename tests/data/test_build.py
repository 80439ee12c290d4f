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
        "ds = minari.load_dataset('rsbench/pointmass-mixed-200ep-v1')\n"
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
    assert build("pointmass-mixed-5ep", force=True, progress=False) == (dataset_id, True)
    assert store.read_metadata(dataset_id)["total_episodes"] == 5
    assert store.list_ids() == [dataset_id]


def test_the_size_is_part_of_the_dataset_id(tmp_path: Path):
    """Two sizes of one recipe never share an id (a 300k and a 1M build were one id before)."""
    from rsbench.data.catalog import minari_id

    small, _ = build("pointmass-mixed", episodes=3, seed=0, progress=False)
    larger, _ = build("pointmass-mixed", episodes=4, seed=0, progress=False)
    assert (small, larger) == ("rsbench/pointmass-mixed-3ep-v1", "rsbench/pointmass-mixed-4ep-v1")
    assert store.list_ids() == [small, larger]
    assert store.read_metadata(small)["total_episodes"] == 3
    assert store.read_metadata(larger)["total_episodes"] == 4
    block = store.read_metadata(small)[store.METADATA_KEY]
    assert block["name"] == "pointmass-mixed-3ep" and block["size"] == {"episodes": 3}
    # The default size keeps the plain id; a size spelled another way is the same id.
    assert minari_id("pointmass-mixed") == minari_id("pointmass-mixed-1000ep") == "rsbench/pointmass-mixed-v1"
    assert minari_id("hopper-medium") == minari_id("hopper-medium-1m") == "rsbench/hopper-medium-v1"
    assert minari_id("hopper-medium-300k") == "rsbench/hopper-medium-300k-v1"
    assert minari_id("hopper-medium-300000") == "rsbench/hopper-medium-300k-v1"
    assert minari_id("hopper-medium-450") == "rsbench/hopper-medium-450-v1"
    assert minari_id("mujoco/hopper/medium-v0") == "mujoco/hopper/medium-v0"


def test_a_suite_names_a_sized_dataset_and_the_run_records_it(tmp_path: Path):
    """ensure_dataset builds the size the name gives, and the coverage the run manifest records (its
    ``datasets`` entry) carries the sized id, the size and the content hash."""
    from types import SimpleNamespace

    from rsbench.data.build import ensure_dataset
    from rsbench.data.offline import load
    from rsbench.train.job import prepare_datasets

    dataset_id = ensure_dataset("pointmass-mixed-3ep")
    assert dataset_id == "rsbench/pointmass-mixed-3ep-v1"
    report = tail_coverage(load(dataset_id))
    assert report["dataset"] == dataset_id and report["size"] == {"episodes": 3} and report["episodes"] == 3
    assert report["content_hash"] == store.read_metadata(dataset_id)[store.METADATA_KEY]["content_hash"]
    # What `rsbench run` writes into the manifest's `datasets` block, per task.
    entry = prepare_datasets([SimpleNamespace(task="pm", dataset="pointmass-mixed-4ep")])["pm"]  # type: ignore[list-item]
    assert entry["dataset"] == "rsbench/pointmass-mixed-4ep-v1" and entry["size"] == {"episodes": 4}


def test_a_size_in_the_name_and_a_size_flag_is_one_line_error(run_cli):
    code, err = run_cli(["data", "build", "pointmass-mixed-3ep", "--episodes", "4"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--episodes" in err
    code, err = run_cli(["data", "build", "pointmass-mixd-3ep"])
    assert code == 2 and "unknown dataset 'pointmass-mixd-3ep'" in err


def test_data_build_prints_the_content_hash(tmp_path: Path):
    from typer.testing import CliRunner

    from rsbench import cli
    from rsbench.data.offline import load

    result = CliRunner().invoke(cli.app, ["data", "build", "pointmass-mixed-2ep", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["dataset"] == "rsbench/pointmass-mixed-2ep-v1"
    assert printed["content_hash"] == load(printed["dataset"]).content_hash()


def test_same_seed_same_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from rsbench.data.offline import load

    loaded = []
    for name in ("a", "b"):
        monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / name))
        dataset_id, _ = build("pointmass-mixed", episodes=10, seed=3, progress=False)
        loaded.append(load(dataset_id))
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
