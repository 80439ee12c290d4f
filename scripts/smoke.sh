#!/usr/bin/env bash
# The main job on embedded defaults (local, CPU, locally built data): set up, then run the smoke pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
.venv/bin/rsbench validate suites/smoke.yaml
.venv/bin/rsbench data build pointmass-mixed
.venv/bin/rsbench data inspect pointmass-mixed
