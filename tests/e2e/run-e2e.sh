#!/bin/bash
# End to end on real Xen: Xen 4.17 and Debian's kernel boot under QEMU
# (software emulation, no KVM needed), our xenstored serves dom0, and xl
# creates two guests that use xenstore over their rings; one is shut down,
# the other destroyed (tests/e2e/dom0-init.sh, guest-init.sh).  Two boots:
# with the socket, and with --no-socket, where every dom0 tool, xl
# included, goes through dom0's own ring.  TAP: the checks made inside the
# machine come out as test points, prefixed with the mode.
#
# It installs what it needs from Debian (as root) and downloads Debian's
# kernel package once (E2E_CACHE, see build-images.sh).  A step this machine
# cannot do is a failing point with the reason, never a pass.
#
# Environment:
#   XENSTORED         the daemon under test (make check sets it)
#   E2E_TIMEOUT       limit for one boot, seconds (default 600)
#   E2E_MODES         default "socket nosocket"
#   E2E_KEEP=1        keep the work directory (images, serial logs)
#   XS_E2E=skip       skip the whole test, saying so (e.g. a quick local run)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/xsd.sh"

E2E_TIMEOUT=${E2E_TIMEOUT:-600}
E2E_MODES=${E2E_MODES:-socket nosocket}
XENSTORED=${XENSTORED:-${abs_top_builddir:-$here/../..}/daemon/xenstored}
PACKAGES=(qemu-system-x86 xen-hypervisor-4.17-amd64 xen-utils-4.17
	xenstore-utils busybox-static cpio gzip)

plan_and_exit() {
	echo "1..$tap_count"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

if [ "${XS_E2E:-}" = skip ]; then
	tap_skip "Xen under QEMU" "XS_E2E=skip"
	plan_and_exit
fi
if [ -n "${XS_TEST_SOCKET:-}" ]; then
	tap_skip "Xen under QEMU" "XS_TEST_SOCKET: no daemon binary to boot"
	plan_and_exit
fi

# ---- what the machine needs ----
missing=()
for p in "${PACKAGES[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		tap_ok 1 "Debian packages present"
		tap_diag "missing: ${missing[*]}; as root: apt-get install --no-install-recommends ${missing[*]}"
		plan_and_exit
	fi
	tap_diag "installing ${missing[*]}"
	if ! { apt-get update -qq &&
	       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}"; } > /tmp/e2e-apt.$$ 2>&1; then
		tap_ok 1 "Debian packages installed"
		tap_diag "$(tail -n 20 /tmp/e2e-apt.$$)"
		rm -f /tmp/e2e-apt.$$
		plan_and_exit
	fi
	rm -f /tmp/e2e-apt.$$
fi
tap_ok 0 "Debian packages present"

if [ ! -x "$XENSTORED" ]; then
	tap_ok 1 "the daemon under test exists"
	tap_diag "XENSTORED=$XENSTORED is not executable"
	plan_and_exit
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/xenstored-e2e.XXXXXX")
qemu_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	if [ "${E2E_KEEP:-}" = 1 ]; then
		echo "# work directory kept: $work"
	else
		rm -rf -- "$work"
	fi
}
trap cleanup EXIT

if XENSTORED=$XENSTORED "$here/build-images.sh" "$work" > "$work/build.log" 2>&1; then
	tap_ok 0 "images built (Xen, Debian's kernel, initramfs with our xenstored)"
else
	tap_ok 1 "images built (Xen, Debian's kernel, initramfs with our xenstored)"
	tap_diag "$(tail -n 20 "$work/build.log")"
	plan_and_exit
fi

# boot MODE: one machine; the serial log goes to $work/serial-MODE.log
boot() {
	local mode=$1 log=$work/serial-$1.log deadline
	# dom0 reports and powers off before QEMU's limit.
	deadline=$((E2E_TIMEOUT - 60))
	local xen_cmdline="console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2 loglvl=warning guest_loglvl=warning"
	local dom0_cmdline="console=hvc0 rdinit=/init loglevel=4 e2e_mode=$mode e2e_deadline=$deadline"
	# QEMU's -initrd separates modules with commas.
	case $dom0_cmdline in *,*) tap_bail "comma in the dom0 command line" ;; esac
	timeout -k 10 "$E2E_TIMEOUT" qemu-system-x86_64 \
		-accel tcg -machine pc -cpu qemu64 -smp 2 -m 2048 \
		-display none -vga none -monitor none -serial stdio \
		-no-reboot -net none \
		-kernel "$work/xen" -append "$xen_cmdline" \
		-initrd "$work/vmlinuz $dom0_cmdline,$work/dom0-initrd.gz" \
		< /dev/null > "$log" 2>&1 &
	qemu_pid=$!
	wait "$qemu_pid"
	local status=$?
	qemu_pid=
	return $status
}

for mode in $E2E_MODES; do
	start=$SECONDS
	boot "$mode"
	status=$?
	log=$work/serial-$mode.log
	tr -d '\r' < "$log" > "$log.txt"
	tap_diag "[$mode] boot took $((SECONDS - start)) s, QEMU status $status"
	points=0
	while IFS= read -r line; do
		result=${line#*E2E-POINT }
		status_word=${result%% *}
		name=${result#* }
		points=$((points + 1))
		if [ "$status_word" = ok ]; then
			tap_ok 0 "[$mode] $name"
		else
			tap_ok 1 "[$mode] $name"
		fi
	done < <(grep -a 'E2E-POINT ' "$log.txt")
	end=$(grep -a 'E2E-END ' "$log.txt" | tail -n 1)
	if [ -n "$end" ] && [ "$status" -ne 124 ]; then
		tap_ok 0 "[$mode] the machine finished its checks (${end#*E2E-END })"
	else
		tap_ok 1 "[$mode] the machine finished its checks"
		tap_diag "QEMU status $status (124: killed after ${E2E_TIMEOUT}s); end of the serial log:"
		tap_diag "$(tail -n 40 "$log.txt")"
	fi
	if [ "$points" -eq 0 ]; then
		tap_ok 1 "[$mode] the machine reported its checks"
		tap_diag "$(tail -n 60 "$log.txt")"
	elif grep -aq 'E2E-POINT fail' "$log.txt"; then
		# The serial log around the failures, for whoever reads the TAP.
		tap_diag "[$mode] serial log excerpts:"
		tap_diag "$(grep -a -B2 -A12 'E2E-POINT fail' "$log.txt" | head -n 120)"
	fi
done
plan_and_exit
