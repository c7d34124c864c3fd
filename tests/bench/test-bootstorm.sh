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

xsd_finish
