#!/bin/bash
# The benchmark scripts of bench/ run against our daemon alone
# (BASELINES=none) and print their tables; run-micro.sh also measures the
# floor server.  Short runs: no figure is asserted, only that each script
# completes and reports (and that attack-bench's RSS stays within the bound
# the quotas give, which is memory, not time).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/xsd.sh"

top=${abs_top_srcdir:-$here/../..}
build=${abs_top_builddir:-$top}
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-scripts.XXXXXX")
trap 'rm -rf -- "$out"' EXIT
export XENSTORED=${XENSTORED:-$build/daemon/xenstored} BASELINES=none
export RUN_SECONDS=0.2 CONNS=1

rc=0
MICROBENCH=$build/bench/xs-microbench MIXES=write FLOOR=1 \
	"$top/bench/run-micro.sh" >"$out/micro" 2>&1 || rc=$?
tap_is $rc 0 "run-micro.sh: exit status 0"
[ $rc -eq 0 ] || tap_diag "$(cat "$out/micro")"
grep -q '^| write x1 | [0-9]' "$out/micro"
tap_ok $? "run-micro.sh: a row for write x1"
grep -q '^floor (a server that only answers OK), write x1: [0-9]' "$out/micro"
tap_ok $? "run-micro.sh: the floor server measured"

rc=0
TXBENCH=$build/bench/tx-bench MIXES=siblings \
	"$top/bench/run-tx.sh" >"$out/tx" 2>&1 || rc=$?
tap_is $rc 0 "run-tx.sh: exit status 0"
[ $rc -eq 0 ] || tap_diag "$(cat "$out/tx")"
grep -q '^| siblings x1 | [0-9]' "$out/tx"
tap_ok $? "run-tx.sh: a row for siblings x1"

# Every attack, briefly, with three guests: a row each, within the bound.
rc=0
ATTACK_BENCH=$build/bench/attack-bench GUESTS=3 RUN_SECONDS=0.6 SLICES=1 \
	OUT="$out/attack" "$top/bench/run-attack-bench.sh" >"$out/attack.txt" 2>&1 ||
	rc=$?
tap_is $rc 0 "run-attack-bench.sh: exit status 0"
[ $rc -eq 0 ] || tap_diag "$(cat "$out/attack.txt")"
rows=$(grep -cE '^\| (flood|noread|storm|tree|tx|malformed) \| [0-9]' "$out/attack.txt")
tap_is "$rows" 6 "run-attack-bench.sh: a row for each of the six attacks"
# Under AddressSanitizer the daemon's RSS is mostly the sanitizer's own
# (redzones, the quarantine of freed memory): no bound of ours applies.
if { nm -D "$XENSTORED"; nm "$XENSTORED"; } 2>/dev/null | grep -q __asan_init ||
   ldd "$XENSTORED" 2>/dev/null | grep -q libasan; then
	tap_skip "run-attack-bench.sh: the daemon's RSS within the quotas' bound" \
		"an AddressSanitizer build: its RSS is mostly the sanitizer's"
else
	held=$(grep -c '(holds)' "$out/attack.txt")
	tap_is "$held" 6 "run-attack-bench.sh: the daemon's RSS within the quotas' bound"
fi
grep -q 'ring error field 3 (PROTO)' "$out/attack.txt"
tap_ok $? "run-attack-bench.sh: the malformed attacker's ring marked ERROR"

# The scaling comparison, at a few VMs: a table row for each size and a
# ratio row for each transport, every run verified.
rc=0
BOOTSTORM=$build/bench/xenstore-bootstorm SMALL=8 BIG=16 PROFILES=optimized \
	"$top/bench/run-scaling.sh" >"$out/scaling" 2>&1 || rc=$?
tap_is $rc 0 "run-scaling.sh: exit status 0 (every run verified)"
[ $rc -eq 0 ] || tap_diag "$(cat "$out/scaling")"
rows=$(grep -cE '^\| optimized \| (sock|sim) \| (8|16) \| 1/1 \|' "$out/scaling")
tap_is "$rows" 2 "run-scaling.sh: a row for the big size of each transport"
rows=$(grep -cE '^\| optimized \| (sock|sim) \| [0-9.]+ \| [0-9.]+ \|' "$out/scaling")
tap_is "$rows" 2 "run-scaling.sh: a ratio row for each transport"

xsd_finish
