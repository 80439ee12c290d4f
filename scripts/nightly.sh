#!/usr/bin/env bash
# The nightly regression job: run the nightly suite on the cluster, publish the report, regress against the
# pinned baseline (exit 1 on any REGRESSION, so cron / CI alerts). Settings by environment:
#   SUITE     suite file                      (default suites/nightly.yaml)
#   ADDRESS   Ray address                     (default auto: the cluster this node belongs to)
#   RESULTS   shared results root (path/URI)  (default results)
#   PUBLISH   where the report goes           (default reports/<run>)
#   BASELINE  pinned baseline directory       (default baselines/<suite name>)
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=${SUITE:-suites/nightly.yaml}
name=$(basename "$SUITE" .yaml)
run="$name-$(date -u +%Y%m%d-%H%M%S)"
RESULTS=${RESULTS:-results}
BASELINE=${BASELINE:-baselines/$name}
status=0
.venv/bin/rsbench run "$SUITE" --address "${ADDRESS:-auto}" --name "$run" --results "$RESULTS" || status=$?
.venv/bin/rsbench report "$RESULTS/$run" ${PUBLISH:+--out "$PUBLISH/$run"}
.venv/bin/rsbench regress "$RESULTS/$run" --baseline "$BASELINE" || status=1
exit "$status"
