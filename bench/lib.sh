# lib.sh: what bench/run-micro.sh and bench/run-tx.sh share: a work
# directory, our daemon and the reference daemons started side by side, and
# the benchmark tool built from this tree if needed.  Sourced, not run.
#
# The caller sets `here` and `top`, XENSTORED and XEN_BIN, and defines
# probe SOCKET (true once a daemon answers there) before start_ours.

# bench_init NAME: messages prefixed with NAME, a work directory removed at
# exit together with the daemons started.
bench_init() {
	bench_name=$1
	workdir=$(mktemp -d "${TMPDIR:-/tmp}/xs-$1.XXXXXX")
	ours_pid=
	persist_pid=
	persist_dir=
	ref_sockets=()
	# The daemons under test, in the order they run within a cell.
	names=()
	sockets=()
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

say() { echo "$bench_name: $*" >&2; }
die() { say "$*"; exit 1; }

bench_cleanup() {
	# A helper server of the caller's (run-micro.sh's floor server).
	if [ -n "${helper_pid:-}" ]; then
		kill "$helper_pid" 2>/dev/null || true
		wait "$helper_pid" 2>/dev/null || true
	fi
	if [ -n "$ours_pid" ] && kill -0 "$ours_pid" 2>/dev/null; then
		kill -TERM "$ours_pid"
		wait "$ours_pid" || say "our daemon exited with status $?"
	fi
	if [ -n "$persist_pid" ] && kill -0 "$persist_pid" 2>/dev/null; then
		kill -TERM "$persist_pid"
		wait "$persist_pid" || say "our daemon (persist) exited with status $?"
	fi
	[ -n "$persist_dir" ] && [ "$persist_dir" != "$workdir" ] &&
		rm -rf -- "$persist_dir"
	if [ ${#ref_sockets[@]} -gt 0 ]; then
		"$BASELINES/stop-xenstored.sh" "${ref_sockets[@]}" >/dev/null || true
	fi
	rm -rf -- "$workdir"
}

# find_tool VAR NAME: VAR names the tool's binary (given by the user, or
# bench/NAME of this tree, or built from bench/NAME.c into the work
# directory when that is missing or older than its source).
find_tool() {
	local var=$1 name=$2 src=$here/$2.c
	if [ -n "${!var:-}" ]; then
		[ -x "${!var}" ] || die "$var=${!var} is not executable"
		return
	fi
	printf -v "$var" '%s' "$here/$name"
	if [ -x "${!var}" ] && [ ! "$src" -nt "${!var}" ]; then
		return
	fi
	printf -v "$var" '%s' "$workdir/$name"
	${CC:-cc} -O2 -Wall -Wextra -o "${!var}" "$src" ||
		die "cannot build $src"
}

# BASELINES: the reference daemons' scripts, or empty if there are none
# (BASELINES=none: our daemon alone).
find_baselines() {
	local d
	if [ "${BASELINES:-}" = none ]; then
		BASELINES=
		return
	fi
	if [ -n "${BASELINES:-}" ]; then
		[ -x "$BASELINES/start-cxenstored.sh" ] ||
			die "BASELINES=$BASELINES has no start-cxenstored.sh"
		return
	fi
	for d in "$top/../shared/baselines" /work/shared/baselines; do
		if [ -x "$d/start-cxenstored.sh" ]; then
			BASELINES=$(cd "$d" && pwd)
			return
		fi
	done
	BASELINES=
}

# wait_answering SOCKET PID: until a daemon answers on SOCKET (10 s at most).
wait_answering() {
	local sock=$1 pid=$2 i
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		if [ -S "$sock" ] && probe "$sock" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# start_ours_as NAME ARGS...: our daemon in $workdir/NAME, named NAME.
start_ours_as() {
	local name=$1 dir=$workdir/$1 pid
	shift
	mkdir -p "$dir"
	XENSTORED_PATH=$dir/socket "$XENSTORED" -N --pid-file "$dir/pid" "$@" \
		</dev/null >"$dir/log" 2>&1 &
	pid=$!
	case $name in
	ours) ours_pid=$pid ;;
	persist) persist_pid=$pid ;;
	esac
	wait_answering "$dir/socket" "$pid" ||
		die "our daemon ($name) did not come up; its log: $(cat "$dir/log")"
	names+=("$name"); sockets+=("$dir/socket"); pids+=("$pid")
}

# start_ours: ours in memory (the default), and with PERSIST=1 also ours
# with --persist (the crash-survival file, on the tmpfs /dev/shm when there
# is one, as /var/run is on a host) as "persist".
start_ours() {
	if [ ! -x "$XENSTORED" ]; then
		say "our daemon $XENSTORED is not built: skipping it"
		return
	fi
	start_ours_as ours
	if [ "${PERSIST:-0}" = 1 ]; then
		local state_dir=$workdir
		[ -d /dev/shm ] && state_dir=$(mktemp -d /dev/shm/xsbench.XXXXXX)
		persist_dir=$state_dir
		start_ours_as persist "--persist=$state_dir/state"
	fi
}

# start_reference NAME SCRIPT DAEMON_BINARY
start_reference() {
	local name=$1 script=$2 binary=$3 sock=$workdir/$1.sock pid
	[ -n "$BASELINES" ] || return 0
	if [ ! -x "$XEN_BIN/$binary" ]; then
		say "$XEN_BIN/$binary is not installed (apt-get install xen-utils-4.17): skipping $name"
		return
	fi
	ref_sockets+=("$sock")
	pid=$("$BASELINES/$script" "$sock") || die "$script failed"
	names+=("$name"); sockets+=("$sock"); pids+=("$pid")
}

# start_daemons: ours and the two reference daemons, those that are here.
start_daemons() {
	find_baselines
	start_ours
	start_reference cxenstored start-cxenstored.sh xenstored
	start_reference oxenstored start-oxenstored.sh oxenstored
	[ ${#names[@]} -gt 0 ] || die "no daemon to measure"
	[ -n "$BASELINES" ] || say "no baselines directory: measuring ours alone"
}

# run_matrix FILE: every cell of MIXES x CONNS, REPEAT times, each with
# every daemon in turn (the caller's run_cell MIX CONNS), into FILE.
run_matrix() {
	local mix conns
	for mix in $MIXES; do
		for conns in $CONNS; do
			for _ in $(seq 1 "$REPEAT"); do
				run_cell "$mix" "$conns" >>"$1"
			done
		done
	done
}
