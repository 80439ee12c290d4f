#!/usr/bin/env bash
# Create .venv in the repo and install rsbench with its dev extras, keeping the CPU torch wheel.
#   TORCH  pip constraint for torch (default: torch==2.13.0, the CPU build here). GPU users pass their
#          own, e.g. TORCH="torch==2.13.0+cu128" PIP_EXTRA_INDEX_URL=<their wheel index>, or TORCH=keep to
#          leave an already installed torch in .venv untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-torch==2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ "$TORCH" = keep ]; then
  TORCH="torch==$(.venv/bin/python -c 'import torch; print(torch.__version__)')"
fi
printf '%s\n' "$TORCH" > .venv/constraints.txt

# Re-install only when the dependencies or the torch constraint changed: a second run takes a second.
stamp=$(cat pyproject.toml .venv/constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat .venv/.rsbench-stamp 2>/dev/null)" != "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c .venv/constraints.txt -e ".[dev]"
  echo "$stamp" > .venv/.rsbench-stamp
fi
