"""The experiment scripts: their comparison logic on hand-made rows, and their one-line usage errors."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rsbench.errors import UserError
from rsbench.eval import stats

REPO = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", REPO / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tradeoff() -> ModuleType:
    return _script("risk_tradeoff")


def _rows(label: str, risk: str, cvars: list[float], violations: list[float]) -> list[dict]:
    return [
        {
            "label": label,
            "risk": risk,
            "seed": seed,
            "mean_return": -c / 2,
            "cvar_0.1": c,
            "violation_rate": v,
            "episode_violation_rate": v,
            "mean_length": 10.0,
        }
        for seed, (c, v) in enumerate(zip(cvars, violations, strict=True))
    ]


def test_groups_parse_with_and_without_risk(tradeoff: ModuleType) -> None:
    groups = [("cql", "neutral"), ("iqn", "cvar:0.1"), ("rs", "cvar:0.1"), ("rs", "neutral")]
    assert tradeoff.parse_group("cql", groups) == ("cql", "neutral")
    assert tradeoff.parse_group("rs@neutral", groups) == ("rs", "neutral")
    with pytest.raises(UserError, match="'rs' names 2 of the evaluated groups"):
        tradeoff.parse_group("rs", groups)
    with pytest.raises(UserError, match="--compare: 'iqn@neutral' names 0"):
        tradeoff.parse_group("iqn@neutral", groups)
    assert tradeoff.comparisons(groups, ["iqn,cql"]) == [
        (("rs", "cvar:0.1"), ("rs", "neutral")),
        (("iqn", "cvar:0.1"), ("cql", "neutral")),
    ]


def test_cross_label_comparison_is_a_welch_test_across_seeds(tradeoff: ModuleType) -> None:
    iqn = _rows("iqn", "cvar:0.1", [-11.0, -10.0, -12.0], [0.0, 0.01, 0.0])
    cql = _rows("cql", "neutral", [-28.0, -29.0, -27.0], [0.5, 0.4, 0.6])
    summary = tradeoff.summarize(iqn + cql, ["iqn@cvar:0.1,cql"])
    by_metric = {t["metric"]: t for t in summary["tests"]}
    assert by_metric["cvar_0.1"]["comparison"] == "iqn@cvar:0.1 vs cql@neutral"
    assert by_metric["cvar_0.1"]["difference"] == pytest.approx(-11.0 - -28.0)
    expected = stats.welch_t_test(np.array([-11.0, -10.0, -12.0]), np.array([-28.0, -29.0, -27.0]), "greater")
    assert by_metric["cvar_0.1"]["p_value"] == pytest.approx(expected.p_value)
    assert by_metric["violation_rate"]["alternative"] == "less"
    assert by_metric["violation_rate"]["difference"] == pytest.approx(0.01 / 3 - 0.5)
    table = {(r["label"], r["risk"]): r for r in summary["table"]}
    assert table[("iqn", "cvar:0.1")]["cvar_0.1"]["mean"] == pytest.approx(-11.0)
    assert "| iqn@cvar:0.1 vs cql@neutral | cvar_0.1 | +17.000 |" in tradeoff.markdown(summary, "header")


def test_unknown_compare_group_fails_before_training(tradeoff: ModuleType, capsys) -> None:
    code = tradeoff.main(["--methods", "cql", "--compare", "nope,cql", "--out", "out"])
    assert code == 2
    err = capsys.readouterr().err
    assert "risk_tradeoff: error: --compare: 'nope' names 0 of the evaluated groups" in err
    assert not Path("out").exists()


def test_halfcheetah_sanity_rejects_an_unknown_label(capsys) -> None:
    code = _script("cql_halfcheetah").main(["--label", "nope", "--out", "out"])
    assert code == 2
    assert "cql_halfcheetah: error: --label: no method 'nope'" in capsys.readouterr().err
    assert not Path("out").exists()


def test_halfcheetah_sanity_end_to_end_on_a_tiny_dataset(capsys) -> None:
    from rsbench.data.build import build

    build("halfcheetah-mixed", episodes=4, seed=0, progress=False)  # the script reuses what exists
    code = _script("cql_halfcheetah").main(
        ["--scale", "1", "--seeds", "0", "--episodes", "2", "--threads", "1", "--out", "out"]
    )
    assert code == 0
    result = json.loads(Path("out/results.json").read_text())
    assert result["steps"] == 300 and result["batch_size"] == 64 and result["all_losses_finite"]
    (trial,) = result["trials"]
    assert len(trial["returns"]) == len(result["random_returns"]) == 2
    assert trial["curves"][-1]["step"] == 300
    assert "| random | - |" in Path("out/results.md").read_text()
    assert "results written to" in capsys.readouterr().err
