"""Where rsbench reads and writes: everything stays inside the project (or a directory the user names)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The checkout that holds ``pyproject.toml`` (editable install), else the current directory."""
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").is_file() and (candidate / "suites").is_dir():
        return candidate
    return Path.cwd()


def datasets_dir() -> Path:
    """The Minari datasets root: ``$MINARI_DATASETS_PATH`` or ``<project>/results/datasets``.

    Minari itself falls back to ``~/.minari``; we never let it, so the variable is always set before
    Minari is touched (see :func:`ensure_datasets_env`).
    """
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env) if env else project_root() / "results" / "datasets"


def ensure_datasets_env() -> Path:
    """Point ``MINARI_DATASETS_PATH`` at :func:`datasets_dir` (creating it) and return it."""
    root = datasets_dir()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    return root
