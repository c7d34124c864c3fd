#!/bin/bash
# run-scaling.sh: does a VM cost the same at 10,000 VMs as at 1,000?  Runs
# the bootstorm harness against our daemon at a small and a big size, each
# big run between two small ones (so the drift of a noisy machine hits both
# sizes alike), for each profile and transport, a fresh daemon per run, and
# prints T(big)/T(small), daemon CPU per request and RSS per VM with their
# ratios.  Set up by environment variables:
#
#   PROFILES    bootstorm profiles (default "optimized libxl")
#   TRANSPORTS  sock (Unix socket) and/or sim (sim rings) (default both)
#   SMALL, BIG  the two sizes in VMs (default 1000 and 10000)
#   ROUNDS      small-big-small rounds per profile and transport (default 1)
#   K           toolstack concurrency (default 32)
#   LIBXL_ARGS  extra harness options for the libxl profile (default
#               "--no-name-scan --monitors shared": libxl's name scan and its
#               per-VM @releaseDomain monitors make the client's own work
#               grow with N, so no daemon can keep a VM's cost flat with them)
#   ARGS        extra harness options for every run
#   XENSTORED   our daemon (default build/daemon/xenstored)
#   BOOTSTORM   the harness (default build/bench/xenstore-bootstorm)
#   RESULTS     a directory to keep every run's JSON report and logs in
#
# The harness reports time, daemon CPU (from /proc/PID/task/*/schedstat)
# and RSS; see man/xenstore-bootstorm.1.  Exit status 0 when every run was
# verified, 1 otherwise.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
XENSTORED=${XENSTORED:-$top/build/daemon/xenstored}
BOOTSTORM=${BOOTSTORM:-$top/build/bench/xenstore-bootstorm}
PROFILES=${PROFILES:-optimized libxl}
TRANSPORTS=${TRANSPORTS:-sock sim}
SMALL=${SMALL:-1000}
BIG=${BIG:-10000}
ROUNDS=${ROUNDS:-1}
K=${K:-32}
LIBXL_ARGS=${LIBXL_ARGS---no-name-scan --monitors shared}
ARGS=${ARGS:-}

say() { echo "run-scaling: $*" >&2; }
die() { say "$*"; exit 2; }

[ -x "$XENSTORED" ] || die "XENSTORED=$XENSTORED is not executable"
[ -x "$BOOTSTORM" ] || die "BOOTSTORM=$BOOTSTORM is not executable"
command -v python3 >/dev/null || die "python3 is needed for the table"
for t in $TRANSPORTS; do
	case $t in sock | sim) ;; *) die "TRANSPORTS: '$t' is not sock or sim" ;; esac
done

workdir=$(mktemp -d "${TMPDIR:-/tmp}/xs-scaling.XXXXXX")
results=${RESULTS:-$workdir/results}
mkdir -p "$results"
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid"
		wait "$daemon_pid" 2>/dev/null || true
	fi
	rm -rf -- "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run PROFILE TRANSPORT N SEQ: one run on a fresh daemon; its JSON report
# is RESULTS/PROFILE-TRANSPORT-N-SEQ.json.
failed=0
run() {
	local profile=$1 transport=$2 n=$3 seq=$4
	local name=$profile-$transport-$n-$seq d=$workdir/run
	local extra=() simopt=()
	rm -rf -- "$d"
	mkdir -p "$d"
	[ "$transport" = sim ] && simopt=(--sim "$d/sim")
	XENSTORED_PATH=$d/socket "$XENSTORED" -N --pid-file "$d/pid" \
		"${simopt[@]}" >"$results/$name.daemon.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		[ -S "$d/socket" ] && [ -s "$d/pid" ] && break
		sleep 0.1
	done
	[ -S "$d/socket" ] || die "our daemon did not start (see $results/$name.daemon.log)"
	# shellcheck disable=SC2206
	[ "$profile" = libxl ] && extra=($LIBXL_ARGS)
	# shellcheck disable=SC2086
	say "$name: $(date -u +%H:%M:%S) $profile over $transport, $n VMs"
	if ! "$BOOTSTORM" -s "$d/socket" -p "$daemon_pid" "${simopt[@]}" \
		-P "$profile" -n "$n" -k "$K" --no-count-nodes --no-progress \
		-l ours -j "$results/$name.json" "${extra[@]}" $ARGS \
		>"$results/$name.log" 2>&1; then
		say "$name: not verified (see $results/$name.log)"
		failed=1
	fi
	kill -TERM "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null || true
	daemon_pid=
}

for profile in $PROFILES; do
	for transport in $TRANSPORTS; do
		for r in $(seq "$ROUNDS"); do
			run "$profile" "$transport" "$SMALL" "$r"a
			run "$profile" "$transport" "$BIG" "$r"
			run "$profile" "$transport" "$SMALL" "$r"b
		done
	done
done

python3 - "$results" "$SMALL" "$BIG" "$PROFILES" "$TRANSPORTS" <<'PY'
import glob, json, os, sys

results, small, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
profiles, transports = sys.argv[4].split(), sys.argv[5].split()

def load(profile, transport, n):
    runs = []
    for f in sorted(glob.glob(os.path.join(results, f"{profile}-{transport}-{n}-*.json"))):
        with open(f) as fh:
            runs.append(json.load(fh))
    return runs

def figures(j):
    d = j["daemon"]
    return {
        "ok": j["ok"],
        "boot": j["time_s"]["boot"],
        "total": j["time_s"]["total"],
        "cpu": d["cpu_s"]["total"],
        "us_req": d["cpu_us_per_request"],
        "req_vm": j["requests"]["per_vm"],
        "kb_vm": d["bytes_per_vm"] / 1000.0,
        "peak_mib": d["peak_rss_kb"] / 1024.0,
    }

def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")

print(f"# run-scaling: {small} against {big} VMs, each {big}-VM run between two {small}-VM runs")
print()
print(f"| profile | transport | VMs | runs verified | total s | boot s | requests/VM | daemon CPU s | µs CPU/request | KB/VM (all up) | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
summary = []
for p in profiles:
    for t in transports:
        row = {}
        for n in (small, big):
            fs = [figures(j) for j in load(p, t, n)]
            if not fs:
                continue
            ok = sum(1 for f in fs if f["ok"])
            m = {k: mean([f[k] for f in fs]) for k in fs[0] if k != "ok"}
            row[n] = m
            print(f"| {p} | {t} | {n:,} | {ok}/{len(fs)} | {m['total']:.1f} | {m['boot']:.1f} | "
                  f"{m['req_vm']:.0f} | {m['cpu']:.1f} | {m['us_req']:.2f} | {m['kb_vm']:.1f} | {m['peak_mib']:.0f} |")
        if small in row and big in row:
            summary.append((p, t, row[small], row[big]))
print()
print(f"| profile | transport | T({big})/T({small}) | boot ratio | CPU ratio | µs/request ratio | KB/VM at {big} |")
print("|---|---|---|---|---|---|---|")
for p, t, s, b in summary:
    print(f"| {p} | {t} | {b['total'] / s['total']:.2f} | {b['boot'] / s['boot']:.2f} | "
          f"{b['cpu'] / s['cpu']:.2f} | {b['us_req'] / s['us_req']:.3f} | {b['kb_vm']:.1f} |")
PY
exit $failed
