"""The experiment scripts (what the product cannot express as a suite): one-line usage errors, end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", REPO / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_halfcheetah_sanity_rejects_an_unknown_label(capsys) -> None:
    code = _script("cql_halfcheetah").main(["--label", "nope", "--out", "out"])
    assert code == 2
    assert "cql_halfcheetah: error: --label: no method 'nope'" in capsys.readouterr().err
    assert not Path("out").exists()


def test_halfcheetah_sanity_end_to_end_on_a_tiny_dataset(capsys) -> None:
    from rsbench.data.build import build

    script = _script("cql_halfcheetah")
    script.DATASET = "halfcheetah-mixed-4ep"  # a tiny build, under its own id
    build(script.DATASET, seed=0, progress=False)  # the script reuses what exists
    code = script.main(["--scale", "1", "--seeds", "0", "--episodes", "2", "--threads", "1", "--out", "out"])
    assert code == 0
    result = json.loads(Path("out/results.json").read_text())
    assert result["steps"] == 300 and result["batch_size"] == 64 and result["all_losses_finite"]
    (trial,) = result["trials"]
    assert len(trial["returns"]) == len(result["random_returns"]) == 2
    assert trial["curves"][-1]["step"] == 300
    assert "| random | - |" in Path("out/results.md").read_text()
    assert "results written to" in capsys.readouterr().err
