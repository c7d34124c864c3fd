#!/bin/busybox sh
# /init of the test guest (a PV domU).  It uses xenstore the way a guest
# does, through its kernel's xenbus driver and its own ring, and reports
# each check on its console (hvc0), which xenconsoled in dom0 logs:
#   GUEST-CHECK ok|fail NAME
#   GUEST-DONE
# Then it waits to be shut down or destroyed.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp

check() {	# check NAME COMMAND...
	local what=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		echo "GUEST-CHECK ok $what"
	else
		echo "GUEST-CHECK fail $what: $(head -c 200 /tmp/check.out | tr '\n' ' ')"
	fi
}
equals() {	# equals EXPECTED COMMAND...: the command prints exactly EXPECTED
	local want=$1 got
	shift
	got=$("$@" 2>&1) || return 1
	[ "$got" = "$want" ] || { echo "got '$got'"; return 1; }
}

domid=$(xenstore-read domid 2>&1)
echo "GUEST: domid $domid, name $(xenstore-read name 2>&1)"
check "reads its domid (relative path)" \
	sh -c '[ -n "$(xenstore-read domid)" ] && [ "$(xenstore-read domid)" -ge 1 ]'
check "writes into data/" xenstore-write data/hello from-the-guest
check "reads it back" equals from-the-guest xenstore-read data/hello
check "cannot read dom0's nodes (EACCES)" \
	sh -c '! xenstore-read /local/domain/0/name'
check "cannot write outside its home" \
	sh -c '! xenstore-write /tool/from-guest x'

# 300 writes in one client, then listed and removed.
args=
i=0
while [ $i -lt 300 ]; do args="$args data/burst/$i v$i"; i=$((i + 1)); done
check "300 writes in a row" xenstore-write $args
check "lists 300 children" equals 300 sh -c 'xenstore-list data/burst | wc -l'
check "removes a subtree" xenstore-rm data/burst

# A value larger than the 1 KiB ring: the request and the reply each
# cross the ring in several pieces.
big=$(head -c 2000 /dev/zero | tr '\0' 'x')
check "writes 2000 bytes (more than the ring)" xenstore-write data/big "$big"
check "reads the 2000 bytes back" equals "$big" xenstore-read data/big

# A watch over the ring: the first event, then one per change.
xenstore-watch -n 2 data/watched > /tmp/watch.out 2>&1 &
sleep 1
xenstore-write data/watched changed
i=0
while [ $i -lt 20 ] && [ "$(wc -l < /tmp/watch.out)" -lt 2 ]; do
	sleep 0.5
	i=$((i + 1))
done
check "a watch fires over the ring" \
	sh -c '[ "$(wc -l < /tmp/watch.out)" -ge 2 ]'
echo "GUEST-DONE"

while true; do sleep 3600; done
