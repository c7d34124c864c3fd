#!/bin/busybox sh
# /init of dom0: brings up what Xen's init scripts would (modules, xenfs,
# our xenstored, xen-init-dom0, xenconsoled), then runs two guests through
# their lives with xl and checks what xenstored shows of them.  Reports go
# to the console (hvc0 -> Xen -> the serial port QEMU logs):
#   E2E-POINT ok|fail NAME          one per check
#   E2E-END passed=N failed=M       last line before the machine powers off
# The kernel command line chooses the mode: e2e_mode=socket (default) or
# e2e_mode=nosocket (xenstored --no-socket: every dom0 tool, xl included,
# then goes through /dev/xen/xenbus, the kernel's xenbus and dom0's ring).
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/lib/xen/bin:/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts		# xenconsoled gives each guest a pty
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /run/lock /var/lib/xen /var/lib/xenstored \
	/var/log/xen/console /tmp
ln -s /run /var/run

passed=0
failed=0
point() {	# point ok|fail NAME
	echo "E2E-POINT $1 $2"
	if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
check() {	# check NAME COMMAND...
	local what=$1
	shift
	if timeout 60 "$@" >/tmp/check.out 2>&1; then
		point ok "$what"
	else
		point fail "$what"
		sed 's/^/  | /' /tmp/check.out | head -n 20
	fi
}
uptime_s() { cut -d. -f1 /proc/uptime; }
# wait_until SECONDS COMMAND...: true once the command succeeds
wait_until() {
	local limit=$(($(uptime_s) + $1))
	shift
	until timeout 10 "$@" >/dev/null 2>&1; do
		[ "$(uptime_s)" -ge "$limit" ] && return 1
		sleep 1
	done
}
finish() {
	echo "---- xenstored's log ----"
	tail -n 30 /var/log/xen/xenstored.log
	echo "E2E-END passed=$passed failed=$failed"
	sync
	sleep 2		# let the console drain before the machine goes
	poweroff -f
}

mode=socket
grep -q 'e2e_mode=nosocket' /proc/cmdline && mode=nosocket
echo "E2E: dom0 up, kernel $(uname -r), mode $mode"
# Whatever hangs, end with a report before run-e2e.sh's own time limit.
deadline=$(sed -n 's/.*e2e_deadline=\([0-9]*\).*/\1/p' /proc/cmdline)
( sleep "${deadline:-500}"; point fail "dom0 deadline (${deadline:-500} s)"
  echo "E2E-END passed=? failed=deadline"; poweroff -f ) &

for module in xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xenfs; do
	insmod "/lib/modules/$module.ko" || point fail "insmod $module"
done
mount -t xenfs xenfs /proc/xen
check "dom0 is the control domain" grep -q control_d /proc/xen/capabilities

# ---- our xenstored ----
args=-N
[ $mode = nosocket ] && args="-N --no-socket"
export XENSTORED_RUNDIR=/run/xenstored
xenstored $args > /var/log/xen/xenstored.log 2>&1 &
xspid=$!
if wait_until 30 xenstore-read /; then
	point ok "xenstored answers ($mode)"
else
	point fail "xenstored answers ($mode)"
	cat /var/log/xen/xenstored.log
	finish
fi
if [ $mode = nosocket ]; then
	check "no socket: the tools use dom0's ring" \
		sh -c '[ ! -e /run/xenstored/socket ]'
else
	check "the socket exists" test -S /run/xenstored/socket
	check "dom0's ring answers too (XENSTORED_RUNDIR=/nonexistent)" \
		env XENSTORED_RUNDIR=/nonexistent xenstore-write /tool/e2e/ring yes
	check "and both paths see one store" \
		sh -c '[ "$(xenstore-read /tool/e2e/ring)" = yes ]'
fi
check "xen-init-dom0" xen-init-dom0
check "dom0's name" sh -c '[ "$(xenstore-read /local/domain/0/name)" = Domain-0 ]'
# A value larger than dom0's ring, through whichever path the tools take.
big=$(head -c 3000 /dev/zero | tr '\0' 'y')
check "dom0 writes and reads 3000 bytes" \
	sh -c "xenstore-write /tool/e2e/big $big && [ \"\$(xenstore-read /tool/e2e/big)\" = $big ]"
check "xenconsoled" xenconsoled --pid-file /run/xenconsoled.pid --log=guest \
	--log-dir=/var/log/xen/console
check "xl info" xl info
check "xl list" xl list

xenstore-watch @releaseDomain > /tmp/released 2>&1 &
xenstore-watch @introduceDomain > /tmp/introduced 2>&1 &
sleep 1

# ---- two guests: one shut down, one destroyed ----
guest() {	# guest NAME shutdown|destroy
	local name=$1 how=$2 domid console introduced released n
	introduced=$(wc -l < /tmp/introduced)
	if ! timeout 300 xl create /etc/xen/guest.cfg "name=\"$name\"" \
		> /tmp/create.out 2>&1; then
		point fail "$name: xl create"
		sed 's/^/  | /' /tmp/create.out | tail -n 30
		return
	fi
	point ok "$name: xl create"
	domid=$(xl domid "$name")
	echo "E2E: $name is domain $domid"
	check "$name: @introduceDomain fired" \
		sh -c "[ \$(wc -l < /tmp/introduced) -gt $introduced ]"
	console=/var/log/xen/console/guest-$name.log
	if wait_until 240 grep -q GUEST-DONE "$console"; then
		point ok "$name: the guest ran its checks"
	else
		point fail "$name: the guest ran its checks"
	fi
	# The guest's own checks become points here.
	grep -a 'GUEST-CHECK' "$console" | while read -r _ status rest; do
		echo "E2E-POINT $status $name (guest): $rest"
	done
	n=$(grep -ac 'GUEST-CHECK ok' "$console" 2>/dev/null)
	passed=$((passed + ${n:-0}))
	n=$(grep -ac 'GUEST-CHECK fail' "$console" 2>/dev/null)
	failed=$((failed + ${n:-0}))
	check "$name: dom0 reads what the guest wrote" \
		sh -c "[ \"\$(xenstore-read /local/domain/$domid/data/hello)\" = from-the-guest ]"
	check "$name: dom0 reads the guest's 2000 bytes" \
		sh -c "[ \$(xenstore-read /local/domain/$domid/data/big | wc -c) = 2001 ]"
	released=$(wc -l < /tmp/released)
	if [ "$how" = shutdown ]; then
		check "$name: xl shutdown" xl shutdown -w "$name"
	else
		check "$name: xl destroy" xl destroy "$name"
	fi
	if wait_until 60 sh -c "[ \$(wc -l < /tmp/released) -gt $released ]"; then
		point ok "$name: @releaseDomain fired"
	else
		point fail "$name: @releaseDomain fired"
	fi
	if wait_until 60 sh -c "! xenstore-exists /local/domain/$domid"; then
		point ok "$name: /local/domain/$domid removed"
	else
		point fail "$name: /local/domain/$domid removed"
		xenstore-ls -f "/local/domain/$domid" | head -n 20
	fi
	check "$name: gone from xl list" sh -c "! xl list $name"
}
guest guest1 shutdown
guest guest2 destroy

check "xenstored is still running" kill -0 "$xspid"
finish
