#!/usr/bin/env bash
# suites/ablation-rsdiffuser.yaml on protocol 2, 2026-12-06, on the 2-core development machine (host "vm"): the
# TD-critic chunk (the paper's critic; 5 trials, one model per seed, each evaluated at 4 inference points x 2 risk
# settings x 100 episodes) at commit 4ae2017, pinned into baselines/ablation-rsdiffuser. Wall time 21 min 27 s, the
# first part of it beside the last CODAC trials of the PointMass run (records/2026-12-06-pointmass).
# The MC-critic chunk ('rs_diffuser-pointmass-*-f282425d') ran next and joined the same pin: records/2026-12-06-ablation-mc.
set -euo pipefail
.venv/bin/rsbench data build pointmass-mixed
.venv/bin/rsbench run suites/ablation-rsdiffuser.yaml --only 'rs_diffuser-pointmass-*-594db971' --name ablation-p2-td
.venv/bin/rsbench baseline pin results/ablation-p2-td --to baselines/ablation-rsdiffuser
# Planned comparisons, each against the unguided sampler of the same models unless named (paired over seeds):
#   CVaR guidance vs none; CVaR guidance vs neutral guidance; ranking only vs none; guidance + ranking vs none.
.venv/bin/rsbench report baselines/ablation-rsdiffuser --out records/2026-12-06-ablation-td \
  --compare "rs_diffuser@cvar:0.1[candidates=1,critic=td,guidance_scale=1.0],rs_diffuser@cvar:0.1[candidates=1,critic=td,guidance_scale=0.0]" \
  --compare "rs_diffuser@cvar:0.1[candidates=1,critic=td,guidance_scale=1.0],rs_diffuser@neutral[candidates=1,critic=td,guidance_scale=1.0]" \
  --compare "rs_diffuser@cvar:0.1[candidates=16,critic=td,guidance_scale=0.0],rs_diffuser@cvar:0.1[candidates=1,critic=td,guidance_scale=0.0]" \
  --compare "rs_diffuser@cvar:0.1[candidates=16,critic=td,guidance_scale=1.0],rs_diffuser@cvar:0.1[candidates=1,critic=td,guidance_scale=0.0]"
