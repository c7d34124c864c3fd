#!/bin/bash
# systemd/xenstored.service as systemd would run it: the unit files parse
# (systemd-analyze verify), and the variables of the files Xen's tools read
# (XENSTORED, XENSTORED_ARGS, XENSTORED_TRACE in xencommons and Debian's
# /etc/default/xen) reach the daemon's command line.  The second part
# emulates what systemd does with the unit's Environment=, EnvironmentFile=
# and ExecStart= lines, in order, with the files under a test root and a
# stand-in daemon that records its arguments.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/xsd.sh
. "$here/../lib/xsd.sh"

builddir=${abs_top_builddir:-$here/../..}
srcdir=${abs_top_srcdir:-$here/../..}
unit=$builddir/systemd/xenstored.service
mount_unit=$srcdir/systemd/proc-xen.mount
if [ ! -r "$unit" ]; then
	echo "Bail out! no $unit (make builds it)"
	exit 1
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/xsd-unit.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 1
}
trap 'rm -rf -- "$workdir"' EXIT

# ------------------------------------------------------------ the files parse

if command -v systemd-analyze >/dev/null 2>&1; then
	# From the work directory: verify also loads every unit file it finds
	# in the current directory's standard places, none here.
	out=$(cd "$workdir" && systemd-analyze verify --man=no \
		"$unit" "$mount_unit" 2>&1)
	status=$?
	tap_is "$status:$out" "0:" \
		"systemd-analyze verify: xenstored.service and proc-xen.mount, no error or warning"
else
	tap_skip "systemd-analyze verify" "systemd-analyze is not installed"
fi

# ------------------------------------------------------------ the command line

exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
# The daemon's path as make fills it in: where `make install` puts it.
default_daemon=${xs_sbindir:+$xs_sbindir/xenstored}
if [ -n "$default_daemon" ]; then
	case $exec_start in
	*"\${XENSTORED:-$default_daemon}"*) status=0 ;;
	*) status=1 ;;
	esac
	tap_ok $status "without XENSTORED the unit runs $default_daemon, where make install puts it"
else
	tap_skip "the unit's default daemon" "not run by make check (no sbindir)"
fi

# A stand-in daemon: writes its name and arguments, one a line.
make_recorder() {
	cat >"$1" <<-RECORDER
	#!/bin/sh
	{ echo "\$0"; for a in "\$@"; do echo "\$a"; done; } >"$workdir/argv"
	RECORDER
	chmod +x "$1"
}
make_recorder "$workdir/default-xenstored"
make_recorder "$workdir/other-xenstored"

# run_unit ROOT: what systemd would run, with /etc under ROOT; the stand-in's
# record, one line per word of its argv, joined by '|'.
run_unit() {
	local root=$1 line cmd
	rm -f "$workdir/argv"
	(
		# systemd starts services with a clean environment.
		for v in $(compgen -e); do
			case $v in PATH|HOME) ;; *) unset "$v" ;; esac
		done
		while IFS= read -r line; do
			case $line in
			Environment=*)
				eval "export ${line#Environment=}" ;;
			EnvironmentFile=*)
				line=${line#EnvironmentFile=}
				line=$root${line#-}
				if [ -r "$line" ]; then
					set -a
					# shellcheck disable=SC1090
					. "$line"
					set +a
				fi ;;
			ExecStart=*)
				cmd=${line#ExecStart=}
				# systemd turns $$ into $ and leaves the rest to sh.
				cmd=${cmd//\$\$/\$}
				cmd=${cmd//"\${XENSTORED:-$default_daemon}"/"\${XENSTORED:-$workdir/default-xenstored}"}
				eval "set -- $cmd"
				"$@" ;;
			esac
		done <"$unit"
	)
	tr '\n' '|' <"$workdir/argv" 2>/dev/null
}

base="--no-fork|--pid-file|/run/xenstore.pid|"

mkdir -p "$workdir/none"
tap_is "$(run_unit "$workdir/none")" "$workdir/default-xenstored|$base" \
	"no configuration file: the daemon with --no-fork and Debian's pid file"

mkdir -p "$workdir/stock/etc/default"
if [ -r /etc/default/xen ]; then
	cp /etc/default/xen "$workdir/stock/etc/default/xen"
	tap_is "$(run_unit "$workdir/stock")" "$workdir/default-xenstored|$base" \
		"Debian's stock /etc/default/xen (XENSTORED_ARGS= and comments) adds nothing"
else
	tap_skip "Debian's stock /etc/default/xen" "no /etc/default/xen on this machine"
fi

mkdir -p "$workdir/args/etc/default"
cat >"$workdir/args/etc/default/xencommons" <<'CONF'
# Xen's sysconfig.xencommons style
XENSTORED_ARGS="-V --timeout watch-event=3"
CONF
tap_is "$(run_unit "$workdir/args")" \
	"$workdir/default-xenstored|$base-V|--timeout|watch-event=3|" \
	"XENSTORED_ARGS from /etc/default/xencommons: one argument per word"

mkdir -p "$workdir/trace/etc/sysconfig"
echo 'XENSTORED_TRACE=1' >"$workdir/trace/etc/sysconfig/xencommons"
tap_is "$(run_unit "$workdir/trace")" \
	"$workdir/default-xenstored|$base-T|/var/log/xen/xenstored-trace.log|" \
	"XENSTORED_TRACE=1 from /etc/sysconfig/xencommons: trace into /var/log/xen/xenstored-trace.log, as Xen's launch-xenstore"

mkdir -p "$workdir/debian/etc/default"
cat >"$workdir/debian/etc/default/xencommons" <<CONF
XENSTORED_ARGS="-E 100"
XENSTORED_TRACE=yes
CONF
cat >"$workdir/debian/etc/default/xen" <<CONF
XENSTORED=$workdir/other-xenstored
XENSTORED_ARGS="-I off"
CONF
tap_is "$(run_unit "$workdir/debian")" \
	"$workdir/other-xenstored|$base-T|/var/log/xen/xenstored-trace.log|-I|off|" \
	"XENSTORED and XENSTORED_ARGS from /etc/default/xen win over xencommons; its XENSTORED_TRACE stays"

echo "1..$tap_count"
[ "$tap_failed" -eq 0 ]
