#!/bin/bash
# build-images.sh OUT: what tests/e2e/run-e2e.sh boots under QEMU, in OUT:
#   xen             Xen 4.17 (Debian's xen-hypervisor-4.17-amd64), as the
#                   plain 32-bit multiboot ELF that QEMU's -kernel takes
#   vmlinuz         Debian's kernel (linux-image-amd64), for dom0 and guests
#   dom0-initrd.gz  busybox, Xen's tools, the kernel's Xen modules, OUR
#                   xenstored, and a guest's kernel, initramfs and xl config
#
# Environment:
#   XENSTORED   the daemon under test (required)
#   E2E_CACHE   where the downloaded kernel package is kept between runs
#               (default ${XDG_CACHE_HOME:-$HOME/.cache}/xenstored-e2e)
# Needs the Debian packages that run-e2e.sh installs; downloads the kernel
# package with `apt-get download` (not installed on the host).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build-images.sh OUT}
: "${XENSTORED:?XENSTORED must name the daemon under test}"
cache=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xenstored-e2e}
xen_version=4.17
xen_bin=/usr/lib/xen-$xen_version/bin

say() { echo "build-images: $*" >&2; }
die() { say "$*"; exit 1; }

mkdir -p "$out" "$cache"
zcat "/boot/xen-$xen_version-amd64.gz" > "$out/xen"

# ---- the kernel and its Xen modules, from Debian's package, kept in the
# cache (only those: the whole package unpacks to some 400 MB) ----
kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
package=$(kernel_package)
if [ -z "$package" ]; then
	apt-get update -qq >&2 || true
	package=$(kernel_package)
fi
[ -n "$package" ] || die "cannot tell which package linux-image-amd64 is"
release=${package#linux-image-}
kdir=$cache/$package
if [ ! -f "$kdir/boot/vmlinuz-$release" ]; then
	rm -rf "$kdir" "$cache/debs"
	mkdir -p "$cache/debs"
	# A stale package list may name a version the mirror dropped.
	(cd "$cache/debs" && { apt-get download -q "$package" ||
		{ apt-get update -qq && apt-get download -q "$package"; }; }) >&2 ||
		die "apt-get download $package failed"
	mkdir -p "$kdir"
	dpkg-deb --fsys-tarfile "$cache"/debs/"$package"_*.deb |
		tar -x -C "$kdir" --wildcards "./boot/vmlinuz-$release" \
			"./lib/modules/$release/kernel/drivers/xen/*" ||
		die "cannot unpack $package"
	rm -rf "$cache/debs"
fi
cp "$kdir/boot/vmlinuz-$release" "$out/vmlinuz"

# ---- helpers to fill a root tree ----
copy_with_libs() {	# ROOT SOURCE [DEST]: a binary and what ldd says it needs
	local root=$1 src=$2 dst=${3:-$2} lib
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst"
	ldd "$src" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' |
	while read -r lib; do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
new_root() {	# ROOT: busybox and the directories every init here needs
	local root=$1
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,var,usr/bin,usr/sbin}
	cp /bin/busybox "$root/bin/busybox"
	# The kernel's orderly shutdown (xl shutdown) runs /sbin/poweroff; init
	# is a shell script, so busybox's poweroff must not ask init to do it.
	printf '#!/bin/busybox sh\nexec /bin/busybox poweroff -f\n' > "$root/sbin/poweroff"
	chmod 755 "$root/sbin/poweroff"
}
add_xenstore_tools() {	# ROOT: the xenstore-* commands (one multi-call binary)
	local root=$1 name
	copy_with_libs "$root" /usr/bin/xenstore
	for name in read write ls list rm exists watch chmod; do
		ln -sf xenstore "$root/usr/bin/xenstore-$name"
	done
}
pack() {	# ROOT OUT
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$2"
}

# ---- the guest: busybox and the xenstore tools ----
groot=$out/guest-root
new_root "$groot"
install -m 755 "$here/guest-init.sh" "$groot/init"
add_xenstore_tools "$groot"
pack "$groot" "$out/guest-initrd.gz"

# ---- dom0 ----
droot=$out/dom0-root
new_root "$droot"
install -m 755 "$here/dom0-init.sh" "$droot/init"
add_xenstore_tools "$droot"
for tool in xl xen-init-dom0 xenconsoled libxl-save-helper; do
	copy_with_libs "$droot" "$xen_bin/$tool" "/usr/lib/xen/bin/$tool"
done
# libxl finds its helpers under its own versioned directory.
mkdir -p "$droot/usr/lib/xen-$xen_version" "$droot/etc/xen/scripts"
ln -s ../xen/bin "$droot/usr/lib/xen-$xen_version/bin"
cp /etc/xen/xl.conf "$droot/etc/xen/xl.conf"
# glibc loads libgcc_s at run time (thread cancellation); ldd cannot see it.
copy_with_libs "$droot" /lib/x86_64-linux-gnu/libgcc_s.so.1
copy_with_libs "$droot" "$XENSTORED" /usr/sbin/xenstored
mkdir -p "$droot/lib/modules"
for module in xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xenfs; do
	file=$(find "$kdir/lib/modules/$release" -name "$module.ko*" | head -n 1)
	[ -n "$file" ] || die "module $module not in $package"
	case $file in
	*.ko) cp "$file" "$droot/lib/modules/$module.ko" ;;
	*.ko.xz) xz -dc "$file" > "$droot/lib/modules/$module.ko" ;;
	*) die "cannot unpack $file" ;;
	esac
done
mkdir -p "$droot/boot"
cp "$out/vmlinuz" "$droot/boot/guest-vmlinuz"
cp "$out/guest-initrd.gz" "$droot/boot/guest-initrd.gz"
cat > "$droot/etc/xen/guest.cfg" <<'EOF'
# A PV guest whose only devices are its console and xenstore.
type = "pv"
kernel = "/boot/guest-vmlinuz"
ramdisk = "/boot/guest-initrd.gz"
extra = "console=hvc0 rdinit=/init quiet"
memory = 128
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
pack "$droot" "$out/dom0-initrd.gz"
rm -rf "$groot" "$droot"
say "kernel $release, xenstored $XENSTORED"
