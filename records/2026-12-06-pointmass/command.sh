#!/usr/bin/env bash
# suites/pointmass.yaml on protocol 2, 2026-12-06, on the 2-core development machine (host "vm"), in two chunks
# pinned into baselines/pointmass (one leaderboard; each chunk's manifest, with its commit, is in the pin's
# baseline.json and here as manifest-*.json):
#   planners   (rs_diffuser, diffuser, decision_diffuser; 15 trials) at commit f2ce53f, wall time 19 min 6 s
#   q-learners (cql, iqn, iqn_neutral, codac, radac, radac_neutral; 30 trials) at commit 4ae2017, wall time 114 min 34 s (its last 25 min beside the ablation chunk)
# Nothing else ran on the machine but the lead's editing and targeted tests (load about 2).
# The planners chunk predated trial records carrying the training risk (6e839fa), so it was re-run at 4ae2017
# (run pointmass-p2-planners-rerun, 14 min 33 s, alone on the machine) and pinned over it: all 3000 of its
# episodes' returns equal the first run's exactly; the leaderboard's training risk and cost columns are the re-run's.
set -euo pipefail
.venv/bin/rsbench data build pointmass-mixed
.venv/bin/rsbench run suites/pointmass.yaml --only rs_diffuser,diffuser,decision_diffuser --name pointmass-p2-planners
.venv/bin/rsbench baseline pin results/pointmass-p2-planners --to baselines/pointmass
.venv/bin/rsbench run suites/pointmass.yaml --only cql,iqn,iqn_neutral,codac,radac,radac_neutral \
  --name pointmass-p2-qlearners
.venv/bin/rsbench baseline pin results/pointmass-p2-qlearners --to baselines/pointmass
.venv/bin/rsbench run suites/pointmass.yaml --only rs_diffuser,diffuser,decision_diffuser \
  --name pointmass-p2-planners-rerun
.venv/bin/rsbench baseline pin results/pointmass-p2-planners-rerun --to baselines/pointmass  # replaces the 15
# The planned comparisons (Holm over the family; paired t over seeds: every group of a seed shares its episodes).
.venv/bin/rsbench report baselines/pointmass --out records/2026-12-06-pointmass \
  --compare "rs_diffuser@cvar:0.1[candidates=1],rs_diffuser@neutral[candidates=1]" \
  --compare "rs_diffuser@cvar:0.1[candidates=16],rs_diffuser@neutral[candidates=16]" \
  --compare "rs_diffuser@cvar:0.1[candidates=16],diffuser@neutral" \
  --compare "iqn@cvar:0.1,iqn_neutral@neutral" \
  --compare "codac@cvar:0.1,iqn@cvar:0.1" \
  --compare "codac@cvar:0.1,cql@neutral" \
  --compare "radac@cvar:0.1,radac_neutral@neutral" \
  --compare "radac@cvar:0.1,rs_diffuser@cvar:0.1[candidates=1]" \
  --compare "radac@cvar:0.1,iqn@cvar:0.1"
