"""``resources.pack``: suite-wide and per method, strictly validated, resolved per trial; suites without it
keep their digest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsbench.errors import UserError
from rsbench.suite import load_suite

RSBENCH = Path(sys.executable).with_name("rsbench")


def _write(tmp_path: Path, resources: dict | None = None, method_resources: dict | None = None) -> Path:
    cql: dict = {"method": "cql"}
    if method_resources is not None:
        cql["resources"] = method_resources
    data = {
        "name": "p",
        "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed"}},
        "methods": {"cql": cql, "iqn": {"method": "iqn"}},
        "seeds": [0, 1, 2],
    }
    if resources is not None:
        data["resources"] = resources
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_method_s_resources_override_the_suite_s(tmp_path: Path) -> None:
    suite = load_suite(_write(tmp_path, {"cpu": 1, "pack": 4}, {"pack": 2, "cpu": 2}))
    rows = {(t.method_label, t.seed): t for t in suite.trials()}
    assert (rows[("cql", 0)].cpu, rows[("cql", 0)].gpu, rows[("cql", 0)].pack) == (2.0, 0.0, 2)
    assert (rows[("iqn", 0)].cpu, rows[("iqn", 0)].gpu, rows[("iqn", 0)].pack) == (1.0, 0.0, 4)


@pytest.mark.parametrize(
    ("resources", "method_resources", "message"),
    [
        ({"pack": 0}, None, "resources.pack: expected >= 1, got 0"),
        ({"pack": 2.5}, None, "resources.pack: expected an integer, got 2.5"),
        ({"pack": True}, None, "resources.pack: expected an integer, got True"),
        ({"pack": "8"}, None, "resources.pack: expected an integer, got '8'"),
        (None, {"pack": -1}, "methods.cql.resources.pack: expected >= 1, got -1"),
        (
            None,
            {"gpu": 1.5},
            "methods.cql.resources.gpu: expected a fraction (<= 1) or a whole number of GPUs",
        ),
        (None, {"packs": 2}, "methods.cql.resources.packs: unknown key; expected one of cpu, gpu, pack"),
    ],
)
def test_a_bad_pack_value_is_one_line_naming_file_and_key(
    tmp_path: Path, resources, method_resources, message
) -> None:
    path = _write(tmp_path, resources, method_resources)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_suite(path)


def test_rsbench_validate_exits_2_on_a_bad_pack(tmp_path: Path) -> None:
    path = _write(tmp_path, {"pack": 0})
    proc = subprocess.run([str(RSBENCH), "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"rsbench: error: {path}: resources.pack: expected >= 1, got 0"
    ]


def test_suites_without_pack_keep_their_digest(tmp_path: Path) -> None:
    """The resolved suite (which the digest hashes) holds the new keys only when they are set."""
    plain = load_suite(_write(tmp_path)).to_dict()
    assert "pack" not in plain["resources"] and all("resources" not in m for m in plain["methods"].values())
    packed = load_suite(_write(tmp_path, {"pack": 2}, {"pack": 4})).to_dict()
    assert packed["resources"]["pack"] == 2 and packed["methods"]["cql"]["resources"]["pack"] == 4
