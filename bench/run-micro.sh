#!/bin/bash
# run-micro.sh: the micro-benchmark matrix, mixes x connection counts, against
# our xenstored and, in the same run, Xen 4.17's C xenstored and oxenstored
# (the reference daemons of ../shared/baselines) when they are installed.
# Each cell runs every daemon in turn (ours, C, OCaml), so that the drift of
# a noisy machine hits all of them alike.  Prints a markdown table.
#
# Environment:
#   XENSTORED   our daemon (default: daemon/xenstored of this tree); if it is
#               not an executable, ours is skipped with a message
#   BASELINES   the baselines directory (default: ../shared/baselines next to
#               this tree, else /work/shared/baselines); skipped if missing
#               or "none"
#   MIXES       default "read write directory transaction" (also: mixed)
#   CONNS       default "1 64"
#   DEPTH       requests outstanding per connection (default 1)
#   RUN_SECONDS measured time per run (default 2)
#   REPEAT      runs per daemon and cell; the table shows medians (default 1)
#   MICROBENCH  the xs-microbench binary (default: bench/xs-microbench of this
#               tree, built here with ${CC:-cc} if missing or stale)
#   RESULTS     also write every run's JSON line (with "daemon") to this file
#   PERSIST     1: also measure ours with --persist (crash survival) as
#               "persist", beside the in-memory default
#   FLOOR       1 (default): also measure bench/floor-server, which answers
#               "OK" and does nothing else, with the write mix: the kernel's
#               share of a request, the floor under every daemon's CPU/req
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

XENSTORED=${XENSTORED:-$top/daemon/xenstored}
MIXES=${MIXES:-read write directory transaction}
CONNS=${CONNS:-1 64}
DEPTH=${DEPTH:-1}
RUN_SECONDS=${RUN_SECONDS:-2}
REPEAT=${REPEAT:-1}
XEN_BIN=/usr/lib/xen-4.17/bin

. "$here/lib.sh"
bench_init run-micro

# The write mix: the floor server answers every request "OK" as a WRITE.
probe() {
	"$MICROBENCH" --socket "$1" --mix write --requests 1 --warmup 0
}

# run_cell MIX CONNS: one run of each daemon, as JSON lines tagged with it.
run_cell() {
	local mix=$1 conns=$2 i out rc
	for i in "${!names[@]}"; do
		rc=0
		out=$("$MICROBENCH" --socket "${sockets[$i]}" --pid "${pids[$i]}" \
			--mix "$mix" --conns "$conns" --depth "$DEPTH" \
			--seconds "$RUN_SECONDS" --json) || rc=$?
		if [ $rc -ge 2 ] || [ -z "$out" ]; then
			say "${names[$i]} $mix x$conns: the benchmark failed (status $rc)"
			continue
		fi
		[ $rc -eq 0 ] || say "${names[$i]} $mix x$conns: errors in replies (see above)"
		echo "{\"daemon\":\"${names[$i]}\",${out#\{}"
	done
}

print_table() {
	python3 - "$1" <<'PY'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
daemons = []
for r in runs:
    if r["daemon"] not in daemons:
        daemons.append(r["daemon"])
cells = []
for r in runs:
    cell = (r["mix"], r["conns"])
    if cell not in cells:
        cells.append(cell)

def median(cell, daemon, key):
    vals = [r[key] for r in runs
            if (r["mix"], r["conns"]) == cell and r["daemon"] == daemon
            and r[key] is not None]
    return statistics.median(vals) if vals else None

def problems(cell, daemon):
    err = sum(r["errors"] for r in runs
              if (r["mix"], r["conns"]) == cell and r["daemon"] == daemon)
    eagain = sum(r["eagain"] for r in runs
                 if (r["mix"], r["conns"]) == cell and r["daemon"] == daemon)
    notes = []
    if err:
        notes.append(f"{err} errors")
    if eagain:
        notes.append(f"{eagain} EAGAIN")
    return f" ({', '.join(notes)})" if notes else ""

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"

others = [d for d in daemons if d != "ours"] if "ours" in daemons else []
head = ["cell"]
for d in daemons:
    head += [f"{d} req/s", f"{d} us CPU/req"]
for d in others:
    head += [f"CPU/req ours/{d}", f"req/s ours/{d}"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for cell in cells:
    row = [f"{cell[0]} x{cell[1]}"]
    for d in daemons:
        row += [fmt(median(cell, d, "requests_per_s"), ".0f") + problems(cell, d),
                fmt(median(cell, d, "daemon_cpu_us_per_request"), ".2f")]
    for d in others:
        row += [ratio(median(cell, "ours", "daemon_cpu_us_per_request"),
                      median(cell, d, "daemon_cpu_us_per_request")),
                ratio(median(cell, "ours", "requests_per_s"),
                      median(cell, d, "requests_per_s"))]
    print("| " + " | ".join(row) + " |")
PY
}

# measure_floor: the write mix against a server that does no work at all.
measure_floor() {
	local src=$here/floor-server.c bin=$workdir/floor-server
	local sock=$workdir/floor.sock pid conns out
	${CC:-cc} -O2 -Wall -Wextra -o "$bin" "$src" || die "cannot build $src"
	"$bin" "$sock" & pid=$!
	helper_pid=$pid
	wait_answering "$sock" "$pid" || die "floor-server did not come up"
	echo
	for conns in $CONNS; do
		out=$("$MICROBENCH" --socket "$sock" --pid "$pid" --mix write \
			--conns "$conns" --depth "$DEPTH" --seconds "$RUN_SECONDS" \
			--json) || true
		python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(
"floor (a server that only answers OK), write x%d: %.0f req/s, %.2f us CPU/req"
% (r["conns"], r["requests_per_s"], r["daemon_cpu_us_per_request"]))' "$out"
	done
	kill "$pid"; wait "$pid" 2>/dev/null || true
	helper_pid=
}

command -v python3 >/dev/null || die "needs python3 for the table"
find_tool MICROBENCH xs-microbench
start_daemons

results=$workdir/results.jsonl
echo "# xenstored micro-benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r)"
echo "# daemons: ${names[*]}; ${RUN_SECONDS} s per run, depth $DEPTH, median of $REPEAT run(s)"
echo
run_matrix "$results"
print_table "$results"
if [ "${FLOOR:-1}" = 1 ]; then
	measure_floor
fi
if [ -n "${RESULTS:-}" ]; then
	cp "$results" "$RESULTS"
fi
