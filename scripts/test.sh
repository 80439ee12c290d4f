#!/usr/bin/env bash
# Set up, lint, type-check, build the docs, then run the test suite without the slow tests (pytest options pass through:
# -m slow runs only the slow ones, -m "slow or not slow" everything).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser.sh   # headless Chromium for the report's browser tests (they skip without it)
.venv/bin/ruff check .
.venv/bin/ruff format --check .   # one formatting ([tool.ruff] in pyproject.toml): run `ruff format .` to fix
.venv/bin/mypy           # type-check rsbench/ ([tool.mypy] in pyproject.toml)
.venv/bin/lint-imports   # the layering of docs/design.md §1 ([tool.importlinter] in pyproject.toml)
.venv/bin/mkdocs build --strict   # the docs into site/ (git-ignored); a broken link or reference fails (not --quiet: it hides them)
.venv/bin/python -m pytest "$@"
