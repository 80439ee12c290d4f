#!/usr/bin/env bash
# Set up, lint, type-check, then run the whole test suite (pass pytest options through, e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser.sh   # headless Chromium for the report's browser tests (they skip without it)
.venv/bin/ruff check .
.venv/bin/mypy           # type-check rsbench/ ([tool.mypy] in pyproject.toml)
.venv/bin/python -m pytest "$@"
