#!/usr/bin/env bash
# The nightly regression job: run the nightly suite on the cluster, publish the night's report and, next to it,
# the history page of every night so far; regress against the pinned baseline and a rolling baseline of the
# last nights that passed. Settings by environment:
#   SUITE     suite file                      (default suites/nightly.yaml)
#   ADDRESS   Ray address                     (default auto: the cluster this node belongs to)
#   RESULTS   shared results root (path/URI)  (default results)
#   PUBLISH   where the pages go              (default reports): PUBLISH/<run> and PUBLISH/<suite>-history
#   BASELINE  pinned baseline directory       (default baselines/<suite name>)
#   LAST      nights in the rolling baseline  (default 7)
#   RSBENCH   the rsbench command             (default .venv/bin/rsbench)
# Exit code: the most serious of the steps' codes, each with the meaning it has for every rsbench command:
#   2 usage or bad data (a step could not judge) > 1 REGRESSION or a change point on this night
#   > 3 incomplete run (failed or missing trials) > 0 ok. Any other code (a crash) wins over all of them.
# The first night has no pinned baseline: it is judged against nothing, says how to pin itself, and exits with
# the run's own code.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=${SUITE:-suites/nightly.yaml}
name=$(basename "$SUITE" .yaml)
run="$name-$(date -u +%Y%m%d-%H%M%S)"
RESULTS=${RESULTS:-results}
PUBLISH=${PUBLISH:-reports}
BASELINE=${BASELINE:-baselines/$name}
LAST=${LAST:-7}
RSBENCH=${RSBENCH:-.venv/bin/rsbench}

status=0
rank() { case $1 in 0) echo 0 ;; 3) echo 1 ;; 1) echo 2 ;; 2) echo 3 ;; *) echo 4 ;; esac; }
keep() { # keep the more serious of $status and $1
  if [ "$(rank "$1")" -gt "$(rank "$status")" ]; then status=$1; fi
}
step() { # run a step; its exit code counts, it never stops the job
  local code=0
  "$@" || code=$?
  keep "$code"
  return 0
}

step "$RSBENCH" run "$SUITE" --address "${ADDRESS:-auto}" --name "$run" --results "$RESULTS"
if [ ! -f "$RESULTS/$run/manifest.json" ] && [[ "$RESULTS" != *://* ]]; then
  echo "nightly: the run did not start (see above); nothing to report" >&2
  exit "$status"
fi
step "$RSBENCH" report "$RESULTS/$run" --out "$PUBLISH/$run"
pinned=()
if [ -f "$BASELINE/baseline.json" ]; then
  pinned=(--baseline "$BASELINE")
  step "$RSBENCH" regress "$RESULTS/$run" --baseline "$BASELINE" --history "$RESULTS" --last "$LAST"
else
  echo "nightly: no pinned baseline at $BASELINE yet (the first night): nothing to regress against." >&2
  echo "nightly: once $PUBLISH/$run/index.html looks right, pin this night and commit it:" >&2
  echo "  $RSBENCH baseline pin $RESULTS/$run --to $BASELINE && git add $BASELINE" >&2
fi
step "$RSBENCH" history "$RESULTS" --suite "$name" --out "$PUBLISH/$name-history" "${pinned[@]}"
echo "nightly: report $PUBLISH/$run/index.html, history $PUBLISH/$name-history/index.html, exit $status" >&2
exit "$status"
