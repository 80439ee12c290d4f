#!/usr/bin/env bash
# suites/ablation-rsdiffuser.yaml on protocol 2, 2026-12-06, on the 2-core development machine (host "vm", quiet):
# the MC-critic chunk (5 trials) at commit 4ae2017, wall time 8 min 33 s, pinned into baselines/ablation-rsdiffuser
# beside the TD chunk (records/2026-12-06-ablation-td), so the report below holds both critics' models.
# Its planned family (declared before the chunk ran): the MC critic's parts against its unguided sampler, and the
# TD critic against the MC critic at CVaR guidance and at ranking.
set -euo pipefail
.venv/bin/rsbench run suites/ablation-rsdiffuser.yaml --only 'rs_diffuser-pointmass-*-f282425d' --name ablation-p2-mc
.venv/bin/rsbench baseline pin results/ablation-p2-mc --to baselines/ablation-rsdiffuser
.venv/bin/rsbench report baselines/ablation-rsdiffuser --out records/2026-12-06-ablation-mc \
  --compare "rs_diffuser@cvar:0.1[candidates=1,critic=mc,guidance_scale=1.0],rs_diffuser@cvar:0.1[candidates=1,critic=mc,guidance_scale=0.0]" \
  --compare "rs_diffuser@cvar:0.1[candidates=1,critic=mc,guidance_scale=1.0],rs_diffuser@neutral[candidates=1,critic=mc,guidance_scale=1.0]" \
  --compare "rs_diffuser@cvar:0.1[candidates=16,critic=mc,guidance_scale=0.0],rs_diffuser@cvar:0.1[candidates=1,critic=mc,guidance_scale=0.0]" \
  --compare "rs_diffuser@cvar:0.1[candidates=1,critic=td,guidance_scale=1.0],rs_diffuser@cvar:0.1[candidates=1,critic=mc,guidance_scale=1.0]" \
  --compare "rs_diffuser@cvar:0.1[candidates=16,critic=td,guidance_scale=0.0],rs_diffuser@cvar:0.1[candidates=16,critic=mc,guidance_scale=0.0]"
