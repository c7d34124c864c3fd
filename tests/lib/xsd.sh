# Helpers for shell test scripts (bash): a daemon on a fresh socket and TAP.
# Source it; do not run it.  The contract is in HACKING.md:
#   xsd_start            start $XENSTORED -N --pid-file DIR/pid with
#                        XENSTORED_PATH=DIR/socket (or use $XS_TEST_SOCKET and
#                        start nothing); exports XENSTORED_PATH for clients
#   xsd_finish           stop the daemon with SIGTERM (one more TAP point: it
#                        must exit 0), print the plan, exit with the result
#   tap_ok COND NAME     COND is "0" for success (an exit status)
#   tap_is GOT WANT NAME compare strings exactly, diagnostics on mismatch
#   tap_skip NAME WHY
#   tap_diag TEXT...

XSD_STARTUP_TIMEOUT=${XSD_STARTUP_TIMEOUT:-10}
XSD_SHUTDOWN_TIMEOUT=${XSD_SHUTDOWN_TIMEOUT:-10}

tap_count=0
tap_failed=0

tap_diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

tap_ok() {
	local status=$1 name=$2
	tap_count=$((tap_count + 1))
	if [ "$status" = 0 ]; then
		echo "ok $tap_count - $name"
	else
		echo "not ok $tap_count - $name"
		tap_failed=$((tap_failed + 1))
	fi
}

tap_is() {
	local got=$1 want=$2 name=$3
	if [ "$got" = "$want" ]; then
		tap_ok 0 "$name"
	else
		tap_ok 1 "$name"
		tap_diag "got:"
		tap_diag "$got"
		tap_diag "expected:"
		tap_diag "$want"
	fi
}

tap_skip() {
	tap_count=$((tap_count + 1))
	echo "ok $tap_count - $1 # SKIP $2"
}

tap_bail() {
	echo "Bail out! $*"
	xsd_stop >/dev/null 2>&1
	exit 1
}

xsd_daemon_pid=
xsd_dir=

# Connecting succeeds once the daemon listens; a client round trip would
# depend on the very clients under test.
xsd_socket_answers() {
	python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(1)
s.connect(sys.argv[1])
EOF
}

xsd_start() {
	if [ -n "$XS_TEST_SOCKET" ]; then
		export XENSTORED_PATH=$XS_TEST_SOCKET
		return 0
	fi
	local binary=${XENSTORED:-${abs_top_builddir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/daemon/xenstored}
	xsd_dir=$(mktemp -d "${TMPDIR:-/tmp}/xsd-test.XXXXXX") || tap_bail "mktemp failed"
	export XENSTORED_PATH=$xsd_dir/socket
	"$binary" -N --pid-file "$xsd_dir/pid" </dev/null &
	xsd_daemon_pid=$!
	trap 'xsd_stop >/dev/null 2>&1' EXIT
	local deadline=$((SECONDS + XSD_STARTUP_TIMEOUT))
	while [ $SECONDS -le $deadline ]; do
		if ! kill -0 "$xsd_daemon_pid" 2>/dev/null; then
			wait "$xsd_daemon_pid"
			local rc=$?
			xsd_daemon_pid=
			tap_bail "daemon $binary exited during start-up (status $rc)"
		fi
		xsd_socket_answers "$XENSTORED_PATH" && return 0
		sleep 0.05
	done
	tap_bail "daemon did not answer on $XENSTORED_PATH within ${XSD_STARTUP_TIMEOUT}s"
}

# xsd_stop: returns non-zero unless the daemon exited 0, with the reason in
# xsd_stop_reason (not printed: it must run in this shell, which owns the
# daemon process).
xsd_stop_reason=
xsd_stop() {
	if [ -z "$xsd_daemon_pid" ]; then
		[ -n "$xsd_dir" ] && rm -rf -- "$xsd_dir"
		xsd_dir=
		return 0
	fi
	local pid=$xsd_daemon_pid rc
	xsd_daemon_pid=
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq $((XSD_SHUTDOWN_TIMEOUT * 20))); do
		kill -0 "$pid" 2>/dev/null || break
		# a zombie is done; wait collects it below
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null &&
	   [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		xsd_stop_reason="daemon ignored SIGTERM for ${XSD_SHUTDOWN_TIMEOUT}s"
		rm -rf -- "$xsd_dir"
		return 1
	fi
	wait "$pid"
	rc=$?
	rm -rf -- "$xsd_dir"
	if [ $rc -gt 128 ]; then
		xsd_stop_reason="daemon died of signal $((rc - 128))"
		return 1
	elif [ $rc -ne 0 ]; then
		xsd_stop_reason="daemon exited with status $rc"
		return 1
	fi
	return 0
}

xsd_finish() {
	if [ -n "$xsd_daemon_pid" ]; then
		xsd_stop
		tap_ok $? "daemon exits cleanly on SIGTERM"
		[ -n "$xsd_stop_reason" ] && tap_diag "$xsd_stop_reason"
	fi
	echo "1..$tap_count"
	[ $tap_failed -eq 0 ]
	exit $?
}
