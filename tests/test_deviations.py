"""A suite that runs a method off its reference defaults says so: ``Suite.deviations`` in the run's manifest,
shown in the report's provenance."""

from __future__ import annotations

from rsbench.paths import PACKAGE_DIR
from rsbench.report.render import _deviations_text
from rsbench.suite import load_suite


def test_smoke_lists_diffusers_budget_deviations() -> None:
    suite = load_suite(PACKAGE_DIR.parent / "suites" / "smoke.yaml")
    found = suite.deviations()
    diffuser = found["diffuser"]
    assert diffuser["candidates"]["reference"] == 64 and diffuser["candidates"]["runs"] == [8]
    assert diffuser["replan_every"] == {"reference": 1, "runs": [2]}
    assert diffuser["sampler"] == {"reference": "ddpm", "runs": ["ddim"]}
    assert "lr" in diffuser and "action_weight" not in diffuser  # only what the suite changes
    assert "cql" not in found  # no reference fields declared (yet): nothing to deviate from
    text = _deviations_text(found)
    assert "diffuser: " in text and "candidates 8 (reference 64)" in text


def test_sweeps_count_as_what_a_suite_runs(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ntasks: {p: {env: rsbench/RiskyPointMass-v0, dataset: pointmass-mixed}}\n"
        "methods: {d: {method: diffuser}}\nseeds: [0]\n"
        "sweep: {methods.d.config.candidates: [64, 16]}\n"
    )
    assert load_suite(path).deviations() == {"d": {"candidates": {"reference": 64, "runs": [64, 16]}}}
    path.write_text(path.read_text().replace("[64, 16]", "[64]"))
    assert load_suite(path).deviations() == {}
