"""Process-wide defaults that keep rsbench's files inside the project and its output quiet."""

from __future__ import annotations

import os
import tempfile

from rsbench.paths import ensure_datasets_env


def configure_environment() -> None:
    """Set the defaults the CLI relies on, without overriding anything the user set.

    - ``MINARI_DATASETS_PATH``: the project's ``results/datasets`` (Minari would use ``~/.minari``);
    - ``RAY_AUTH_MODE=disabled``: a local Ray would otherwise write a token into the home directory;
    - ``MPLCONFIGDIR``: a temp dir, so headless matplotlib never touches ``~/.config``.
    """
    ensure_datasets_env()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), "rsbench-mpl"))
