from __future__ import annotations

from pathlib import Path

import pytest

from rsbench.errors import UserError
from rsbench.methods import Method, Space, available, create, get, load_method_file, register
from rsbench.methods.diffuser import Diffuser


def test_unknown_method_is_a_one_line_user_error() -> None:
    with pytest.raises(
        UserError, match=r"suite.yaml: methods.x.method: unknown method 'nope'; registered: .*diffuser"
    ):
        get("nope", source="suite.yaml", key="methods.x.method")


def test_register_rejects_non_methods_and_name_clashes() -> None:
    with pytest.raises(TypeError, match="expects a Method subclass"):
        register("thing")(object)  # type: ignore[arg-type]

    class Other(Diffuser):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register("diffuser")(Other)
    assert get("diffuser") is Diffuser


def test_create_parses_configs_strictly() -> None:
    space = Space(2, 2, (-0.1, -0.1), (0.1, 0.1))
    with pytest.raises(UserError, match=r"s.yaml: methods.d.config.horizon: expected >= 2, got 1"):
        create("diffuser", space, {"horizon": 1}, source="s.yaml", key="methods.d.config")
    with pytest.raises(UserError, match=r"config.bogus: unknown key"):
        create("diffuser", space, {"bogus": 1})
    with pytest.raises(UserError, match=r"^config.horizon: horizon 12 must be divisible by 8"):
        create("diffuser", space, {"horizon": 12})
    with pytest.raises(UserError, match=r"s.yaml: m.replan_every: replan_every 16 must be < horizon 16"):
        create("rs_diffuser", space, {"horizon": 16, "replan_every": 16}, source="s.yaml", key="m")
    from rsbench.methods.diffuser import DiffuserConfig

    with pytest.raises(ValueError, match="sampling_steps 30 > diffusion_steps 20"):  # built in code, not YAML
        Diffuser(DiffuserConfig(sampling_steps=30), space)


def test_method_file_registers_and_bad_files_are_user_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.py"
    good.write_text(
        "from rsbench.methods import register\n"
        "from rsbench.methods.diffuser import Diffuser\n"
        "@register('my_planner')\n"
        "class MyPlanner(Diffuser):\n"
        "    '''A user's planner.'''\n"
    )
    assert load_method_file(good) == ["my_planner"]
    assert load_method_file(good) == ["my_planner"]  # loading twice is harmless
    assert "my_planner" in available()
    assert issubclass(get("my_planner"), Method)

    with pytest.raises(UserError, match=r"expected an existing \.py file"):
        load_method_file(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(UserError, match=r"broken.py: importing the method file failed: ModuleNotFoundError"):
        load_method_file(broken)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(UserError, match="registers no method"):
        load_method_file(empty)
