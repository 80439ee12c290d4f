"""User-facing errors and the exit codes every ``rsbench`` command ends with (docs/design.md §6).

The exit-code table lives here and only here: the CLI, its ``--help`` text and the README's table all read
:data:`EXIT_CODES`, so a script can rely on the same number meaning the same thing for every command.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """What an ``rsbench`` process's exit status means (the same for every command)."""

    OK = 0
    FINDING = 1  # a REGRESSION (``regress``) or a change point in the newest night (``history``)
    USAGE = 2  # a usage mistake or bad data: one line naming the file and key, never a traceback
    INCOMPLETE = 3  # the run has failed or missing trials (``run --resume`` continues it)


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FINDING: "REGRESSION (regress) or a change point in the newest night (history)",
    ExitCode.USAGE: "usage error or bad data (one line naming the file and key)",
    ExitCode.INCOMPLETE: "incomplete run: failed or missing trials (continue with run --resume)",
}


def examples(*commands: str) -> str:
    """A help epilog listing example command lines (the CLI appends the exit codes to every epilog)."""
    return "Examples:\n\n" + "\n\n".join(f"  {c}" for c in commands)


def exit_codes_help() -> str:
    """The table as one line for ``--help`` epilogs: ``Exit codes: 0 ok; 1 ...; 2 ...; 3 ...``."""
    return "Exit codes: " + "; ".join(f"{int(code)} {text}" for code, text in EXIT_CODES.items()) + "."


class UserError(Exception):
    """A mistake in what the user gave us (a file, a flag, a name); the CLI prints it and exits 2.

    The message always reads ``<where>: <key path>: <problem>`` so that a reader finds the spot at once.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, source: str | Path | None = None, key: str | None = None):
        self.source = str(source) if source is not None else None
        self.key = key
        self.detail = message
        parts = [p for p in (self.source, key) if p]
        super().__init__(": ".join([*parts, message]))


class RunStopped(UserError):
    """A run that cannot go on for a reason outside the user's input (its local Ray did not start): the same
    one line, but exit 3, because the run stays as it was and ``rsbench run --resume`` continues it."""

    exit_code = ExitCode.INCOMPLETE
