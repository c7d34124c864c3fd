#!/bin/bash
# The daemon as a process: where its socket goes, its options, signals,
# daemonizing, the trace file, the TDB file, CONTROL, clients that misbehave,
# and a clean shutdown (no leak under the sanitizers).  Each part starts its
# own daemon in a subdirectory of one temporary directory; the socket
# conversations are in daemon_talk.py.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/xsd.sh
. "$here/../lib/xsd.sh"

if [ -n "${XS_TEST_SOCKET:-}" ]; then
	echo "1..0 # SKIP checks our daemon's command line and signals; an external socket has neither"
	exit 0
fi

XENSTORED=${XENSTORED:-${abs_top_builddir:-$here/../..}/daemon/xenstored}
if [ ! -x "$XENSTORED" ]; then
	echo "Bail out! no daemon binary at $XENSTORED"
	exit 1
fi
# Absolute: the daemonized one runs from /, and /proc/PID/exe is compared.
XENSTORED=$(readlink -f "$XENSTORED")

WAIT_SECONDS=10

workdir=$(mktemp -d "${TMPDIR:-/tmp}/xsd-daemon.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 1
}
declare -A running=()
cleanup() {
	local pid
	for pid in "${!running[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	rm -rf -- "$workdir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

sanitized=false
if [ "${XS_SANITIZED:-}" = 1 ] ||
   { nm -D "$XENSTORED"; nm "$XENSTORED"; } 2>/dev/null | grep -q __asan_init ||
   ldd "$XENSTORED" 2>/dev/null | grep -q libasan; then
	sanitized=true
fi
SANITIZER_REPORT='LeakSanitizer|ERROR: AddressSanitizer|runtime error:'

# ------------------------------------------------------------ helpers

talk() {
	timeout 120 python3 "$here/daemon_talk.py" "$@"
}

# Turn daemon_talk.py's result lines into TAP points; a conversation that
# crashed is a failure of its own.
talk_checks() {
	local what=$1 out status name diag line
	shift
	out=$(talk "$what" "$@" 2>"$workdir/talk.err")
	status=$?
	while IFS= read -r line; do
		case $line in
		"ok	"*)
			tap_ok 0 "${line#ok	}" ;;
		"not ok	"*)
			line=${line#not ok	}
			name=${line%%	*}
			diag=${line#"$name"}
			tap_ok 1 "$name"
			tap_diag "${diag#	}" ;;
		*)
			tap_diag "$line" ;;
		esac
	done <<<"$out"
	tap_ok $status "daemon_talk.py $what ran to the end"
	[ $status = 0 ] || tap_diag "$(tail -n 20 "$workdir/talk.err")"
}

# WRITE then READ on a fresh connection; status 0 if the value came back.
round_trip() {
	local sock=$1 path=/xsd-daemon-test/$2 got
	talk call "$sock" write "$path" "value-$2" >/dev/null 2>&1 || return 1
	got=$(talk call "$sock" read "$path" 2>/dev/null) || return 1
	[ "$got" = "value-$2" ]
}

is_alive() {
	kill -0 "$1" 2>/dev/null &&
		[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# run_daemon NAME [VAR=VALUE...] -- ARG...: $XENSTORED ARG... in the
# background, in the environment given (and no other XENSTORED_* variable),
# with stdout and stderr kept in $workdir/NAME.  Sets $dir and $daemon_pid.
run_daemon() {
	local vars=()
	dir=$workdir/$1
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	shift
	mkdir -p "$dir"
	env -u XENSTORED_PATH -u XENSTORED_RUNDIR -u XENSTORED_ROOTDIR \
		"${vars[@]}" "$XENSTORED" "$@" \
		</dev/null >"$dir/stdout" 2>"$dir/stderr" &
	daemon_pid=$!
	running[$daemon_pid]=1
}

# wait_serving SOCKET PID: status 0 once SOCKET accepts, 1 if PID dies or
# WAIT_SECONDS pass first.
wait_serving() {
	local deadline=$((SECONDS + WAIT_SECONDS))
	while [ $SECONDS -le $deadline ]; do
		is_alive "$2" || return 1
		xsd_socket_answers "$1" && return 0
		sleep 0.05
	done
	return 1
}

# wait_for_file TEST FILE: status 0 once `test TEST FILE` holds (bounded).
wait_for_file() {
	local deadline=$((SECONDS + WAIT_SECONDS))
	while [ $SECONDS -le $deadline ]; do
		test "$1" "$2" && return 0
		sleep 0.05
	done
	return 1
}

# wait_gone PID: status 0 once PID has exited (a zombie counts).
wait_gone() {
	local deadline=$((SECONDS + WAIT_SECONDS))
	while is_alive "$1"; do
		[ $SECONDS -le $deadline ] || return 1
		sleep 0.05
	done
	return 0
}

# stop_daemon PID SIGNAL: send SIGNAL to our child PID and wait (bounded)
# for it; $exit_status says how it ended.
stop_daemon() {
	local pid=$1 sig=$2
	kill -s "$sig" "$pid" 2>/dev/null
	if wait_gone "$pid"; then
		wait "$pid"
		exit_status=$?
		[ $exit_status -gt 128 ] &&
			exit_status="killed by signal $((exit_status - 128))"
	else
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		exit_status="still running ${WAIT_SECONDS}s after SIG$sig"
	fi
	unset "running[$pid]"
}

# check_stop PID SIGNAL WHAT: stop a daemon, one TAP point for its exit status.
check_stop() {
	stop_daemon "$1" "$2"
	tap_is "$exit_status" 0 "$3: SIG$2 stops the daemon with exit status 0"
	[ "$exit_status" = 0 ] || tap_diag "$(tail -n 20 "$dir/stderr")"
}

# check_serving SOCKET PID WHAT: one TAP point, the daemon answers there.
check_serving() {
	if wait_serving "$1" "$2" && round_trip "$1" "serving-$RANDOM"; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "no WRITE/READ round trip on $1; daemon stderr:"
		tap_diag "$(tail -n 20 "$dir/stderr")"
	fi
}

# check_no_sanitizer_report NAME FILE...: FILEs are daemons' stderr.
check_no_sanitizer_report() {
	local name=$1 report
	shift
	if ! $sanitized; then
		tap_skip "$name" "daemon not built with sanitizers"
		return
	fi
	report=$(grep -E -A 5 "$SANITIZER_REPORT" "$@" 2>/dev/null)
	tap_ok "$([ -z "$report" ]; echo $?)" "$name"
	[ -z "$report" ] || tap_diag "$(head -n 40 <<<"$report")"
}

# ------------------------------------------------------------ socket set-up

# The whole command line of the issue: XENSTORED_PATH and -N, nothing else.
run_daemon plain XENSTORED_PATH="$workdir/plain/x.sock" -- -N
sock=$dir/x.sock
check_serving "$sock" $daemon_pid "with only -N, it serves \$XENSTORED_PATH"
tap_is "$(stat -c '%F %a' "$sock" 2>&1)" "socket 600" "the socket has mode 0600"
round_trip "$sock" another-connection
if grep -qs control_d /proc/xen/capabilities; then
	tap_skip "it logs once that no hypervisor was found" \
		"this machine is a Xen control domain"
else
	name="it logs once (stderr with -N) that no hypervisor was found and it serves the socket only"
	if [ "$(grep -ci hypervisor "$dir/stderr")" = 1 ] &&
	   grep -i hypervisor "$dir/stderr" | grep -qi socket; then
		tap_ok 0 "$name"
	else
		tap_ok 1 "$name"
		tap_diag "$(cat "$dir/stderr")"
	fi
fi
check_stop $daemon_pid TERM "with only -N"
tap_ok "$([ ! -e "$sock" ]; echo $?)" "SIGTERM removes the socket"

run_daemon rundir XENSTORED_RUNDIR="$workdir/rundir/run/sub" -- -N
check_serving "$dir/run/sub/socket" $daemon_pid \
	"without XENSTORED_PATH, the socket is \$XENSTORED_RUNDIR/socket (directory created)"
check_stop $daemon_pid TERM "XENSTORED_RUNDIR"

# A daemon killed by SIGKILL leaves its socket file behind.
run_daemon stale XENSTORED_PATH="$workdir/stale/x.sock" -- -N
sock=$dir/x.sock
wait_serving "$sock" $daemon_pid
# (bash reports the SIGKILL on stderr: expected here)
stop_daemon $daemon_pid KILL 2>/dev/null
if [ -S "$sock" ]; then
	run_daemon stale XENSTORED_PATH="$sock" -- -N
	check_serving "$sock" $daemon_pid \
		"a stale socket file left by a killed daemon is replaced at start"
	check_stop $daemon_pid TERM "after a stale socket"
else
	tap_skip "a stale socket file is replaced at start" \
		"the killed daemon left no socket file to test with"
fi

# ------------------------------------------------------------ signals, pid file

for sig in TERM INT; do
	run_daemon "pidfile-$sig" XENSTORED_PATH="$workdir/pidfile-$sig/x.sock" \
		-- -N -F "$workdir/pidfile-$sig/pid"
	sock=$dir/x.sock
	check_serving "$sock" $daemon_pid "-F FILE: the daemon serves (for SIG$sig)"
	tap_is "$(cat "$dir/pid" 2>&1)" "$daemon_pid" "-F FILE holds the daemon's pid (for SIG$sig)"
	check_stop $daemon_pid $sig "-F FILE, socket and pid file"
	tap_ok "$([ ! -e "$sock" ] && [ ! -e "$dir/pid" ]; echo $?)" \
		"SIG$sig removes the socket and the pid file"
done

# --pid-file, without -N: the launching command returns; the daemon goes on.
dir=$workdir/daemonize
mkdir -p "$dir"
sock=$dir/x.sock
timeout $WAIT_SECONDS env -u XENSTORED_RUNDIR -u XENSTORED_ROOTDIR \
	XENSTORED_PATH="$sock" "$XENSTORED" --pid-file "$dir/pid" \
	</dev/null >"$dir/stdout" 2>"$dir/stderr"
tap_is $? 0 "without -N, the launching command returns with status 0"
daemon_pid=
if wait_for_file -s "$dir/pid"; then
	daemon_pid=$(cat "$dir/pid")
	running[$daemon_pid]=1
fi
if [ -n "$daemon_pid" ] && is_alive "$daemon_pid" &&
   [ "$(readlink -f "/proc/$daemon_pid/exe")" = "$XENSTORED" ]; then
	tap_ok 0 "without -N, the pid file names the running daemon"
	check_serving "$sock" "$daemon_pid" "the daemonized xenstored serves the socket"
	# A second daemon given the same pid file (Debian's /etc/init.d/xen
	# after xenstored.service) finds it locked and exits 0, as Xen's does,
	# leaving the file, the socket and the running daemon alone.
	for second in "-N" ""; do
		# shellcheck disable=SC2086 # no -N: no word at all
		timeout $WAIT_SECONDS env -u XENSTORED_RUNDIR -u XENSTORED_ROOTDIR \
			XENSTORED_PATH="$dir/second.sock" "$XENSTORED" $second \
			--pid-file "$dir/pid" </dev/null >"$dir/second.out" 2>&1
		status=$?
		sleep 0.2	# a daemonized second one has had time to misbehave
		tap_is "$status:$(cat "$dir/pid"):$([ -e "$dir/second.sock" ]; echo $?)" \
			"0:$daemon_pid:1" \
			"a second xenstored ${second:-daemonized} with the same locked pid file exits 0, serving nothing, the file unchanged"
		[ "$status" = 0 ] || tap_diag "$(cat "$dir/second.out")"
	done
	check_serving "$sock" "$daemon_pid" "the first daemon still serves after the second ones left"
	kill -TERM "$daemon_pid"
	wait_gone "$daemon_pid"
	tap_ok $? "the daemonized xenstored stops on SIGTERM"
	unset "running[$daemon_pid]"
	tap_ok "$([ ! -e "$sock" ] && [ ! -e "$dir/pid" ]; echo $?)" \
		"the daemonized xenstored removes its socket and pid file"
else
	tap_ok 1 "without -N, the pid file names the running daemon"
	tap_diag "pid file: '$daemon_pid'"
	tap_diag "$(cat "$dir/stderr")"
fi

# ------------------------------------------------------------ trace file

run_daemon trace XENSTORED_PATH="$workdir/trace/x.sock" \
	-- -N -F "$workdir/trace/pid" -T "$workdir/trace/trace"
sock=$dir/x.sock
trace=$dir/trace
check_serving "$sock" $daemon_pid "-T FILE: the daemon serves"
talk call "$sock" write /xsd-trace/node trace-value >/dev/null
talk call "$sock" read /xsd-trace/node >/dev/null
check_trace_line() {
	if grep -Eq "$1" "$2"; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		tap_diag "no line matching '$1' in $2:"
		tap_diag "$(cat "$2" 2>&1)"
	fi
}
check_trace_line '\bIN\b.*\bWRITE\b.*/xsd-trace/node' "$trace" \
	"the trace has an IN line for WRITE with its path"
check_trace_line '\bOUT\b.*\bWRITE\b' "$trace" \
	"the trace has an OUT line for WRITE"
check_trace_line '\bIN\b.*\bREAD\b.*/xsd-trace/node' "$trace" \
	"the trace has an IN line for READ with its path"
check_trace_line '\bOUT\b.*\bREAD\b.*trace-value' "$trace" \
	"the trace has an OUT line for READ with the value"
tap_is "$(LC_ALL=C tr -d '\t\n\040-\176' <"$trace" | wc -c)" 0 \
	"the trace is printable text"

mv "$trace" "$trace.moved"
kill -HUP $daemon_pid
wait_for_file -e "$trace"
tap_ok $? "SIGHUP reopens the trace file: a new file appears where it was moved from"
talk call "$sock" read /xsd-trace/node-after-hup >/dev/null
check_trace_line '\bIN\b.*\bREAD\b.*/xsd-trace/node-after-hup' "$trace" \
	"after SIGHUP, requests are traced into the new file"
tap_ok "$(! grep -q node-after-hup "$trace.moved"; echo $?)" \
	"after SIGHUP, the moved file gets no more lines"
check_stop $daemon_pid TERM "-T FILE"

# ------------------------------------------------------------ TDB file

n=0
for spec in "-I off" "-Ioff" "--internal-db=off"; do
	n=$((n + 1))
	root=$workdir/tdb-$n/db
	# $spec unquoted: "-I off" is two words on the command line.
	# shellcheck disable=SC2086
	run_daemon "tdb-$n" XENSTORED_ROOTDIR="$root" \
		XENSTORED_PATH="$workdir/tdb-$n/x.sock" -- -N $spec
	sock=$dir/x.sock
	check_serving "$sock" $daemon_pid "$spec: the daemon serves"
	talk call "$sock" write /xsd-db/node value-in-tdb >/dev/null
	tap_ok "$([ -s "$root/tdb" ]; echo $?)" \
		"$spec: the store is a TDB file, \$XENSTORED_ROOTDIR/tdb"
	if ! command -v tdbdump >/dev/null; then
		tap_skip "$spec: tdbdump shows the node written" "no tdbdump (tdb-tools)"
	else
		dump=$(timeout $WAIT_SECONDS tdbdump "$root/tdb" 2>&1)
		tap_ok "$(grep -qF '"/xsd-db/node"' <<<"$dump" &&
			  grep -qF value-in-tdb <<<"$dump"; echo $?)" \
			"$spec: tdbdump shows the node written"
	fi
	check_stop $daemon_pid TERM "$spec"
done

for spec in "-I on" ""; do
	n=$((n + 1))
	root=$workdir/tdb-$n/db
	# shellcheck disable=SC2086
	run_daemon "tdb-$n" XENSTORED_ROOTDIR="$root" \
		XENSTORED_PATH="$workdir/tdb-$n/x.sock" -- -N $spec
	sock=$dir/x.sock
	check_serving "$sock" $daemon_pid "${spec:-no -I}: the daemon serves"
	talk call "$sock" write /xsd-db/node value-in-memory >/dev/null
	tap_ok "$([ ! -e "$root/tdb" ]; echo $?)" \
		"${spec:-no -I}: the store is in memory, no \$XENSTORED_ROOTDIR/tdb"
	check_stop $daemon_pid TERM "${spec:-no -I}"
done

# ------------------------------------------------------------ command line

# run_options NAME ARG...: a bounded foreground run; sets $status, files in
# $dir.  A daemon that wrongly starts is ended by the timeout (status 124).
run_options() {
	dir=$workdir/options-$1
	shift
	mkdir -p "$dir"
	timeout 5 env -u XENSTORED_RUNDIR -u XENSTORED_ROOTDIR \
		XENSTORED_PATH="$dir/x.sock" "$XENSTORED" -N "$@" \
		</dev/null >"$dir/stdout" 2>"$dir/stderr"
	status=$?
}

run_options help --help
tap_is $status 0 "--help exits 0"
tap_ok "$(grep -qi usage "$dir/stdout"; echo $?)" "--help prints the usage on stdout"

run_options unknown --no-such-option
tap_is $status 1 "an unknown option exits 1"
tap_ok "$([ -s "$dir/stderr" ] && [ ! -e "$dir/x.sock" ]; echo $?)" \
	"an unknown option is reported on stderr, and nothing is served"

run_options bad-entry-nb -E abc
tap_is $status 1 "-E abc (not a number) exits 1"
tap_ok "$([ -s "$dir/stderr" ]; echo $?)" "-E abc is reported on stderr"

run_options bad-quota -Q bogus=1
tap_is $status 1 "-Q bogus=1 (no such quota) exits 1"
tap_ok "$([ -s "$dir/stderr" ]; echo $?)" "-Q bogus=1 is reported on stderr"

# check_start_failure WHAT BAD_PATH [VAR=VALUE...] -- ARG...: the daemon
# cannot create BAD_PATH (it lies under a regular file): it must exit 1,
# name the path, leave no pid file and free what it had set up.
check_start_failure() {
	local what=$1 bad=$2 vars=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	shift
	timeout 5 env -u XENSTORED_PATH -u XENSTORED_RUNDIR -u XENSTORED_ROOTDIR \
		"${vars[@]}" "$XENSTORED" -N -F "$dir/pid" "$@" \
		</dev/null >"$dir/stdout" 2>"$dir/stderr"
	tap_is $? 1 "$what: exits 1"
	tap_ok "$(grep -qF "$bad" "$dir/stderr" && [ ! -e "$dir/pid" ]; echo $?)" \
		"$what: the path is reported, no pid file is left"
	[ -e "$dir/pid" ] && rm -f "$dir/pid"
	check_no_sanitizer_report \
		"$what: no leak or error reported by the sanitizers" "$dir/stderr"
}

dir=$workdir/start-failure
mkdir -p "$dir"
: >"$dir/file"
check_start_failure "a socket that cannot be created" "$dir/file/x.sock" \
	XENSTORED_PATH="$dir/file/x.sock" --
check_start_failure "a trace file that cannot be created" "$dir/file/trace" \
	XENSTORED_PATH="$dir/x.sock" -- -T "$dir/file/trace"
check_start_failure "-I off, a root directory that cannot be created" \
	"$dir/file/db" XENSTORED_PATH="$dir/x.sock" \
	XENSTORED_ROOTDIR="$dir/file/db" -- -I off

# ------------------------------------------------------------ clients, CONTROL

nodes_quota=1234
marker=xsd-print-marker-$$
run_daemon clients XENSTORED_PATH="$workdir/clients/x.sock" \
	-- -N -F "$workdir/clients/pid" -E $nodes_quota
sock=$dir/x.sock
check_serving "$sock" $daemon_pid "-E $nodes_quota: the daemon serves"
talk_checks stall "$sock"
talk_checks oversized "$sock"
talk_checks flood "$sock"
talk_checks control "$sock" "$dir/control-trace" "$dir/memreport" \
	"$marker" $nodes_quota
tap_ok "$(grep -qF "$marker" "$dir/stderr"; echo $?)" \
	"CONTROL print's text reaches the log (stderr with -N)"
check_stop $daemon_pid TERM "after misbehaving clients"

# ------------------------------------------------------------ shutdown

# Stopped with live connections: a watch, an open transaction, half a
# request and unread output, all to be freed.
for sig in TERM INT; do
	run_daemon "shutdown-$sig" XENSTORED_PATH="$workdir/shutdown-$sig/x.sock" \
		-- -N -F "$workdir/shutdown-$sig/pid"
	sock=$dir/x.sock
	wait_serving "$sock" $daemon_pid
	talk hold "$sock" >"$dir/hold.out" 2>"$dir/hold.err" &
	hold_pid=$!
	deadline=$((SECONDS + WAIT_SECONDS))
	until grep -qs ready "$dir/hold.out" || [ $SECONDS -gt $deadline ] ||
	      ! is_alive $hold_pid; do
		sleep 0.05
	done
	tap_ok "$(grep -qs ready "$dir/hold.out"; echo $?)" \
		"a client holds a watch, a transaction and half a request (for SIG$sig)"
	grep -qs ready "$dir/hold.out" || tap_diag "$(cat "$dir/hold.err")"
	check_stop $daemon_pid $sig "with live connections"
	wait_gone $hold_pid || kill -KILL $hold_pid 2>/dev/null
	wait $hold_pid 2>/dev/null
	check_no_sanitizer_report \
		"SIG$sig with live connections: no leak or error reported by the sanitizers" \
		"$dir/stderr"
done

check_no_sanitizer_report "no daemon started here had a sanitizer report" \
	"$workdir"/*/stderr

echo "1..$tap_count"
[ "$tap_failed" -eq 0 ]
