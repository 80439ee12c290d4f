"""Suite files: strict validation with one-line errors, the trial table, the digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rsbench.data.catalog import RECIPES
from rsbench.envs.spec import Compare, InDisc, RiskSpec
from rsbench.errors import UserError
from rsbench.risk import GRAMMAR, RiskSetting
from rsbench.schema import load
from rsbench.suite import Suite, load_suite

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUITES = HERE / "suites"
SMOKE = REPO / "suites" / "smoke.yaml"
FIVE = SUITES / "five_methods.yaml"  # the five-method smoke suite, checked without a registry
VALID = SUITES / "valid_user_risk_sweep.yaml"

_TOP_KEYS = "name, tasks, methods, seeds, description, train, eval, resources, sweep"

# file -> the exact message after "<file path>: " (key path first, then what was expected).
MALFORMED: dict[str, str] = {
    "unknown_top_level_key.yaml": f"epochs: unknown key; expected one of {_TOP_KEYS}",
    "unknown_nested_key.yaml": "eval.episods: unknown key; expected one of episodes, alphas, seed, distortions",
    "missing_seeds.yaml": "seeds: missing required key (training seeds (the unit of statistical analysis))",
    "missing_task_dataset.yaml": (
        "tasks.pointmass.dataset: missing required key "
        "(catalogue name (`rsbench data build NAME`) or a local Minari dataset id)"
    ),
    "wrong_type_seeds.yaml": "seeds: expected a list of an integer, got 'zero'",
    "wrong_type_episodes.yaml": "eval.episodes: expected an integer, got 1.5",
    "wrong_type_gpu.yaml": "resources.gpu: expected a number, got 'lots'",
    "range_episodes.yaml": "eval.episodes: expected >= 1, got 0",
    "range_alphas.yaml": "eval.alphas[1]: expected <= 1, got 1.5",
    "range_cpu.yaml": "resources.cpu: expected > 0, got 0.0",
    "unknown_env.yaml": (
        "tasks.pointmass.env: unknown task 'rsbench/RiskyPointMass-v9'; expected one of "
        "rsbench/RiskyPointMass-v0, rsbench/RiskyHalfCheetah-v0, "
        "rsbench/RiskyHopper-v0, rsbench/RiskyWalker2d-v0, "
        "rsbench/RAMAC-HalfCheetah-medium-expert-v0, rsbench/RAMAC-HalfCheetah-medium-replay-v0, "
        "rsbench/RAMAC-Hopper-medium-expert-v0, rsbench/RAMAC-Hopper-medium-replay-v0, "
        "rsbench/RAMAC-Walker2d-medium-expert-v0, rsbench/RAMAC-Walker2d-medium-replay-v0"
    ),
    "unknown_dataset.yaml": (
        "tasks.pointmass.dataset: unknown dataset 'pointmass-mixd'; expected a catalogue name "
        f"({', '.join(RECIPES)}), optionally sized (hopper-medium-300k), or a Minari id like namespace/name-v0"
    ),
    "risk_alpha_out_of_range.yaml": (
        "methods.rs_diffuser.risk[0]: risk setting 'cvar:2': risk level alpha must be in (0, 1], got 2.0"
    ),
    "risk_unknown_kind.yaml": f"methods.rs_diffuser.risk[0]: risk setting 'wild': expected {GRAMMAR}",
    "risk_distortion_not_a_number.yaml": (
        f"methods.rs_diffuser.risk[1]: risk setting 'wang:abc': 'abc' is not a number; expected {GRAMMAR}"
    ),
    "risk_cvar_zero.yaml": (
        "methods.rs_diffuser.risk[0]: risk setting 'cvar:0': risk level alpha must be in (0, 1], got 0.0"
    ),
    "eval_distortion_out_of_range.yaml": (
        "eval.distortions[0]: risk setting 'cpw:0.1': cpw:ETA needs ETA in [0.28, 1] "
        "(below that the weighting is not monotone), got 0.1"
    ),
    "task_risk_bad_obs.yaml": (
        "tasks.pointmass.risk_spec.when[0].obs: expected a non-negative observation index, got -1"
    ),
    "task_risk_bad_prob.yaml": "tasks.pointmass.risk_spec.prob: expected a probability in [0, 1], got 2.0",
    "sweep_bad_key.yaml": (
        "sweep.methods.nope.config.dim: expected a key path methods.LABEL.config.FIELD "
        "with LABEL one of rs_diffuser, cql"
    ),
    "duplicate_seeds.yaml": "seeds: duplicate seeds in [0, 1, 0]",
    "duplicate_method_seeds.yaml": "methods.rs_diffuser.seeds: duplicate seeds in [0, 2, 2]",
    "invalid_yaml.yaml": "invalid YAML at line 14, column 5: expected ',' or ']', but got ':'",
    "empty.yaml": f"<top level>: expected a mapping with keys {_TOP_KEYS}, got None",
    "list_not_mapping.yaml": (
        f"<top level>: expected a mapping with keys {_TOP_KEYS}, "
        "got [{'name': 'broken'}, {'seeds': [0, 1]}]"
    ),
}

# file -> (key path, fragment of what was expected): checked separately so that a failure says which part
# of the message went wrong; None where the mistake has no key path (the file is not YAML at all).
KEY_AND_EXPECTED: dict[str, tuple[str | None, str]] = {
    "unknown_top_level_key.yaml": ("epochs", "unknown key"),
    "unknown_nested_key.yaml": ("eval.episods", "expected one of episodes"),
    "missing_seeds.yaml": ("seeds", "missing required key"),
    "missing_task_dataset.yaml": ("tasks.pointmass.dataset", "missing required key"),
    "wrong_type_seeds.yaml": ("seeds", "expected a list"),
    "wrong_type_episodes.yaml": ("eval.episodes", "expected an integer"),
    "wrong_type_gpu.yaml": ("resources.gpu", "expected a number"),
    "range_episodes.yaml": ("eval.episodes", "expected >= 1"),
    "range_alphas.yaml": ("eval.alphas[1]", "expected <= 1"),
    "range_cpu.yaml": ("resources.cpu", "expected > 0"),
    "unknown_env.yaml": ("tasks.pointmass.env", "expected one of rsbench/RiskyPointMass-v0"),
    "unknown_dataset.yaml": ("tasks.pointmass.dataset", "namespace/name-v0"),
    "risk_alpha_out_of_range.yaml": ("methods.rs_diffuser.risk[0]", "(0, 1]"),
    "risk_unknown_kind.yaml": ("methods.rs_diffuser.risk[0]", "cvar:ALPHA"),
    "risk_distortion_not_a_number.yaml": ("methods.rs_diffuser.risk[1]", "wang:ETA"),
    "risk_cvar_zero.yaml": ("methods.rs_diffuser.risk[0]", "(0, 1]"),
    "eval_distortion_out_of_range.yaml": ("eval.distortions[0]", "[0.28, 1]"),
    "task_risk_bad_obs.yaml": ("tasks.pointmass.risk_spec.when[0].obs", "non-negative observation index"),
    "task_risk_bad_prob.yaml": ("tasks.pointmass.risk_spec.prob", "probability in [0, 1]"),
    "sweep_bad_key.yaml": ("sweep.methods.nope.config.dim", "methods.LABEL.config.FIELD"),
    "duplicate_seeds.yaml": ("seeds", "duplicate seeds"),
    "duplicate_method_seeds.yaml": ("methods.rs_diffuser.seeds", "duplicate seeds"),
    "invalid_yaml.yaml": (None, "invalid YAML at line 14"),
    "empty.yaml": ("<top level>", "expected a mapping"),
    "list_not_mapping.yaml": ("<top level>", "expected a mapping"),
}


def _error(path: Path, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load_suite(path, **kwargs)
    return str(info.value)


def test_every_suite_file_is_covered() -> None:
    files = {p.name for p in SUITES.glob("*.yaml")}
    assert files == {*MALFORMED, VALID.name, FIVE.name}
    assert set(KEY_AND_EXPECTED) == set(MALFORMED)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_suite_message(name: str) -> None:
    path = SUITES / name
    message = _error(path)
    assert message.splitlines() == [message], "the error must be one line"
    assert message.startswith(f"{path}: ")
    assert message == f"{path}: {MALFORMED[name]}"


@pytest.mark.parametrize("name", sorted(KEY_AND_EXPECTED))
def test_malformed_suite_names_key_and_expectation(name: str) -> None:
    path = SUITES / name
    key, expected = KEY_AND_EXPECTED[name]
    with pytest.raises(UserError) as info:
        load_suite(path)
    err = info.value
    assert err.source == str(path)
    assert err.key == key
    assert expected in err.detail
    if key is not None:
        assert str(err).startswith(f"{path}: {key}: ")


def test_smoke_suite_validates_against_the_registry() -> None:
    from rsbench.methods import available
    from rsbench.methods.registry import check_suite_methods

    suite = load_suite(SMOKE, known_methods=available())
    check_suite_methods(suite, source=SMOKE)
    assert {t.method_label for t in suite.trials()} <= set(available())


def test_five_method_suite_validates() -> None:
    suite = load_suite(FIVE)
    trials = suite.trials()
    assert suite.name == "smoke"
    assert len(trials) == 10
    assert {t.method_label for t in trials} == {"rs_diffuser", "diffuser", "decision_diffuser", "cql", "iqn"}
    assert {t.seed for t in trials} == {0, 1}
    assert {(t.task, t.dataset) for t in trials} == {("pointmass", "pointmass-mixed")}
    assert all(t.steps == 300 and t.sweep == {} for t in trials)
    by_method = {t.method_label: t.risks for t in trials}
    assert by_method["rs_diffuser"] == ("neutral", "cvar:0.1")
    assert by_method["diffuser"] == ("neutral",)  # the default risk setting
    assert suite.methods["iqn"].risk == (RiskSetting("cvar", 0.1),)


def test_user_risk_and_sweep_suite_validates() -> None:
    suite = load_suite(VALID)
    spec = suite.tasks["pointmass"].risk_spec
    assert isinstance(spec, RiskSpec)
    assert spec.name == "pointmass-edge"
    assert spec.penalty == -20.0 and spec.prob == 0.25
    assert spec.clauses == (Compare("obs", 0, ">", 0.8), InDisc((0, 1), (0.5, 0.5), 0.3))
    assert suite.tasks["pointmass"].horizon == 50
    assert (
        suite.tasks["local"].risk_spec is None
        and suite.tasks["local"].dataset == "someone/pointmass-local-v0"
    )
    assert suite.resources.cpu == 0.5 and suite.resources.gpu == 0.25

    trials = suite.trials()
    n_tasks, n_seeds, n_points = 2, 3, 2 * 3
    swept = [t for t in trials if t.method_label == "rs_diffuser"]
    plain = [t for t in trials if t.method_label != "rs_diffuser"]
    assert len(swept) == n_tasks * n_seeds * n_points
    assert len(plain) == 2 * n_tasks * n_seeds
    assert len(trials) == 48
    points = {tuple(sorted(t.sweep.items())) for t in swept}
    assert points == {
        (("methods.rs_diffuser.config.dim", d), ("methods.rs_diffuser.config.n_quantiles", q))
        for d in (16, 32)
        for q in (8, 16, 32)
    }
    assert all(t.sweep == {} for t in plain)
    assert {t.steps for t in trials if t.method_label == "diffuser"} == {50}
    assert {t.steps for t in trials if t.method_label != "diffuser"} == {100}
    assert swept[0].risks == ("neutral", "cvar:0.1", "seeking:0.9")
    # every trial has a stable file-safe id and its resolved config (sweep values set)
    assert len({t.id for t in trials}) == len(trials)
    first = swept[0]
    assert first.id.startswith(f"rs_diffuser-{first.task}-s{first.seed}-")
    assert first.config["dim"] == first.sweep["methods.rs_diffuser.config.dim"]
    assert first.config["n_quantiles"] == first.sweep["methods.rs_diffuser.config.n_quantiles"]
    assert plain[0].id == f"{plain[0].method_label}-{plain[0].task}-s{plain[0].seed}"


@pytest.mark.parametrize("path", [SMOKE, VALID, REPO / "suites" / "pointmass.yaml"], ids=lambda p: p.name)
def test_suite_round_trips_through_its_stored_form(path: Path) -> None:
    """A run stores ``suite.to_dict()`` as YAML; reading it back gives the same suite and digest."""
    import yaml

    from rsbench.schema import load
    from rsbench.suite import Suite

    suite = load_suite(path)
    again = load(Suite, yaml.safe_load(yaml.safe_dump(suite.to_dict())), source="stored")
    assert again == suite and again.digest() == suite.digest()


def test_method_batch_size_overrides_the_train_default() -> None:
    suite = load_suite(REPO / "suites" / "pointmass.yaml")
    sizes = {t.method_label: t.batch_size for t in suite.trials()}
    assert sizes["iqn"] == sizes["cql"] == 256 and sizes["rs_diffuser"] == suite.train.batch_size == 64


def test_to_dict_is_plain_data() -> None:
    data = load_suite(VALID).to_dict()
    assert data["methods"]["rs_diffuser"]["risk"] == ["neutral", "cvar:0.1", "seeking:0.9"]
    assert data["tasks"]["pointmass"]["risk_spec"]["name"] == "pointmass-edge"
    assert data["tasks"]["local"]["risk_spec"] is None


def test_digest_is_stable_and_tracks_values(tmp_path: Path) -> None:
    first, second = load_suite(FIVE).digest(), load_suite(FIVE).digest()
    assert first == second
    assert len(first) == 16

    text = FIVE.read_text()
    copy = tmp_path / "copy.yaml"
    copy.write_text("# a comment does not change the suite\n" + text)
    assert load_suite(copy).digest() == first, "the digest depends on the values, not the file"

    assert "  episodes: 50\n" in text
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("  episodes: 50\n", "  episodes: 51\n"))
    assert load_suite(changed).digest() != first


def test_a_method_may_train_its_own_seeds(tmp_path: Path) -> None:
    text = FIVE.read_text()
    assert "  cql:\n    method: cql\n" in text
    own = tmp_path / "own_seeds.yaml"
    own.write_text(
        text.replace("  cql:\n    method: cql\n", "  cql:\n    method: cql\n    seeds: [0, 5, 7]\n")
    )
    suite, plain = load_suite(own), load_suite(FIVE)
    seeds = {label: [t.seed for t in suite.trials() if t.method_label == label] for label in suite.methods}
    assert seeds["cql"] == [0, 5, 7]
    assert all(seeds[label] == list(plain.seeds) for label in suite.methods if label != "cql")
    assert suite.seeds_of("cql") == (0, 5, 7) and suite.seeds_of("iqn") == plain.seeds
    assert suite.to_dict()["methods"]["cql"]["seeds"] == [0, 5, 7]
    assert "seeds" not in plain.to_dict()["methods"]["cql"], "unset: older suites keep their digest"
    assert load_suite(own).digest() == suite.digest() != plain.digest()


def test_known_methods_rejects_unknown_method() -> None:
    known = {"rs_diffuser", "diffuser", "decision_diffuser", "cql"}
    message = _error(FIVE, known_methods=known)
    assert message == (
        f"{FIVE}: methods.iqn.method: unknown method 'iqn'; "
        "expected one of cql, decision_diffuser, diffuser, rs_diffuser"
    )
    assert len(load_suite(FIVE, known_methods={*known, "iqn"}).trials()) == 10
    assert len(load_suite(FIVE, known_methods=()).trials()) == 10  # empty registry: not checked


def test_missing_file() -> None:
    path = SUITES / "does_not_exist.yaml"
    message = _error(path)
    assert message == f"{path}: file not found"
    assert "file not found" in message


def test_directory_is_not_a_file() -> None:
    assert _error(SUITES) == f"{SUITES}: not a file"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("seeds: []", "seeds: expected at least one seed"),
        ("tasks: {}", "tasks: expected at least one task"),
        ("methods: {a: {method: cql, risk: []}}", "methods.a.risk: expected at least one risk setting"),
        (
            "sweep: {methods.a.config.dim: []}",
            "sweep.methods.a.config.dim: expected a non-empty list of values",
        ),
        (
            "sweep: {methods.a.dim: [1, 2]}",
            "sweep.methods.a.dim: expected a key path methods.LABEL.config.FIELD",
        ),
        ("seeds: [0, 0.5]", "seeds[1]: expected an integer, got 0.5"),
        ("seeds: [0, -1]", "seeds[1]: expected >= 0, got -1"),
        ("eval: {alphas: [0.1, true]}", "eval.alphas[1]: expected a number, got True"),
        ("resources: {cpu: .inf}", "resources.cpu: expected a number, got inf"),
        (
            "tasks: {p: {env: rsbench/RiskyPointMass-v0, dataset: pointmass-mixed, horizon: 0}}",
            "tasks.p.horizon: expected >= 1, got 0",
        ),
        (
            "tasks: {p: {env: rsbench/RiskyPointMass-v0, dataset: pointmass-mixed, horizon: x}}",
            "tasks.p.horizon: expected an integer, got 'x'",
        ),
        (
            "methods: {a: {method: cql, risk: ['neutral:0.5']}}",
            "methods.a.risk[0]: risk setting 'neutral:0.5': expected neutral, cvar:ALPHA",
        ),
        ("methods: {a: {method: cql, steps: 0}}", "methods.a.steps: expected >= 1, got 0"),
        ("methods: {a: {method: cql, config: [1]}}", "methods.a.config: expected a mapping, got [1]"),
    ],
)
def test_cross_field_and_edge_cases(tmp_path: Path, body: str, expected: str) -> None:
    base = {
        "name": "name: t",
        "tasks": "tasks: {p: {env: rsbench/RiskyPointMass-v0, dataset: pointmass-mixed}}",
        "methods": "methods: {a: {method: cql}}",
        "seeds": "seeds: [0]",
    }
    key = body.split(":", 1)[0]
    base[key] = body
    path = tmp_path / "edge.yaml"
    path.write_text("\n".join(base.values()) + "\n")
    message = _error(path)
    assert message.splitlines() == [message]
    assert message.startswith(f"{path}: {expected}")


# Known bugs (reported, not fixed here): each should become a one-line UserError.


def test_control_character_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bell.yaml"
    path.write_text("name: t\x07\n")
    message = _error(path)
    assert message.splitlines() == [message]


def test_unhashable_risk_op_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "op.yaml"
    path.write_text(
        FIVE.read_text().replace(
            "    dataset: pointmass-mixed\n",
            "    dataset: pointmass-mixed\n"
            "    risk_spec: {when: [{obs: 0, op: ['>'], value: 1}], penalty: -1, prob: 0.1}\n",
        )
    )
    assert "tasks.pointmass.risk_spec.when[0].op" in _error(path)


def test_digest_of_config_with_a_date(tmp_path: Path) -> None:
    path = tmp_path / "date.yaml"
    path.write_text(
        FIVE.read_text().replace("config: {hidden: [64, 64]}", "config: {hidden: [64, 64], tag: 2024-01-01}")
    )
    try:
        suite = load_suite(path)
    except UserError as e:  # rejecting non-JSON config values is a fine fix too
        assert "methods.cql.config" in str(e)
    else:
        assert len(suite.digest()) == 16


# -- --set KEY.PATH=VALUE: the same strictness as the file --


@pytest.mark.parametrize(
    ("sets", "check"),
    [
        (["eval.episodes=7"], lambda s: s.eval.episodes == 7),
        (["seeds=[3, 4]"], lambda s: s.seeds == (3, 4)),
        (["resources.gpu=0.25"], lambda s: s.resources.gpu == 0.25),
        (["methods.cql.config.hidden=[8, 8]"], lambda s: s.methods["cql"].config["hidden"] == [8, 8]),
        (["methods.cql.risk=[cvar:0.1]"], lambda s: [str(r) for r in s.methods["cql"].risk] == ["cvar:0.1"]),
        (
            ["sweep.methods.cql.config.tau=[0.1, 0.2]"],
            lambda s: s.sweep == {"methods.cql.config.tau": (0.1, 0.2)},
        ),
        (["tasks.pointmass.horizon=50"], lambda s: s.tasks["pointmass"].horizon == 50),
        (["description="], lambda s: s.description is None),  # an empty value is YAML null
    ],
)
def test_set_overrides_apply(sets: list[str], check) -> None:
    assert check(load_suite(FIVE, overrides=sets))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=3", f"--set: epochs: unknown key; expected one of {_TOP_KEYS}"),
        (
            "train.step=3",
            "--set: train.step: unknown key; expected one of steps, batch_size, checkpoint_every, log_every",
        ),
        ("tasks.hopper.horizon=3", "--set: tasks.hopper: unknown label; expected one of pointmass"),
        ("eval.episodes.n=3", "--set: eval.episodes: expected an integer, which has no key 'n'"),
        ("eval.alphas=[0.1, 2]", "--set: eval.alphas[1]: expected <= 1, got 2"),
        (
            # The file has no risk block, so --set made one without `when`; the parser names the gap.
            "tasks.pointmass.risk_spec.prob=0.5",
            f"{FIVE}: tasks.pointmass.risk_spec.when: missing required key",
        ),
        (
            "resources.gpu=1.5",
            "--set: resources.gpu: expected a fraction (<= 1) or a whole number of GPUs, got 1.5",
        ),
        ("eval..episodes=3", "--set: eval..episodes: expected a dotted key path like eval.episodes"),
        ("=3", "--set: expected KEY.PATH=VALUE, e.g. eval.episodes=20, got '=3'"),
    ],
)
def test_set_overrides_are_checked_like_the_file(override: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        load_suite(FIVE, overrides=[override])
    assert str(info.value).startswith(message), str(info.value)


def test_a_bad_value_in_the_file_still_names_the_file() -> None:
    path = SUITES / "range_episodes.yaml"
    with pytest.raises(UserError) as info:
        load_suite(path, overrides=["seeds=[0]"])
    assert str(info.value) == f"{path}: eval.episodes: expected >= 1, got 0"


def test_resume_runs_the_same_validate_suite(tmp_path: Path) -> None:
    """``open_run`` checked types only; a stored suite whose method config no longer parses (the method
    changed since) must fail at resume as it would at ``validate``."""
    import yaml

    from rsbench.results.store import RunStore
    from rsbench.train.plan import new_run, open_run

    plan = new_run(load_suite(SMOKE), SMOKE, results=str(tmp_path), name="r", method_files=[])
    data = RunStore(plan.store.root).read_suite_dict()
    data["methods"]["cql"]["config"]["cql_alpha"] = -1.0
    stored = tmp_path / "r" / "suite.yaml"
    stored.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(UserError) as info:
        open_run(str(tmp_path / "r"))
    assert str(info.value) == f"{stored}: methods.cql.config.cql_alpha: expected >= 0, got -1.0"


def test_ramac_suite_validates_with_its_own_tasks_and_labels() -> None:
    """suites/ramac-stochastic-d4rl.yaml: RAMAC's six tasks, RADAC labelled with its training risk."""
    suite = load_suite(REPO / "suites" / "ramac-stochastic-d4rl.yaml")
    assert {t.env for t in suite.tasks.values()} == {
        f"rsbench/RAMAC-{e}-{lv}-v0"
        for e in ("HalfCheetah", "Hopper", "Walker2d")
        for lv in ("medium-expert", "medium-replay")
    }
    radac = suite.methods["radac_wang"]
    assert radac.risk == (RiskSetting.parse(radac.config["train_risk"]),)
    assert suite.eval.distortions == (RiskSetting("wang", eta=-0.7),)
    assert len(suite.trials()) == 6 * 3 * 5


# -- a task's penalty spec is `risk_spec:`; `risk:` is only a method's risk settings --


def test_a_task_risk_key_in_a_suite_file_names_the_rename(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(VALID.read_text().replace("    risk_spec:", "    risk:", 1))
    with pytest.raises(UserError) as info:
        load_suite(old)
    assert str(info.value) == (
        f"{old}: tasks.pointmass.risk: renamed risk_spec: a task's penalty spec is `risk_spec:`; "
        "`risk:` is only a method's risk settings"
    )


def test_the_rename_keeps_every_digest(tmp_path: Path) -> None:
    """A suite's digest hashes the task spec under its first key name: runs and pins made before the rename
    (baselines/smoke among them) keep matching."""
    import json

    from rsbench.results.store import stored_suite

    smoke = load_suite(REPO / "suites" / "smoke.yaml")
    stored = smoke.to_dict()
    for task in stored["tasks"].values():  # as a run or pin stored it before the rename
        task["risk"] = task.pop("risk_spec")
    again = load(Suite, stored_suite(stored), source="an old pin")
    assert again.digest() == smoke.digest()
    suite = load_suite(VALID)
    legacy = suite.to_dict()
    for task in legacy["tasks"].values():
        task["risk"] = task.pop("risk_spec")
    assert suite.digest() == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]


def test_runs_and_pins_stored_before_the_rename_load(tmp_path: Path) -> None:
    import json

    from rsbench.results import pins
    from rsbench.results.store import RunStore

    suite = load_suite(VALID)
    store = RunStore(tmp_path / "run")
    store.write_suite(suite)
    text = (tmp_path / "run" / "suite.yaml").read_text()
    (tmp_path / "run" / "suite.yaml").write_text(text.replace("risk_spec:", "risk:"))  # as written before
    stored = store.read_suite_dict()
    assert stored["tasks"]["pointmass"]["risk_spec"]["name"] == "pointmass-edge"
    assert load(Suite, stored, source="stored") == suite
    (tmp_path / "pin").mkdir()
    meta = {"suite": json.loads(json.dumps(suite.to_dict()).replace('"risk_spec"', '"risk"'))}
    (tmp_path / "pin" / "baseline.json").write_text(json.dumps(meta))
    assert pins.read_meta(tmp_path / "pin")["suite"]["tasks"]["pointmass"]["risk_spec"]["prob"] == 0.25


def _suite_with(tmp_path: Path, methods: dict, sweep: dict | None = None) -> Path:
    import yaml

    data = {
        "name": "labels",
        "tasks": {"pm": {"env": "rsbench/RiskyPointMass-v0", "dataset": "pointmass-mixed"}},
        "methods": methods,
        "seeds": [0],
        **({"sweep": sweep} if sweep else {}),
    }
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("methods", "sweep", "message"),
    [
        (
            {"cql": {"method": "cql", "risk": ["neutral", "cvar:0.1"]}},
            None,
            "methods.cql.risk: cql ignores the inference risk; expected [neutral]",
        ),
        (
            {"dd": {"method": "decision_diffuser", "risk": ["cvar:0.1"]}},
            None,
            "methods.dd.risk: decision_diffuser ignores the inference risk; expected [neutral]",
        ),
        (  # IQN's default train_risk is cvar:0.1: the default label neutral misnames it
            {"iqn": {"method": "iqn"}},
            None,
            "methods.iqn.risk: iqn ignores the inference risk (its actor is trained for train_risk cvar:0.1); "
            "expected [cvar:0.1]",
        ),
        (
            {"codac": {"method": "codac", "config": {"train_risk": "neutral"}, "risk": ["cvar:0.1"]}},
            None,
            "methods.codac.risk: codac ignores the inference risk (its actor is trained for train_risk "
            "neutral); expected [neutral]",
        ),
        (  # a swept training risk: every point but one disagrees with the label
            {"iqn": {"method": "iqn", "risk": ["cvar:0.1"]}},
            {"methods.iqn.config.train_risk": ["cvar:0.1", "cvar:0.25"]},
            "methods.iqn.risk: methods.iqn.config.train_risk='cvar:0.25': iqn ignores the inference risk (its "
            "actor is trained for train_risk cvar:0.25); expected [cvar:0.25]",
        ),
    ],
)
def test_a_method_that_ignores_the_inference_risk_lists_only_its_training_risk(
    tmp_path: Path, methods: dict, sweep: dict | None, message: str
) -> None:
    from rsbench.suite import validate_suite

    path = _suite_with(tmp_path, methods, sweep)
    suite = load_suite(path)
    with pytest.raises(UserError) as info:
        validate_suite(suite, source=path)
    assert str(info.value) == f"{path}: {message}"


def test_risk_labels_that_follow_the_rule_validate(tmp_path: Path) -> None:
    from rsbench.suite import validate_suite

    methods = {
        "rs": {"method": "rs_diffuser", "risk": ["neutral", "cvar:0.1", "seeking:0.9"]},
        "cql": {"method": "cql"},
        "iqn": {"method": "iqn", "config": {"train_risk": "cvar:0.25"}, "risk": ["cvar:0.25"]},
        "iqn_neutral": {"method": "iqn", "config": {"train_risk": "neutral"}},
        "codac": {"method": "codac", "risk": ["cvar:0.1"]},
    }
    path = _suite_with(tmp_path, methods)
    validate_suite(load_suite(path), source=path)
    for suite in sorted((REPO / "suites").glob("*.yaml")):  # the shipped suites keep the rule
        validate_suite(load_suite(suite), source=suite)


def test_validate_and_resume_refuse_a_wrong_risk_label(tmp_path: Path, run_cli) -> None:
    import yaml

    from rsbench.results.store import RunStore
    from rsbench.train.plan import new_run, open_run

    path = _suite_with(tmp_path, {"cql": {"method": "cql", "risk": ["cvar:0.1"]}})
    code, err = run_cli(["validate", str(path)])
    assert code == 2 and err.strip() == (
        f"rsbench: error: {path}: methods.cql.risk: cql ignores the inference risk; expected [neutral]"
    )
    plan = new_run(load_suite(SMOKE), SMOKE, results=str(tmp_path), name="r", method_files=[])
    data = RunStore(plan.store.root).read_suite_dict()
    data["methods"]["cql"]["risk"] = ["neutral", "cvar:0.1"]  # a run stored before the rule
    stored = tmp_path / "r" / "suite.yaml"
    stored.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(UserError) as info:
        open_run(str(tmp_path / "r"))
    assert (
        str(info.value) == f"{stored}: methods.cql.risk: cql ignores the inference risk; expected [neutral]"
    )
