#!/bin/bash
# Debian's xenstore-utils (a client no one here wrote) against the daemon:
# write, read, ls, list, rm, chmod, exists and watch, outputs compared exactly.
# The expected outputs are those the tools print against Xen 4.17's C
# xenstored.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/xsd.sh"

for tool in xenstore-write xenstore-read xenstore-ls xenstore-list \
	    xenstore-rm xenstore-chmod xenstore-exists xenstore-watch; do
	command -v $tool >/dev/null || {
		echo "1..0 # SKIP $tool missing (apt-get install xenstore-utils)"
		exit 0
	}
done

xsd_start

# Every client call is bounded: a hang is a failure, not a stuck test.
t() { timeout 10 "$@"; }

B=/utils-test
t xenstore-rm $B

t xenstore-write $B/a 1 $B/b "two words" $B/c/d deep
tap_ok $? "xenstore-write of several pairs"

tap_is "$(t xenstore-read $B/a $B/b $B/c/d)" "1
two words
deep" "xenstore-read prints values one per line"

tap_is "$(t xenstore-read $B/c)" "" "xenstore-read of an implicitly created parent is empty"

out=$(t xenstore-read $B/missing 2>&1)
rc=$?
tap_is "$rc: $out" "1: xenstore-read: couldn't read path $B/missing" \
	"xenstore-read of a missing node fails"

tap_is "$(t xenstore-ls $B)" 'a = "1"
b = "two words"
c = ""
 d = "deep"' "xenstore-ls shows the tree in creation order"

tap_is "$(t xenstore-ls -f $B)" "$B/a = \"1\"
$B/b = \"two words\"
$B/c = \"\"
$B/c/d = \"deep\"" "xenstore-ls -f shows full paths"

tap_is "$(t xenstore-list $B)" "a
b
c" "xenstore-list lists children"

tap_is "$(t xenstore-list -p $B)" "$B/a
$B/b
$B/c" "xenstore-list -p prefixes the path"

t xenstore-exists $B/a
tap_ok $? "xenstore-exists of an existing node succeeds"
t xenstore-exists $B/missing
tap_is "$?" 1 "xenstore-exists of a missing node exits 1"

t xenstore-chmod $B/a b0 r5
tap_ok $? "xenstore-chmod sets a permission list"
tap_is "$(t xenstore-ls -p $B)" 'a = "1"  . . . . . . . . . . . . . . . . . . . . . . . . . .  (b0,r5)
b = "two words"  . . . . . . . . . . . . . . . . . . . . . .  (n0)
c = "" . . . . . . . . . . . . . . . . . . . . . . . . . . .  (n0)
 d = "deep"  . . . . . . . . . . . . . . . . . . . . . . . .  (n0)' \
	"xenstore-ls -p shows the permissions"

t xenstore-chmod -r $B/c n0 r3
tap_ok $? "xenstore-chmod -r sets permissions recursively"
tap_is "$(t xenstore-ls -p $B/c)" 'd = "deep" . . . . . . . . . . . . . . . . . . . . . . . . .  (n0,r3)' \
	"xenstore-chmod -r reached the child"

# xenstore-watch prints the watch's initial event first; wait for it (bounded)
# before changing anything, so the events that follow are not racing it.
wdir=$(mktemp -d "${TMPDIR:-/tmp}/xsd-watch.XXXXXX")
timeout 20 xenstore-watch -n 4 $B/c >"$wdir/out" 2>&1 &
wpid=$!
for _ in $(seq 200); do
	[ -s "$wdir/out" ] && break
	kill -0 $wpid 2>/dev/null || break
	sleep 0.05
done
t xenstore-write $B/c/new x $B/unwatched y
t xenstore-rm $B/c/d
t xenstore-chmod $B/c n0
wait $wpid
wrc=$?
tap_is "$wrc: $(cat "$wdir/out")" "0: $B/c
$B/c/new
$B/c/d
$B/c" "xenstore-watch -n 4 prints the initial and three change events"
rm -rf -- "$wdir"

t xenstore-rm $B/c
tap_ok $? "xenstore-rm removes a subtree"
t xenstore-exists $B/c/new
tap_is "$?" 1 "removed subtree is gone"
tap_is "$(t xenstore-list $B)" "a
b
unwatched" "xenstore-list after xenstore-rm"
t xenstore-rm $B/c
tap_ok $? "xenstore-rm of a missing node with an existing parent succeeds"

t xenstore-rm $B
tap_ok $? "clean-up"

xsd_finish
