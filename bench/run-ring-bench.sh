#!/bin/bash
# run-ring-bench.sh: bench/ring-bench several times (each run a fresh daemon
# on the simulated platform) and a markdown table of the medians: requests
# per second and the daemon's CPU time per request, for one active guest
# beside 0, 99 and 999 idle ones, and for all guests active at once.
#
# Environment:
#   XENSTORED    the daemon (default: daemon/xenstored of this tree)
#   RING_BENCH   the benchmark (default: bench/ring-bench of this tree)
#   GUESTS       guest counts, ascending (default 1,100,1000)
#   RUN_SECONDS  seconds per measurement (default 2)
#   REPEAT       runs; the table shows medians (default 5)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
XENSTORED=${XENSTORED:-$top/daemon/xenstored}
RING_BENCH=${RING_BENCH:-$top/bench/ring-bench}
GUESTS=${GUESTS:-1,100,1000}
RUN_SECONDS=${RUN_SECONDS:-2}
REPEAT=${REPEAT:-5}

for f in "$XENSTORED" "$RING_BENCH"; do
	[ -x "$f" ] || { echo "run-ring-bench: $f is not built" >&2; exit 1; }
done

out=$(mktemp /tmp/ring-bench-runs.XXXXXX)
trap 'rm -f "$out"' EXIT
for i in $(seq "$REPEAT"); do
	echo "run-ring-bench: run $i of $REPEAT" >&2
	"$RING_BENCH" -x "$XENSTORED" -g "$GUESTS" -s "$RUN_SECONDS" \
		2>/dev/null >> "$out"
done

echo "| guests | active | req/s (median) | daemon CPU us/req (median, min-max) |"
echo "|---|---|---|---|"
# Lines: guests=G mode=M active=A requests=N req/s=R daemon_us_per_req=U
awk '
function median(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[n]
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	key = f["guests"] " " f["active"]
	if (!(key in rate)) order[++count] = key
	rate[key] = rate[key] " " f["req/s"]
	cpu[key] = cpu[key] " " f["daemon_us_per_req"]
}
END {
	for (k = 1; k <= count; k++) {
		key = order[k]; split(key, ga, " ")
		r = median(rate[key])
		c = median(cpu[key])
		printf "| %d | %d | %.0f | %.1f (%.1f-%.1f) |\n", ga[1], ga[2], r, c, lo, hi
	}
}' "$out"
