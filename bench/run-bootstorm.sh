#!/bin/bash
# run-bootstorm.sh: xenstore-bootstorm-compare from this source tree, set
# up by environment variables as the other bench/run-*.sh scripts are.
#
#   PROFILE     xsbench, libxl (default) or optimized
#   N, K        VMs and toolstack concurrency (default 100 and 8)
#   PREFILL     domains already running (default 0)
#   REPEAT      runs per daemon (default 3)
#   DAEMONS     which to run, in order (default "ours cxenstored oxenstored")
#   ARGS        more xenstore-bootstorm options, e.g. "--boot-delay 50"
#   XENSTORED   our daemon (default build/daemon/xenstored)
#   BOOTSTORM   the harness (default build/bench/xenstore-bootstorm)
#   BASELINES   the reference daemons' scripts (default ../shared/baselines)
#   RESULTS     a directory to keep every run's JSON report and log in
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export XENSTORED=${XENSTORED:-$top/build/daemon/xenstored}
export BOOTSTORM=${BOOTSTORM:-$top/build/bench/xenstore-bootstorm}
[ -z "${BASELINES:-}" ] && [ -d "$top/../shared/baselines" ] &&
	export BASELINES=$top/../shared/baselines

daemons=()
for d in ${DAEMONS:-ours cxenstored oxenstored}; do
	daemons+=(--daemon "$d")
done
# shellcheck disable=SC2086
exec bash "$top/bench/xenstore-bootstorm-compare.in" "${daemons[@]}" \
	--repeat "${REPEAT:-3}" ${RESULTS:+--results "$RESULTS"} -- \
	--profile "${PROFILE:-libxl}" -n "${N:-100}" -k "${K:-8}" \
	--prefill "${PREFILL:-0}" ${ARGS:-}
