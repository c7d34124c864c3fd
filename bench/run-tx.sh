#!/bin/bash
# run-tx.sh: the transaction benchmark (tx-bench) for K connections, against
# our xenstored and, in the same run, Xen 4.17's C xenstored and oxenstored
# (the reference daemons of ../shared/baselines) when they are installed.
# In each cell every daemon runs in turn (ours, C, OCaml), so that the drift
# of a noisy machine hits all of them alike.  Prints a markdown table.
#
# Environment:
#   XENSTORED   our daemon (default: daemon/xenstored of this tree); if it is
#               not an executable, ours is skipped with a message
#   BASELINES   the baselines directory (default: ../shared/baselines next to
#               this tree, else /work/shared/baselines); skipped if missing
#               or "none"
#   MIXES       default "siblings counter"
#   CONNS       default "1 8 64"
#   RUN_SECONDS measured time per run (default 2)
#   REPEAT      runs per daemon and cell; the table shows medians (default 1)
#   TXBENCH     the tx-bench binary (default: bench/tx-bench of this tree,
#               built here with ${CC:-cc} if missing or stale)
#   RESULTS     also write every run's JSON line (with "daemon") to this file
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

XENSTORED=${XENSTORED:-$top/daemon/xenstored}
MIXES=${MIXES:-siblings counter}
CONNS=${CONNS:-1 8 64}
RUN_SECONDS=${RUN_SECONDS:-2}
REPEAT=${REPEAT:-1}
XEN_BIN=/usr/lib/xen-4.17/bin

. "$here/lib.sh"
bench_init run-tx

probe() {
	"$TXBENCH" --socket "$1" --seconds 0.01 --warmup 0
}

# run_cell MIX CONNS: one run of each daemon, as JSON lines tagged with it.
run_cell() {
	local mix=$1 conns=$2 i out rc
	for i in "${!names[@]}"; do
		rc=0
		out=$("$TXBENCH" --socket "${sockets[$i]}" --pid "${pids[$i]}" \
			--mix "$mix" --conns "$conns" --seconds "$RUN_SECONDS" \
			--json) || rc=$?
		if [ $rc -ge 2 ] || [ -z "$out" ]; then
			say "${names[$i]} $mix x$conns: the benchmark failed (status $rc)"
			continue
		fi
		[ $rc -eq 0 ] || say "${names[$i]} $mix x$conns: wrong replies or outcome (see above)"
		echo "{\"daemon\":\"${names[$i]}\",${out#\{}"
	done
}

print_table() {
	python3 - "$1" <<'PY'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
daemons, cells = [], []
for r in runs:
    if r["daemon"] not in daemons:
        daemons.append(r["daemon"])
    if (r["mix"], r["conns"]) not in cells:
        cells.append((r["mix"], r["conns"]))

def median(cell, daemon, key):
    vals = [r[key] for r in runs
            if (r["mix"], r["conns"]) == cell and r["daemon"] == daemon
            and r[key] is not None]
    return statistics.median(vals) if vals else None

def flags(cell, daemon):
    bad = [r for r in runs if (r["mix"], r["conns"]) == cell
           and r["daemon"] == daemon and (r["errors"] or not r["outcome_ok"])]
    return " (WRONG)" if bad else ""

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.1f}"

others = [d for d in daemons if d != "ours"] if "ours" in daemons else []
head = ["cell"]
for d in daemons:
    head += [f"{d} commits/s", f"{d} EAGAIN", f"{d} retries/commit",
             f"{d} us CPU/commit"]
for d in others:
    head += [f"commits per CPU-s ours/{d}"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for cell in cells:
    row = [f"{cell[0]} x{cell[1]}"]
    for d in daemons:
        rate = median(cell, d, "eagain_rate")
        row += [fmt(median(cell, d, "commits_per_s"), ".0f") + flags(cell, d),
                "-" if rate is None else f"{100 * rate:.1f}%",
                fmt(median(cell, d, "retries_per_commit"), ".2f"),
                fmt(median(cell, d, "daemon_cpu_us_per_commit"), ".1f")]
    for d in others:
        # Commits per CPU-second is the inverse of CPU per commit.
        row += [ratio(median(cell, d, "daemon_cpu_us_per_commit"),
                      median(cell, "ours", "daemon_cpu_us_per_commit"))]
    print("| " + " | ".join(row) + " |")
PY
}

command -v python3 >/dev/null || die "needs python3 for the table"
find_tool TXBENCH tx-bench
start_daemons

results=$workdir/results.jsonl
echo "# xenstored transaction benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r)"
echo "# daemons: ${names[*]}; ${RUN_SECONDS} s per run, median of $REPEAT run(s)"
echo
run_matrix "$results"
print_table "$results"
if [ -n "${RESULTS:-}" ]; then
	cp "$results" "$RESULTS"
fi
