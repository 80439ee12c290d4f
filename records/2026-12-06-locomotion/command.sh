#!/usr/bin/env bash
# suites/locomotion.yaml (the CPU tier) on protocol 2, 2026-12-06, on the 2-core development machine (host "vm"),
# at commit 3afb538 from a detached worktree; the chunks pinned so far into baselines/locomotion (each chunk's
# manifest is in the pin's baseline.json and here as manifest-*.json). Wall times, from the run's start to its
# last pinned trial's record:
#   RiskyHopper Q-learners: cql, iqn, iqn_neutral (9 trials, one core each) 95 min 58 s, beside the RS-Diffuser
#     pack below from its 11th minute; then its codac trials, niced to 19 from their start so they took only
#     the CPU the others left: codac-hopper-s0 and -s1 finished at 2 h 31 min (about 56 min each, 3300-3450 s of
#     training) and were pinned by a second pin of the same run; codac-hopper-s2 was still training at the
#     session's end and was run again in the next session, alone with --resume --only (below): 51 min 40 s
#     (3070 s of training), beside the Diffuser and Decision Diffuser packs. (A bare --resume a minute earlier,
#     the manifest's first "resumed" stamp, queued the suite's 61 other pending trials and was stopped before any
#     trained; since then a bare --resume of a chunk run finishes only that chunk.)
#   RiskyHopper RS-Diffuser: one pack of 3 seeds (8000 steps, then 2 sweep points x 3 risk settings x 100
#     episodes per seed) 115 min 38 s, beside the Q-learners for its first 85 minutes.
#   RiskyHopper Decision Diffuser: one pack of 3 seeds (8000 steps, then 100 episodes per seed) 74 min 25 s, beside
#     codac-hopper-s2 and the Diffuser pack (at 3afb538, like every Hopper chunk).
#   RiskyHopper Diffuser: one pack of 3 seeds (8000 steps, 8 candidates) trained in 87 min (beside the two above
#     for its first hour); evaluating it takes about 35 min a seed (2117 s for seed 0: 100 episodes that live up
#     to the 500-step horizon, 8 candidates replanned every 2 steps, one thread; 1791 s for seed 1). Seeds 0 and
#     1 were pinned at 2 h 8 min and 2 h 35 min; seed 2 was still evaluating at the session's end. The next
#     session resumed it alone (--resume --only 'diffuser-hopper-*', at 3afb538: that code predates recorded
#     selections): restored from the pack's checkpoint at 8000 steps, seed 2 was evaluated in 51 min 3 s
#     (3053 s, beside three trial processes).
#   RiskyHalfCheetah Q-learners (at 2059453, the same code but for logging, resumption and error messages):
#     CQL's 3 seeds finished 63 min after the run's start, beside the Diffuser pack, iqn-halfcheetah-s0 and -s1 at 78 and 102 min;
#     the rest were still training when the session ended, 1 h 45 min after the start. The next session resumed
#     the chunk (a bare --resume): iqn-halfcheetah-s2 continued from its checkpoint at 7750 steps, then the 3
#     iqn_neutral seeds (25 to 27 min each); 50 min 43 s, beside Diffuser's seed 2 and two more chunks.
#   RiskyHalfCheetah Decision Diffuser (at 2059453): one pack of 3 seeds, 54 min 52 s (50 min of training, 4 of
#     evaluation), beside the HalfCheetah CODAC chunk (whose trials ran at nice 15, so the pack had a core).
#   RiskyHalfCheetah CODAC (at 2059453): 2 h 17 min 37 s; seeds 0 and 1 at nice 15 beside three chunks, finished
#     at 1 h 51 min (5470 and 5830 s of training), seed 2 with a core to itself in 30 min 47 s (1825 s).
#   RiskyHalfCheetah Diffuser (at 2059453): one pack of 3 seeds, started at the end of the third session beside the
#     RS-Diffuser pack; cut off there after its checkpoint at 2500 steps (19 min of training). The fourth session
#     resumed it (a bare --resume): 48 min 28 s to 8000 steps (4047 s of training in all), then 951, 970 and 1221 s
#     of evaluation a seed (8 candidates, 200-step episodes); 1 h 41 min 23 s from the resumption to its last
#     record, beside the RS-Diffuser pack and then the first Walker2d chunk.
#   RiskyHalfCheetah RS-Diffuser (at 2059453): one pack of 3 seeds, cut off in the third session before its first
#     checkpoint and trained again from step 0 in the fourth (a bare --resume): 66 min 48 s of training (3991 s),
#     407 to 473 s of evaluation a seed (2 sweep points x 3 risk settings x 100 episodes); 1 h 29 min 31 s, beside
#     the Diffuser pack.
#   RiskyWalker2d CQL (at c188e59, a third detached worktree, the same code as 2059453 for every trial but for
#     the progress log and the CLI): 3 seeds, 30 min (seeds 0 and 1 side by side, 15 min each, then seed 2 in
#     14 min beside the Walker2d Decision Diffuser pack), 823 to 870 s of training a seed.
#   RiskyWalker2d IQN (at c188e59): one trial at a time (--max-concurrent 1) so that the Decision Diffuser pack
#     kept a core; 17 to 18 min a seed (about 1010 s of training); pinned seed by seed.
#   RiskyWalker2d Decision Diffuser (at c188e59): one pack of 3 seeds, 64 min (57 min of training, 73 to 119 s of
#     evaluation a seed), beside the CQL, IQN and test-suite runs.
#   RiskyWalker2d CODAC (at c188e59, the fifth session): one trial at a time (--max-concurrent 1) beside the
#     Diffuser pack; 1 h 40 min 13 s (35 min 47 s, 32 min 8 s and 31 min 43 s a seed; 1887 to 2131 s of
#     training), the first seed beside the test suite too; pinned seed by seed.
#   RiskyWalker2d Diffuser (at c188e59, the fifth session): one pack of 3 seeds, 2 h 24 min 57 s (69 min 58 s of
#     training, 4182 s; then 1424, 1378 and 1674 s of evaluation a seed), beside CODAC, then the RS-Diffuser
#     pack, and two test-suite runs; pinned seed by seed.
#   RiskyWalker2d IQN neutral (at c188e59, the fifth session, the IQN run resumed bare with --max-concurrent 1
#     beside the RS-Diffuser pack): seed 0 trained again from step 0 in 13 min 19 s (787 s of training).
#   The sixth session ran on a fresh machine of the same kind (the fifth's results/, with the RS-Diffuser pack's
#     checkpoint and IQN neutral's seed 1, were gone), at aac29e2 from a detached worktree (the code of c188e59
#     for every trial, plus the evaluation progress log): walker2d-medium was rebuilt by the first run (222 s,
#     content hash e7f819a3df0c62d9, as before), then
#   RiskyWalker2d IQN neutral seeds 1 and 2 (run loco-walker2d-iqn-neutral, --max-concurrent 1, beside the
#     RS-Diffuser pack and a test-suite run): 18 min 49 s and 17 min 34 s (1109 and 1026 s of training).
#   RiskyWalker2d RS-Diffuser (run loco-walker2d-rsd, trained again from step 0): one pack of 3 seeds, 1 h 29 min
#     55 s from the run's start (the dataset rebuild first, about 4 min), 66 min 9 s of training (3957 s), then
#     414, 373 and 388 s of evaluation a seed (2 sweep points x 3 risk settings x 100 episodes), beside the IQN
#     neutral chunk, the CQL re-run below and a test-suite run. With it every label has 3 seeds on every task.
#   RiskyWalker2d RADAC (run loco-walker2d-radac, at 9345e15: the same RADAC code): seeds 0 and 1 side by side
#     (23 min 50 s and 23 min 3 s), then seed 2 beside the Hopper RADAC chunk (32 min 10 s); 55 min 35 s.
#   RiskyHopper RADAC (run loco-hopper-radac, hopper-medium rebuilt first: 209 s, content hash 2603f7a979c1312d
#     as before): started beside Walker2d's RADAC seed 2, two trials at once; the pin lines below say what landed.
# The datasets were built at the start (halfcheetah-medium 133 s and hopper-medium 210 s side by side; walker2d-medium
# later at nice 19 beside the runs); their content hashes equal docs/datasets.md's.
set -euo pipefail
.venv/bin/rsbench data build hopper-medium
.venv/bin/rsbench run suites/locomotion.yaml --name loco-hopper-q \
  --only 'cql-hopper-*,iqn-hopper-*,iqn_neutral-hopper-*,codac-hopper-*'
.venv/bin/rsbench run suites/locomotion.yaml --name loco-hopper-rsd --only 'rs_diffuser-hopper-*'
.venv/bin/rsbench baseline pin results/loco-hopper-q --to baselines/locomotion     # its 9 finished trials
# ... and again when codac-hopper-s0 and -s1 had finished (the pin replaces the 9 with the run's 11)
.venv/bin/rsbench baseline pin results/loco-hopper-rsd --to baselines/locomotion
# The next session: CODAC's third seed, then the two other planners, each pinned as it finished.
.venv/bin/rsbench run --resume results/loco-hopper-q --only codac-hopper-s2
.venv/bin/rsbench run suites/locomotion.yaml --name loco-hopper-dd --only 'decision_diffuser-hopper-*'
.venv/bin/rsbench run suites/locomotion.yaml --name loco-hopper-diffuser --only 'diffuser-hopper-*'
.venv/bin/rsbench baseline pin results/loco-hopper-q --to baselines/locomotion       # now its 12 trials
.venv/bin/rsbench baseline pin results/loco-hopper-dd --to baselines/locomotion
.venv/bin/rsbench baseline pin results/loco-hopper-diffuser --to baselines/locomotion  # its finished seeds
.venv/bin/rsbench data build halfcheetah-medium
.venv/bin/rsbench run suites/locomotion.yaml --name loco-halfcheetah-q \
  --only 'cql-halfcheetah-*,iqn-halfcheetah-*,iqn_neutral-halfcheetah-*'
.venv/bin/rsbench baseline pin results/loco-halfcheetah-q --to baselines/locomotion    # its finished trials
# The third session: Hopper Diffuser's seed 2 and the rest of the HalfCheetah Q-learners, each pinned as it finished.
.venv/bin/rsbench run --resume results/loco-hopper-diffuser --only 'diffuser-hopper-*'
.venv/bin/rsbench run --resume results/loco-halfcheetah-q
.venv/bin/rsbench baseline pin results/loco-hopper-diffuser --to baselines/locomotion   # now its 3 seeds
.venv/bin/rsbench baseline pin results/loco-halfcheetah-q --to baselines/locomotion     # now its 9 trials
.venv/bin/rsbench run suites/locomotion.yaml --name loco-halfcheetah-dd --only 'decision_diffuser-halfcheetah-*'
.venv/bin/rsbench baseline pin results/loco-halfcheetah-dd --to baselines/locomotion
.venv/bin/rsbench run suites/locomotion.yaml --name loco-halfcheetah-codac --only 'codac-halfcheetah-*'
.venv/bin/rsbench baseline pin results/loco-halfcheetah-codac --to baselines/locomotion  # seed by seed
# The fourth session: the HalfCheetah planner packs started at the end of the third, resumed; pinned seed by seed.
.venv/bin/rsbench run suites/locomotion.yaml --name loco-halfcheetah-diffuser --only 'diffuser-halfcheetah-*'
.venv/bin/rsbench run suites/locomotion.yaml --name loco-halfcheetah-rsd --only 'rs_diffuser-halfcheetah-*'
.venv/bin/rsbench run --resume results/loco-halfcheetah-diffuser
.venv/bin/rsbench run --resume results/loco-halfcheetah-rsd
.venv/bin/rsbench baseline pin results/loco-halfcheetah-diffuser --to baselines/locomotion
.venv/bin/rsbench baseline pin results/loco-halfcheetah-rsd --to baselines/locomotion
# Then Walker2d, chunk by chunk (the dataset was built in the first session).
.venv/bin/rsbench data build walker2d-medium
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-cql --only 'cql-walker2d-*'
.venv/bin/rsbench baseline pin results/loco-walker2d-cql --to baselines/locomotion
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-dd --only 'decision_diffuser-walker2d-*'
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-iqn \
  --only 'iqn-walker2d-*,iqn_neutral-walker2d-*' --max-concurrent 1
.venv/bin/rsbench baseline pin results/loco-walker2d-iqn --to baselines/locomotion   # seed by seed
.venv/bin/rsbench baseline pin results/loco-walker2d-dd --to baselines/locomotion
# The fifth session: Walker2d CODAC beside the Walker2d Diffuser pack, then RS-Diffuser.
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-diffuser --only 'diffuser-walker2d-*'
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-codac --only 'codac-walker2d-*' --max-concurrent 1
.venv/bin/rsbench baseline pin results/loco-walker2d-codac --to baselines/locomotion   # seed by seed
.venv/bin/rsbench baseline pin results/loco-walker2d-diffuser --to baselines/locomotion  # seeds 0-1, then 2
# (trained in 61 min 18 s beside the others, lost with the machine while it evaluated; run again below)
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-rsd --only 'rs_diffuser-walker2d-*'
.venv/bin/rsbench run --resume results/loco-walker2d-iqn --max-concurrent 1
.venv/bin/rsbench baseline pin results/loco-walker2d-iqn --to baselines/locomotion   # iqn_neutral seed 0
# The sixth session, on a fresh machine (the run builds the missing dataset under a file lock):
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-rsd --only 'rs_diffuser-walker2d-*'
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-iqn-neutral \
  --only 'iqn_neutral-walker2d-s1,iqn_neutral-walker2d-s2' --max-concurrent 1
.venv/bin/rsbench baseline pin results/loco-walker2d-iqn-neutral --to baselines/locomotion   # seed by seed
.venv/bin/rsbench baseline pin results/loco-walker2d-rsd --to baselines/locomotion
.venv/bin/rsbench run suites/locomotion.yaml --name loco-walker2d-radac --only 'radac-walker2d-*'
.venv/bin/rsbench baseline pin results/loco-walker2d-radac --to baselines/locomotion   # seeds 0-1, then 2
.venv/bin/rsbench run suites/locomotion.yaml --name loco-hopper-radac --only 'radac-hopper-*' --max-concurrent 2
.venv/bin/rsbench baseline pin results/loco-hopper-radac --to baselines/locomotion   # seeds 0-1 (32 min 50 s)
# Planned comparisons on each task (Holm over the family; paired t over seeds: each seed's groups share episodes):
#   IQN trained for cvar:0.1 against neutral; RS-Diffuser at cvar:0.1 against neutral (both guided) and against
#   its unguided sampler (guidance_scale 0, the same models) and against Diffuser (the reference planner; Welch
#   while Diffuser had 2 seeds, paired since its third); CODAC against CQL.
.venv/bin/rsbench report baselines/locomotion --out records/2026-12-06-locomotion \
  --compare "iqn@cvar:0.1,iqn_neutral@neutral" \
  --compare "codac@cvar:0.1,cql@neutral" \
  --compare "rs_diffuser@cvar:0.1[guidance_scale=1.0],rs_diffuser@neutral[guidance_scale=1.0]" \
  --compare "rs_diffuser@cvar:0.1[guidance_scale=1.0],rs_diffuser@cvar:0.1[guidance_scale=0.0]" \
  --compare "rs_diffuser@cvar:0.1[guidance_scale=1.0],diffuser@neutral"
# Reproduced: cql-hopper-s1 re-run on its own at 3afb538 (run check-cql-hopper-s1, beside the test suite): all 100
# of its episode returns equal the pinned ones exactly (mean 1113.42 in both); the joined report ranks the two.
.venv/bin/rsbench run suites/locomotion.yaml --only cql-hopper-s1 --name check-cql-hopper-s1
.venv/bin/rsbench report results/check-cql-hopper-s1 baselines/locomotion
# Reproduced across machines: cql-walker2d-s1 (pinned in the fifth session, at c188e59) re-run in the sixth on a
# fresh machine at aac29e2 (8 min 3 s, beside the RS-Diffuser pack): its 100 episodes equal the pinned ones
# exactly (episode seeds, returns, lengths, violation steps; mean return 598.13 in both).
.venv/bin/rsbench run suites/locomotion.yaml --only cql-walker2d-s1 --name check-cql-walker2d-s1
