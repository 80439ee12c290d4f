"""What every ``rsbench`` command shares: the root app, the consoles, the flags that mean one thing
everywhere, JSON and table output. Imports only typer and rich, so ``rsbench --help`` stays fast; each
command imports the library it calls inside its body."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rsbench.errors import UserError, exit_codes_help
from rsbench.errors import examples as _examples

examples = _examples


def _polish(command: Any, ctx: Any) -> None:
    """Flags take no value, so their help row shows no type (typer would print ``<bool>``); help text is
    plain text, never rich markup (``[KEY=VALUE]`` must show); every command's help ends with the exit-code
    table. Applied to the whole tree, so command groups added later get it too."""
    if getattr(command, "_rsbench_polished", False):
        return
    command._rsbench_polished = True
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        if getattr(param, "help", None):
            param.help = escape(param.help)
    if command.help:
        command.help = escape(command.help)
    table = exit_codes_help()
    if table not in (command.epilog or ""):
        command.epilog = f"{command.epilog}\n\n{table}" if command.epilog else table
    for sub in getattr(command, "commands", {}).values():
        _polish(sub, ctx)


class _Group(typer.core.TyperGroup):
    """The root command: polishes the help of itself and of every subcommand it resolves."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _polish(command, ctx)
        return command


app = typer.Typer(
    cls=_Group,
    help="Benchmark and evaluation suite for risk-sensitive offline RL.",
    epilog=examples(
        "rsbench validate suites/smoke.yaml",
        "rsbench run suites/smoke.yaml --json",
        "rsbench report results/RUN",
        "rsbench regress results/RUN --baseline baselines/smoke",
    )
    + "\n\n"
    + exit_codes_help(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

out = Console()
err = Console(stderr=True)

# Flags that mean one thing everywhere. --json: the same data as JSON on stdout. --out: a directory this
# command writes into. --seed: the seed of the randomness this command draws. --task: a registered risky
# task id. --resume: continue what an earlier, interrupted invocation started.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the same data as JSON on stdout.")]
TaskOption = Annotated[
    str | None, typer.Option("--task", help="Registered risky task id, e.g. rsbench/RiskyHopper-v0.")
]
MethodFiles = Annotated[
    list[Path] | None,
    typer.Option("--method-file", help="A Python file that registers a method (repeatable)."),
]
SetFlags = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY.PATH=VALUE",
        help="Override one suite value, checked as strictly as the file (repeatable), e.g. eval.episodes=20.",
    ),
]


def load_method_files(files: list[Path] | None) -> None:
    from rsbench.methods import load_method_file

    for f in files or []:
        load_method_file(f)


def yaml_value(value: Any) -> str:
    """``value`` as one line of YAML (flow style) that parses back to it: ``[64, 64]``, ``null``, ``true``."""
    import yaml

    plain = json.loads(json.dumps(value, default=str))  # tuples -> lists, as YAML has no tuples
    return yaml.safe_dump(plain, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]], *, console: Console | None = None) -> None:
    """A table readable at any terminal width: nothing is cut off (long values fold rather than end in an
    ellipsis), and the first column (what a row is: a trial, a method, a metric) keeps its names whole
    when the other columns still fit beside it."""
    shown_on = console or out
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    longest = max((len(r[0]) for r in cells if r), default=0)

    def build(first: int | None) -> Table:
        shown = Table(title=escape(title) if title else None, title_justify="left", pad_edge=False)
        for i, c in enumerate(columns):
            shown.add_column(c, overflow="fold", min_width=first if i == 0 else None)
        for r in cells:
            shown.add_row(*(escape(v) for v in r))  # cells are data ("[low, high]", YAML lists), never markup
        return shown

    whole = build(longest)
    rendered = io.StringIO()
    # whole names may push past the edge
    Console(width=shown_on.width, file=rendered).print(whole, crop=False)
    fits = max(map(len, rendered.getvalue().splitlines()), default=0) <= shown_on.width
    shown_on.print(whole if fits else build(None))


def say(text: str) -> None:
    """One plain line on stderr (paths and ids are never read as rich markup)."""
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def parse(parser: Any, text: str, key: str) -> Any:
    """``parser(text)``, a ValueError turned into a usage error naming ``key``."""
    try:
        return parser(text.strip())
    except ValueError as e:
        raise UserError(str(e), key=key) from None


def reject_flags(ctx: typer.Context, why: str, names: tuple[str, ...]) -> None:
    """A flag given on the command line that does not apply here is a usage error naming it."""
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name or "")
        if param.name in names and getattr(source, "name", None) == "COMMANDLINE":
            flag = max(param.opts, key=len)
            raise UserError(f"does not apply here: {why}", key=flag)


def open_suite(path: Path, overrides: list[str]) -> Any:
    """The suite at ``path`` with its ``--set`` overrides, through every check."""
    from rsbench.suite import open_suite as _open

    return _open(path, overrides)
