#!/bin/bash
# Crash survival of the store (--persist): after kill -9 and a restart the
# nodes, values and permissions are all there, over Debian's xenstore-utils;
# a batch the kill cut short is dropped; a clean stop removes the file, so
# the next start is a fresh one.  (Guests' rings and watches across a kill:
# tests/crash/test-crash-sim.py.)
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/xsd.sh
. "$here/../lib/xsd.sh"

if [ -n "${XS_TEST_SOCKET:-}" ]; then
	echo "1..0 # SKIP kills and restarts our daemon; an external socket cannot be"
	exit 0
fi
for tool in xenstore-write xenstore-ls xenstore-chmod xenstore-rm; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is missing (apt-get install xenstore-utils)"
		exit 0
	fi
done
XENSTORED=${XENSTORED:-${abs_top_builddir:-$here/../..}/daemon/xenstored}
[ -x "$XENSTORED" ] || { echo "Bail out! no daemon binary at $XENSTORED"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/xsd-persist.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
export XENSTORED_PATH=$dir/socket
state=$dir/state
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf -- "$dir"
}
trap cleanup EXIT

# start: the daemon with --persist on $state; true once the socket answers.
start() {
	"$XENSTORED" -N --persist="$state" "$@" </dev/null 2>>"$dir/log" &
	pid=$!
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || { pid=; return 1; }
		xsd_socket_answers "$XENSTORED_PATH" &&
			xenstore-read /tool >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

crash() {
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	pid=
}

stop() {
	local rc
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=
	return $rc
}

snapshot() {
	xenstore-ls -p / 2>&1
}

start; tap_ok $? "starts with --persist on a file that does not exist"
xenstore-write /vm/a/name one /vm/a/uuid 1234 /local/domain/0/x "with space" &&
	xenstore-chmod /vm/a/name n0 r0 &&
	xenstore-write /vm/b/name two
tap_ok $? "writes"
# A directory big enough to keep its children in chunks (store/chunks.h).
args=()
for i in $(seq 1 300); do
	args+=("/big/a-child-with-a-long-name-$i" "$i")
done
xenstore-write "${args[@]}"
xenstore-rm /vm/b
before=$(snapshot)

crash
[ -s "$state" ]; tap_ok $? "the state file is there after kill -9"
start; tap_ok $? "restarts after kill -9"
tap_is "$(snapshot)" "$before" "every node, value and permission survives the kill"
grep -q "took over the state" "$dir/log"; tap_ok $? "the log says the state was taken over"

xenstore-write /vm/c/name three && xenstore-rm /big/a-child-with-a-long-name-7
tap_ok $? "writes after the restart"
before=$(snapshot)
crash
# The kill cut a batch short: its bytes are there, not all of them.
printf 'XSJ1\377\377\0\0garbage' >>"$state"
start; tap_ok $? "restarts with a batch cut short at the end of the file"
tap_is "$(snapshot)" "$before" "the cut batch is dropped, everything before it kept"
grep -q "cut short" "$dir/log"; tap_ok $? "the log says so"

stop; tap_ok $? "a clean stop (SIGTERM) exits 0"
[ ! -e "$state" ]; tap_ok $? "a clean stop removes the state file"
start; tap_ok $? "starts again after a clean stop"
tap_is "$(xenstore-ls / 2>&1)" 'tool = ""
 xenstored = ""' "a start after a clean stop is a fresh one"
stop

printf 'not a journal' >"$state"
start; tap_ok $? "starts on a file that holds no state"
tap_is "$(xenstore-ls / 2>&1)" 'tool = ""
 xenstored = ""' "and starts fresh"
stop

"$XENSTORED" -N --persist="$dir/no/such/dir/state" </dev/null >/dev/null 2>"$dir/err"
rc=$?
[ $rc = 1 ] && grep -q "cannot" "$dir/err"
tap_ok $? "a state file that cannot be created: exit 1 with a message"

echo "1..$tap_count"
[ $tap_failed -eq 0 ]
