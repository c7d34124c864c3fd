#!/bin/bash
# Xen 4.17's own test-xenstore (linked with Debian's libxenstore) against the
# daemon: each of its tests is run on its own and is one TAP point.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/xsd.sh"

TEST_XENSTORE=${TEST_XENSTORE:-/usr/lib/xen-4.17/bin/test-xenstore}
# The number of tests in Xen 4.17's test-xenstore; all of them must run.
EXPECTED_TESTS=12

if [ ! -x "$TEST_XENSTORE" ]; then
	echo "1..0 # SKIP $TEST_XENSTORE missing (apt-get install xen-utils-4.17)"
	exit 0
fi

xsd_start

# "-l" prints "name<padding>: description"; names contain spaces.
mapfile -t names < <(timeout 10 "$TEST_XENSTORE" -l | sed -n 's/^\([^:]*[^ :]\) *:.*/\1/p')
tap_is "${#names[@]}" "$EXPECTED_TESTS" "test-xenstore lists $EXPECTED_TESTS tests"

for name in "${names[@]}"; do
	# An unknown name runs nothing and still exits 0, so the result line
	# ("name<padding>: <time> ns") is what proves the test ran and passed.
	out=$(timeout 60 "$TEST_XENSTORE" -t "$name" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -Eq "^$name *: [0-9]+ ns$"; then
		tap_ok 0 "test-xenstore: $name"
	else
		tap_ok 1 "test-xenstore: $name"
		tap_diag "exit status $rc; output:"
		tap_diag "$out"
	fi
done

xsd_finish
