#!/usr/bin/env bash
# The main job on embedded defaults (local, CPU, locally built data): set up, then run the smoke suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
.venv/bin/rsbench validate suites/smoke.yaml
.venv/bin/rsbench data build pointmass-mixed
.venv/bin/rsbench data inspect pointmass-mixed
# Train every method of the smoke suite (2 seeds) and evaluate each risk setting, without Ray for now.
.venv/bin/python experiments/risk_tradeoff.py --suite suites/smoke.yaml --methods "" --out results/smoke
