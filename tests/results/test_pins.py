"""Pinned baselines in chunks: report and regress inputs, same suite and protocol, re-run trials replaced,
written whole or not at all, format-1 pins still read by regress."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rsbench.errors import UserError
from rsbench.report.regress import pin, regress
from rsbench.report.render import render_report
from rsbench.results import load_run, pins
from rsbench.results.protocol import Difference, difference, first_difference, suite_difference
from rsbench.results.tables import per_seed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def chunk(stored_run):
    """``chunk(where, keep, **stored_run_options)``: a stored run of the smoke suite holding only the trials
    whose id starts with ``keep`` (a chunk run with ``--only``), its other parts removed."""

    def make(where: Path, keep: str, **kwargs) -> Path:
        run = stored_run(where, **kwargs)
        for part in (run / "trials").iterdir():
            if not part.name.startswith(keep):
                part.unlink()
        for part in (run / "episodes").iterdir():
            if not part.name.startswith(keep):
                shutil.rmtree(part)
        return run

    return make


def test_chunks_add_up_to_one_pin_that_report_and_regress_read(tmp_path: Path, stored_run, chunk) -> None:
    to = tmp_path / "baselines" / "smoke"
    pin(load_run(chunk(tmp_path / "c1", "rs_diffuser")), to)
    pin(load_run(chunk(tmp_path / "c2", "diffuser", shift=-1.0)), to)
    meta = json.loads((to / "baseline.json").read_text())
    assert meta["format"] == 2 and [c["run_id"] for c in meta["chunks"]] == ["c1", "c2"]
    assert meta["chunks"][1]["trials"] == [f"diffuser-pointmass-s{s}" for s in range(3)]
    assert sorted(p.name for p in to.iterdir()) == [
        "baseline.json", "calibration.parquet", "episodes.parquet", "per_seed.csv", "suite.yaml", "trials.parquet",
    ]  # fmt: skip
    assert not list(to.parent.glob(".*"))  # no staged copy, old copy or lock left behind
    pinned = load_run(to)  # a pin is a report input, loaded as a run of its pinned trials
    assert pinned.run_id == "smoke" and set(pinned.episodes["method"]) == {"rs_diffuser", "diffuser"}
    assert [c["run_id"] for c in pinned.manifest["chunks"]] == ["c1", "c2"]
    whole = load_run(tmp_path / "c1")
    mine = load_run(stored_run(tmp_path / "mine"))
    # The pinned per-seed table is the chunks' own (to the CSV's 10 significant digits).
    table = pd.read_csv(to / "per_seed.csv", dtype={"sweep": str})
    expected = per_seed(whole.episodes, [0.05, 0.1, 0.25])
    got = table[table["method"] == "rs_diffuser"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_exact=False, rtol=1e-9)
    rows = regress(mine, to)
    assert {(r.method, r.risk) for r in rows} == {
        ("rs_diffuser", "neutral"), ("rs_diffuser", "cvar:0.1"), ("diffuser", "neutral"),
    }  # fmt: skip
    md = render_report([mine, pinned], tmp_path / "rep").markdown.read_text()
    assert "rs_diffuser@mine" in md and "rs_diffuser@smoke" in md and "diffuser@smoke" in md
    assert "iqn" in md  # the new run's own method among the pinned ones
    assert "smoke (pinned): chunk c1" in md and "chunk c2" in md


def test_a_re_run_trial_replaces_the_pinned_one(tmp_path: Path, chunk) -> None:
    to = tmp_path / "b"
    pin(load_run(chunk(tmp_path / "c1", "diffuser")), to)
    pin(load_run(chunk(tmp_path / "again", "diffuser-pointmass-s1", shift=100.0)), to)
    pinned = load_run(to)
    counts = pinned.episodes.groupby("trial").size()
    assert (counts == 40).all() and len(counts) == 3  # replaced, not appended
    table = per_seed(pinned.episodes, [0.1]).set_index("trial")["mean_return"]
    assert table["diffuser-pointmass-s1"] > 50 > table["diffuser-pointmass-s0"]
    chunks = json.loads((to / "baseline.json").read_text())["chunks"]
    assert [(c["run_id"], c["trials"]) for c in chunks] == [
        ("c1", ["diffuser-pointmass-s0", "diffuser-pointmass-s2"]),
        ("again", ["diffuser-pointmass-s1"]),
    ]
    assert len(pinned.trials) == 3 and pinned.trials["trial"].is_unique
    assert pins.describe(to) == (
        "chunk 2 (run again): 1 trial, replacing 1 pinned trial; the pin holds 3 trials of 1 method label on "
        "1 task, from 2 chunks"
    )


def test_a_chunk_of_another_suite_or_protocol_is_refused_in_one_line(tmp_path: Path, chunk) -> None:
    to = tmp_path / "b"
    pin(load_run(chunk(tmp_path / "c1", "diffuser")), to)
    before = {p.name: p.read_bytes() for p in to.iterdir()}
    other = chunk(tmp_path / "other", "iqn", eval_seed=4)
    with pytest.raises(UserError) as info:
        pin(load_run(other), to)
    assert str(info.value) == (
        f"{to}: eval.seed: run other is not a chunk of this pin: eval.seed is 0 in the pin and 4 in other "
        "(a chunk runs the pinned suite under the same protocol; pin it elsewhere)"
    )
    suite = yaml.safe_load((tmp_path / "c1" / "suite.yaml").read_text())
    suite["methods"]["iqn"]["config"]["n_taus"] = 8
    changed = chunk(tmp_path / "changed", "iqn")
    (changed / "suite.yaml").write_text(yaml.safe_dump(suite))
    with pytest.raises(UserError, match=r"methods.iqn.config.n_taus: .* is 16 in the pin and 8 in changed"):
        pin(load_run(changed), to)
    assert {p.name: p.read_bytes() for p in to.iterdir()} == before
    assert not list(to.parent.glob(".*"))


def test_a_failed_write_leaves_the_pin_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk
) -> None:
    to = tmp_path / "b"
    pin(load_run(chunk(tmp_path / "c1", "diffuser")), to)
    before = {p.name: p.read_bytes() for p in to.iterdir()}

    def crash(staged: Path, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pins, "_swap", crash)
    with pytest.raises(OSError, match="disk full"):
        pin(load_run(chunk(tmp_path / "c2", "iqn")), to)
    assert {p.name: p.read_bytes() for p in to.iterdir()} == before
    assert not list(tmp_path.glob(".b*"))  # staged copy and lock removed


def test_a_second_pinner_is_refused_while_one_writes(tmp_path: Path, chunk) -> None:
    to = tmp_path / "b"
    with pins.locked(to), pytest.raises(UserError, match="another `rsbench baseline pin` is writing"):
        pin(load_run(chunk(tmp_path / "c1", "diffuser")), to)
    assert not to.exists()


def test_a_format_1_pin_still_serves_regress_and_asks_report_for_a_re_pin(tmp_path: Path, stored_run) -> None:
    old = tmp_path / "old"  # as pinned before chunks: baseline.json (no format, no chunks) and per_seed.csv
    mine = load_run(stored_run(tmp_path / "mine"))
    pin(mine, old)
    meta = json.loads((old / "baseline.json").read_text())
    for key in ("format", "chunks", "suite_hash", "pinned"):
        del meta[key]
    (old / "baseline.json").write_text(json.dumps(meta))
    for part in old.glob("*.parquet"):
        part.unlink()
    (old / "suite.yaml").unlink()
    assert {r.result.verdict.value for r in regress(mine, old)} <= {"OK", "INCONCLUSIVE"}
    with pytest.raises(UserError, match=r"format: pinned before per-episode records were kept .* re-pin it"):
        load_run(old)
    with pytest.raises(UserError, match="re-pin it"):
        pin(mine, old)


def test_differences_name_the_first_key() -> None:
    a = {"eval": {"episodes": 100, "seed": 0, "alphas": [0.1]}, "tasks": {"t": {"env": "e", "horizon": None}}}
    b = json.loads(json.dumps(a))
    assert difference(a, {}, b, {}) is None and suite_difference(a, {}, b, {}) is None
    b["tasks"]["t"]["horizon"] = 50
    assert difference(a, {}, b, {}) == Difference("tasks.t.horizon", None, 50)
    assert difference(a, {"eval_protocol": 2}, a, {}) == Difference("eval_protocol", 2, 1)
    extra = {**a, "tasks": {**a["tasks"], "u": {"env": "f"}}}
    assert difference(extra, {}, a, {}) is None  # merging: tasks both have
    assert difference(extra, {}, a, {}, tasks="left") == Difference("tasks.u", "defined", None)
    assert first_difference({"m": {"x": (1, 2)}}, {"m": {"x": [1, 2]}}) is None  # tuples read back as lists
    assert first_difference({"m": 1}, {"m": 1, "n": 2}) == Difference("n", None, 2)
    assert Difference("eval.seed", 0, 4).describe("a", "b") == "eval.seed is 0 in a and 4 in b"


def test_status_says_what_the_pin_holds_and_what_is_left_to_run(tmp_path: Path, chunk, run_cli) -> None:
    to = tmp_path / "b"
    pin(load_run(chunk(tmp_path / "c1", "rs_diffuser")), to)
    pin(load_run(chunk(tmp_path / "c2", "diffuser-pointmass-s1")), to)
    st = pins.status(to)
    suite = yaml.safe_load((to / "suite.yaml").read_text())
    cells = {c["method"]: c for c in st.cells}
    assert list(cells) == list(suite["methods"]) and {c["task"] for c in st.cells} == {"pointmass"}
    expected: list[str] = []
    for (
        m,
        cell,
    ) in cells.items():  # a method's own seeds (its `seeds:`, else the suite's), in the suite's order
        pinned = {"rs_diffuser": [0, 1, 2], "diffuser": [1]}.get(m, [])
        missing = [f"{m}-pointmass-s{s}" for s in cell["seeds"] if s not in pinned]
        assert cell["pinned"] == pinned and cell["missing"] == missing
        expected += [f"{m}-pointmass-*"] if not pinned else missing  # nothing pinned: a pattern, else its ids
    assert st.only() == expected and st.missing == [t for c in cells.values() for t in c["missing"]]
    assert [(c["run"], c["trials"]) for c in st.chunks] == [("c1", 3), ("c2", 1)]
    code, stderr = run_cli(["baseline", "status", str(to)])
    assert code == 0 and f"--only '{','.join(st.only())}'" in stderr
    code, _ = run_cli(["baseline", "status", str(tmp_path / "nowhere")])
    assert code == 2
