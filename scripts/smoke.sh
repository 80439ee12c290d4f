#!/usr/bin/env bash
# The main job on embedded defaults (local, CPU, locally built data): set up, then run the smoke suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
.venv/bin/rsbench validate suites/smoke.yaml
.venv/bin/rsbench data build pointmass-mixed
.venv/bin/rsbench data inspect pointmass-mixed
# Every method of the smoke suite x 3 seeds as Ray Tune trials on a local Ray: train with checkpoints,
# evaluate each risk setting, store the results under results/<run>/, then render the report with the
# suite's finding: RS-Diffuser's CVaR guidance at cvar:0.1 against the same models guided at neutral and
# unguided (guidance_scale 0; paired over seeds: each seed's groups share its evaluation episodes).
run="smoke-$(date -u +%Y%m%d-%H%M%S)"
.venv/bin/rsbench run suites/smoke.yaml --name "$run"
.venv/bin/rsbench report "results/$run" \
  --compare "rs_diffuser@cvar:0.1[guidance_scale=1.0],rs_diffuser@neutral[guidance_scale=1.0]" \
  --compare "rs_diffuser@cvar:0.1[guidance_scale=1.0],rs_diffuser@neutral[guidance_scale=0.0]"
