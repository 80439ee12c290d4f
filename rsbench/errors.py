"""User-facing errors: one line that names the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A mistake in what the user gave us (a file, a flag, a name); the CLI prints it and exits 2.

    The message always reads ``<where>: <key path>: <problem>`` so that a reader finds the spot at once.
    """

    exit_code = 2

    def __init__(self, message: str, *, source: str | Path | None = None, key: str | None = None):
        self.source = str(source) if source is not None else None
        self.key = key
        self.detail = message
        parts = [p for p in (self.source, key) if p]
        super().__init__(": ".join([*parts, message]))
