"""The ``rsbench`` command: parses, calls the library, prints. User mistakes end in one line on stderr and
exit code 2, never a traceback.

One module per command group: :mod:`~rsbench.cli.methods` (validate, methods), :mod:`~rsbench.cli.data`,
:mod:`~rsbench.cli.run`, :mod:`~rsbench.cli.report` (report, regress, baseline), :mod:`~rsbench.cli.history`,
:mod:`~rsbench.cli.eval`, :mod:`~rsbench.cli.critic`,
:mod:`~rsbench.cli.behaviour`; what they share is in :mod:`~rsbench.cli.common`. Every command ends with one
of the exit codes of :data:`rsbench.errors.EXIT_CODES`; every ``--help`` shows examples and that table.
Importing this package imports neither torch nor Ray (each command imports what it calls), so
``rsbench --help`` is fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import rsbench
from rsbench.cli import behaviour, critic, data, eval, history, methods, report, run  # noqa: F401  (commands)
from rsbench.cli.common import app, err, out, yaml_value
from rsbench.errors import UserError

__all__ = ["app", "main", "yaml_value"]


def _version(value: bool) -> None:
    if value:
        out.print(f"rsbench {rsbench.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Benchmark and evaluation suite for risk-sensitive offline RL."""


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    from rsbench.runtime import configure_environment

    configure_environment()
    try:
        app()
    except UserError as e:
        err.print(f"rsbench: error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
