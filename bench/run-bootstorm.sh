#!/bin/bash
# run-bootstorm.sh: one bootstorm profile against several daemons, in the
# same run: ours and, when installed, Xen 4.17's C xenstored and oxenstored
# (the reference daemons of ../shared/baselines).  Every run gets a freshly
# started daemon; the daemons take turns within each repetition, and each
# repetition starts with the next daemon, so that the drift of a noisy
# machine hits all of them alike.  Prints a markdown table of medians and
# the ratios of the references to ours.
#
# Environment:
#   PROFILE     xsbench, libxl (default) or optimized
#   N, K        VMs and toolstack concurrency (default 100 and 8)
#   PREFILL     domains already running (default 0)
#   REPEAT      runs per daemon (default 3)
#   DAEMONS     which to run, in order (default "ours cxenstored oxenstored")
#   ARGS        more xenstore-bootstorm options, e.g. "--boot-delay 50"
#   XENSTORED   our daemon (default daemon/xenstored of this tree)
#   BOOTSTORM   the harness (default bench/xenstore-bootstorm of this tree)
#   BASELINES   the baselines directory (default ../shared/baselines next to
#               this tree, else /work/shared/baselines); missing: ours only
#   RESULTS     a directory to keep every run's JSON report and log in
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

PROFILE=${PROFILE:-libxl}
N=${N:-100}
K=${K:-8}
PREFILL=${PREFILL:-0}
REPEAT=${REPEAT:-3}
DAEMONS=${DAEMONS:-ours cxenstored oxenstored}
ARGS=${ARGS:-}
XENSTORED=${XENSTORED:-$top/daemon/xenstored}
BOOTSTORM=${BOOTSTORM:-$top/bench/xenstore-bootstorm}
XEN_BIN=/usr/lib/xen-4.17/bin

say() { echo "run-bootstorm: $*" >&2; }
die() { say "$*"; exit 2; }

workdir=$(mktemp -d /tmp/xs-bootstorm.XXXXXX)
running_pid=
running_ref=

stop_daemon() {
	if [ -n "$running_pid" ]; then
		kill -TERM "$running_pid" 2>/dev/null || true
		wait "$running_pid" 2>/dev/null || true
		running_pid=
	fi
	if [ -n "$running_ref" ]; then
		"$BASELINES/stop-xenstored.sh" "$running_ref" >/dev/null 2>&1 || true
		running_ref=
	fi
}
cleanup() {
	stop_daemon
	rm -rf -- "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

find_baselines() {
	local d
	if [ -n "${BASELINES:-}" ]; then
		[ -x "$BASELINES/start-cxenstored.sh" ] ||
			die "BASELINES=$BASELINES has no start-cxenstored.sh"
		return
	fi
	BASELINES=
	for d in "$top/../shared/baselines" /work/shared/baselines; do
		if [ -x "$d/start-cxenstored.sh" ]; then
			BASELINES=$(cd "$d" && pwd)
			return
		fi
	done
}

# wait_socket SOCKET PID: until the daemon accepts connections (10 s).
wait_socket() {
	local i
	for i in $(seq 1 100); do
		kill -0 "$2" 2>/dev/null || return 1
		if [ -S "$1" ] && python3 - "$1" 2>/dev/null <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(1)
s.connect(sys.argv[1])
EOF
		then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# start DAEMON: sets sock and pid, or returns 1 if it cannot run here.
start() {
	local name=$1 dir=$workdir/$1
	rm -rf -- "$dir"
	mkdir -p "$dir"
	sock=$dir/socket
	case $name in
	ours)
		[ -x "$XENSTORED" ] || { say "$XENSTORED is not built"; return 1; }
		XENSTORED_PATH=$sock "$XENSTORED" -N --pid-file "$dir/pid" \
			</dev/null >"$dir/daemon.log" 2>&1 &
		running_pid=$!
		pid=$running_pid
		wait_socket "$sock" "$pid" ||
			die "our daemon did not come up: $(cat "$dir/daemon.log")"
		;;
	cxenstored|oxenstored)
		[ -n "$BASELINES" ] || { say "no baselines: skipping $name"; return 1; }
		local bin=xenstored
		[ "$name" = oxenstored ] && bin=oxenstored
		[ -x "$XEN_BIN/$bin" ] || {
			say "$XEN_BIN/$bin is not installed (apt-get install xen-utils-4.17)"
			return 1
		}
		running_ref=$sock
		pid=$("$BASELINES/start-$name.sh" "$sock") || die "start-$name.sh failed"
		;;
	*)
		die "unknown daemon $name"
		;;
	esac
}

command -v python3 >/dev/null || die "needs python3"
[ -x "$BOOTSTORM" ] || die "$BOOTSTORM is not built (make bench/xenstore-bootstorm)"
find_baselines
# Two connections per VM and more: the daemons inherit this limit.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

read -r -a daemons <<<"$DAEMONS"
results=$workdir/results.jsonl
: >"$results"
[ -n "${RESULTS:-}" ] && mkdir -p "$RESULTS"

echo "# xenstore-bootstorm, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r)"
echo "# profile $PROFILE, N=$N, K=$K, prefill $PREFILL, $REPEAT run(s) per daemon${ARGS:+, $ARGS}"
echo
for r in $(seq 1 "$REPEAT"); do
	count=${#daemons[@]}
	for j in $(seq 0 $((count - 1))); do
		name=${daemons[$(((j + r - 1) % count))]}
		start "$name" || continue
		json=$workdir/$name-$r.json
		log=$workdir/$name-$r.log
		rc=0
		# shellcheck disable=SC2086
		"$BOOTSTORM" --socket "$sock" --pid "$pid" --label "$name" \
			--profile "$PROFILE" -n "$N" -k "$K" --prefill "$PREFILL" \
			--no-progress --json "$json" $ARGS >"$log" 2>&1 || rc=$?
		stop_daemon
		say "$name run $r: exit status $rc$([ $rc -eq 1 ] && echo ' (did not verify)')"
		if [ -n "${RESULTS:-}" ]; then
			cp "$log" "$RESULTS/"
			[ -f "$json" ] && cp "$json" "$RESULTS/"
		fi
		if [ $rc -ge 2 ] || [ ! -s "$json" ]; then
			sed 's/^/    /' "$log" >&2
			continue
		fi
		[ $rc -eq 0 ] || grep -E 'FAILURE|verification|aborted' "$log" |
			head -5 | sed 's/^/    /' >&2
		cat "$json" >>"$results"
	done
done

python3 - "$results" <<'PY'
import json, statistics, sys

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not runs:
    print("no run completed")
    sys.exit(1)
daemons = []
for r in runs:
    if r["label"] not in daemons:
        daemons.append(r["label"])
xsbench = runs[0]["profile"] == "xsbench"

def get(r, path):
    for p in path.split("."):
        if r is None:
            return None
        r = r.get(p)
    return r

def med(d, path):
    v = [get(r, path) for r in runs if r["label"] == d]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def f(v, spec):
    return "-" if v is None else format(v, spec)

rows = [
    ("runs verified", lambda d: "%d/%d" % (
        sum(1 for r in runs if r["label"] == d and r["ok"]),
        sum(1 for r in runs if r["label"] == d))),
    ("time, s" if xsbench else "all VMs up, s",
     lambda d: f(med(d, "time_s.boot"), ".3f")),
]
if not xsbench:
    rows += [
        ("teardown, s", lambda d: f(med(d, "time_s.teardown"), ".3f")),
        ("VM starts/s", lambda d: f(med(d, "vm_starts_per_s"), ".1f")),
        ("VM start p50 / p99, ms", lambda d: "%s / %s" % (
            f(med(d, "vm_start_latency_ms.p50"), ".0f"),
            f(med(d, "vm_start_latency_ms.p99"), ".0f"))),
    ]
rows += [
    ("requests per VM", lambda d: f(med(d, "requests.per_vm"), ".0f")),
    ("requests/s", lambda d: f(med(d, "requests.per_s"), ".0f")),
    ("request latency p50 / p99, us", lambda d: "%s / %s" % (
        f(med(d, "request_latency_us.all.p50"), ".0f"),
        f(med(d, "request_latency_us.all.p99"), ".0f"))),
    ("EAGAIN per tx attempt", lambda d: f(med(d, "transactions.all.eagain_rate"), ".4f")),
    ("retries per commit", lambda d: f(med(d, "transactions.all.retries_per_success"), ".3f")),
    ("most retries of one tx", lambda d: f(med(d, "transactions.all.max_retries"), ".0f")),
    ("daemon CPU, s", lambda d: f(med(d, "daemon.cpu_s.total"), ".3f")),
    ("daemon CPU per request, us", lambda d: f(med(d, "daemon.cpu_us_per_request"), ".2f")),
    ("daemon peak RSS, MiB", lambda d: f(None if med(d, "daemon.peak_rss_kb") is None
                                          else med(d, "daemon.peak_rss_kb") / 1024, ".1f")),
]
if not xsbench:
    rows += [("daemon RSS per VM, KiB", lambda d: f(None if med(d, "daemon.bytes_per_vm") is None
                                                   else med(d, "daemon.bytes_per_vm") / 1024, ".1f"))]
print("| | " + " | ".join(daemons) + " |")
print("|---" * (len(daemons) + 1) + "|")
for name, fn in rows:
    print("| %s | %s |" % (name, " | ".join(fn(d) for d in daemons)))

if "ours" in daemons and len(daemons) > 1:
    print()
    print("| ratio (theirs / ours) | " + " | ".join(d for d in daemons if d != "ours") + " |")
    print("|---" * len(daemons) + "|")
    def ratio(path, d):
        a, b = med(d, path), med("ours", path)
        if a is None or b is None:
            return "-"
        if b == 0:
            return "inf" if a else "-"
        return "%.2f" % (a / b)
    for name, path in [("time" if xsbench else "time until all VMs up", "time_s.boot"),
                       ("teardown time", "time_s.teardown"),
                       ("EAGAIN per tx attempt", "transactions.all.eagain_rate"),
                       ("daemon CPU", "daemon.cpu_s.total"),
                       ("daemon CPU per request", "daemon.cpu_us_per_request"),
                       ("daemon peak RSS", "daemon.peak_rss_kb")]:
        if xsbench and path == "time_s.teardown":
            continue
        print("| %s | %s |" % (name, " | ".join(ratio(path, d) for d in daemons if d != "ours")))
PY
