#!/bin/bash
# Smoke test of xenstore-bootstorm against our daemon: a small xsbench run
# and a small libxl run, each of which must verify (every VM completed or
# came up and went away, no failure, the store back to what it was).  No
# timing is asserted.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/xsd.sh"

bootstorm=${XENSTORE_BOOTSTORM:-${abs_top_builddir:-$here/../..}/bench/xenstore-bootstorm}
if [ ! -x "$bootstorm" ]; then
	echo "1..0 # SKIP $bootstorm is not built"
	exit 0
fi

xsd_start
out=$(mktemp -d "${TMPDIR:-/tmp}/bootstorm-test.XXXXXX")
trap 'rm -rf -- "$out"; xsd_stop >/dev/null 2>&1' EXIT

# run NAME ARGS...: the harness must exit 0 and its JSON must say so.
run() {
	local name=$1 rc=0
	shift
	"$bootstorm" --socket "$XENSTORED_PATH" --no-progress \
		--stall-timeout 20 --json "$out/$name.json" "$@" \
		>"$out/$name.log" 2>&1 || rc=$?
	tap_ok $rc "$name: the run verifies (exit status $rc)"
	[ $rc -eq 0 ] || tap_diag "$(cat "$out/$name.log")"
	grep -q '"ok": true' "$out/$name.json" 2>/dev/null
	tap_ok $? "$name: the JSON report says ok"
}

run xsbench --profile xsbench -n 5
grep -q '"vms_up": 5,' "$out/xsbench.json"
tap_ok $? "xsbench: five cycles completed"

# One toolstack worker and one monitor: the destroys run one at a time,
# so the result does not depend on how concurrent teardowns interleave.
run libxl --profile libxl -n 3 -k 1 --monitors shared
grep -q '"vms_up": 3, "vms_gone": 3,' "$out/libxl.json"
tap_ok $? "libxl: three VMs came up and were destroyed"

# A daemon that is not there: the harness says it could not run (2).
"$bootstorm" --socket "$out/nothing" --no-progress -n 1 >/dev/null 2>&1
tap_is "$?" 2 "no daemon: exit status 2"

# The comparison mode, with two daemons: ours and ours again as a daemon
# given by its command line.  Both columns and the ratios must be there.
compare=${abs_top_builddir:-$here/../..}/bench/xenstore-bootstorm-compare
if [ -x "$compare" ]; then
	rc=0
	XENSTORED=$XENSTORED BOOTSTORM=$bootstorm "$compare" -d ours \
		-d "again=$XENSTORED -N" -r 1 -o "$out/compare" \
		-- -P xsbench -n 3 --stall-timeout 20 \
		>"$out/compare.out" 2>"$out/compare.err" || rc=$?
	tap_is $rc 0 "compare: two daemons, exit status 0"
	[ $rc -eq 0 ] || tap_diag "$(cat "$out/compare.err")"
	grep -q '^| runs verified | 1/1 | 1/1 |$' "$out/compare.out"
	tap_ok $? "compare: each daemon's run verified"
	grep -q '^| ratio (theirs / ours) | again |$' "$out/compare.out"
	tap_ok $? "compare: the ratios of the other daemon to ours"
	[ -s "$out/compare/ours-1.json" ] && [ -s "$out/compare/again-1.json" ]
	tap_ok $? "compare: --results keeps each run's report"
	"$compare" --repeat 0 >/dev/null 2>&1
	tap_is $? 2 "compare: --repeat 0 is a usage error"
	"$compare" -d ours -- --socket /x >/dev/null 2>&1
	tap_is $? 2 "compare: --socket is its own to set"
else
	for t in "two daemons" "each verified" "ratios" "--results" \
		"--repeat 0" "--socket"; do
		tap_skip "compare: $t" "$compare is not built"
	done
fi

# Last, since it leaves its VMs in the store: --time-limit ends a run that
# cannot finish in time (guests that boot for 2.5 s at least, a limit of
# 1 s); it is reported, and does not verify.
"$bootstorm" --socket "$XENSTORED_PATH" --no-progress -P libxl -n 2 -k 2 \
	--boot-delay 5000 --time-limit 1 --json "$out/limit.json" \
	>"$out/limit.log" 2>&1
tap_is "$?" 1 "time limit: the run is aborted and does not verify"
grep -q '"aborted": true, "abort_reason": "time limit' "$out/limit.json"
tap_ok $? "time limit: the JSON report says why"

xsd_finish
