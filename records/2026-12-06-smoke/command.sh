#!/usr/bin/env bash
# The main job's run on protocol 2, 2026-12-06, on the 2-core development machine (host "vm", quiet: nothing
# else running). Commit ede90a4 with suites/smoke.yaml at 100 evaluation episodes (the next commit, which
# carries this record; the manifest says dirty: true for that one file). Wall time: validate + data build +
# inspect + run = 359 s (20/20 trials; the RS-Diffuser pack of 8 seeds 4 min 33 s), report 4.5 s.
# bash scripts/smoke.sh runs the same commands (into results/smoke-<UTC time>, reports/ as the report's home).
set -euo pipefail
.venv/bin/rsbench validate suites/smoke.yaml
.venv/bin/rsbench data build pointmass-mixed
.venv/bin/rsbench data inspect pointmass-mixed
.venv/bin/rsbench run suites/smoke.yaml --name smoke-20261206-p2
.venv/bin/rsbench report results/smoke-20261206-p2 --out records/2026-12-06-smoke \
  --compare "rs_diffuser@cvar:0.1[guidance_scale=1.0],rs_diffuser@neutral[guidance_scale=1.0]" \
  --compare "rs_diffuser@cvar:0.1[guidance_scale=1.0],rs_diffuser@neutral[guidance_scale=0.0]"
.venv/bin/rsbench baseline pin results/smoke-20261206-p2 --to baselines/smoke
# Later the same day the run was repeated (smoke-20261206-p2-rerun, 4 min 49 s before pinning, at 55c212e) and
# pinned over it, so the pin's trial records carry the training risk the report reads: all 4400 episode returns
# equal the first run's exactly. This record's leaderboard is the first run's.
.venv/bin/rsbench run suites/smoke.yaml --name smoke-20261206-p2-rerun
.venv/bin/rsbench baseline pin results/smoke-20261206-p2-rerun --to baselines/smoke
