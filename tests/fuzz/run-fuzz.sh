#!/bin/sh
# The fuzz target as a test, in TAP.
#
# Built with libFuzzer (configure --enable-fuzzing): replay the corpus, then
# fuzz a copy of it for FUZZ_SECONDS (default 60).  Otherwise: replay the
# corpus through the plain build, which is what CI's gcc builds do.
# A crash, a sanitizer report, a leak or a failed protocol check fails the
# test; libFuzzer's reproducer is kept under the build directory.
#
# Environment: abs_top_builddir, abs_top_srcdir (set by make check),
# XS_FUZZING (yes/no, from configure; detected if unset), FUZZ_SECONDS,
# FUZZ_WORKDIR (keep the grown corpus and artifacts there), FUZZ_SEED
# (libFuzzer's -seed, default 1 so that a run is repeatable; "random" for a
# fresh one, which the test's name then reports), FUZZ_TARGET
# (default fuzz_dispatch, whose corpus is corpus/; another target NAME
# fuzz_X has its corpus in corpus-X/ and its dictionary in X-dict.txt).

srcdir=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${abs_top_builddir:-$(pwd)}
name=${FUZZ_TARGET:-fuzz_dispatch}
target=$builddir/tests/fuzz/$name
if [ "$name" = fuzz_dispatch ]; then
	corpus=$srcdir/tests/fuzz/corpus
	dict=$srcdir/tests/fuzz/xenstore-dict.txt
else
	corpus=$srcdir/tests/fuzz/corpus-${name#fuzz_}
	dict=$srcdir/tests/fuzz/${name#fuzz_}-dict.txt
fi
seconds=${FUZZ_SECONDS:-60}
seed=${FUZZ_SEED:-1}

# A leak is a failure here; UBSan must stop at its first report.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

bail() {
	echo "Bail out! $*"
	exit 1
}

[ -x "$target" ] || bail "$target not built (make check builds it)"
[ -d "$corpus" ] || bail "no corpus at $corpus"
case $seconds in
''|*[!0-9]*) bail "FUZZ_SECONDS must be a number of seconds, not '$seconds'" ;;
esac
case $seed in
random) ;;
''|*[!0-9]*) bail "FUZZ_SEED must be a number or 'random', not '$seed'" ;;
esac

if [ -z "$XS_FUZZING" ]; then
	if "$target" -help=1 2>&1 | grep -q 'flag1=val1'; then
		XS_FUZZING=yes
	else
		XS_FUZZING=no
	fi
fi

inputs=$(find "$corpus" -type f | wc -l)

if [ "$XS_FUZZING" != yes ]; then
	echo "1..1"
	if out=$("$target" "$corpus" 2>&1); then
		echo "ok 1 - $name: replay of $inputs corpus inputs"
	else
		printf '%s\n' "$out" | tail -n 40 | sed 's/^/# /'
		echo "not ok 1 - $name: replay of $inputs corpus inputs"
	fi
	exit 0
fi

workdir=${FUZZ_WORKDIR:-}
if [ -z "$workdir" ]; then
	workdir=$(mktemp -d "${TMPDIR:-/tmp}/xs-$name.XXXXXX") ||
		bail "cannot make a temporary directory"
	trap 'rm -rf "$workdir"' EXIT
fi
mkdir -p "$workdir/corpus" "$workdir/artifacts" || bail "cannot use $workdir"
cp "$corpus"/* "$workdir/corpus/" || bail "cannot copy the corpus"
# Reproducers outlive a temporary work directory.
keep=$builddir/tests/fuzz/artifacts

set -- -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$workdir/artifacts/"

report_failure() {
	log=$1
	grep -E 'check failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
		"$log" | head -n 10 | sed 's/^/# /'
	tail -n 30 "$log" | sed 's/^/# /'
	found=$(ls "$workdir/artifacts" 2>/dev/null)
	if [ -n "$found" ]; then
		mkdir -p "$keep" && cp "$workdir/artifacts"/* "$keep/"
		for f in $found; do
			echo "# reproducer: $keep/$f"
		done
		echo "# replay it: $target $keep/<file>; keep it as tests/fuzz/corpus/crash-<what>"
	fi
}

echo "1..2"

# -runs=0: every corpus input once, whole (no -max_len), no mutation.
log=$workdir/replay.log
if "$target" "$@" -runs=0 "$workdir/corpus" >"$log" 2>&1; then
	echo "ok 1 - $name: replay of $inputs corpus inputs"
else
	report_failure "$log"
	echo "not ok 1 - $name: replay of $inputs corpus inputs"
fi

log=$workdir/fuzz.log
# New inputs up to 16 KiB: room for several 4 KiB messages in one.
set -- "$@" -max_len=16384
# A fixed seed: the same binary and corpus take the same path, so a
# failure can be run again.  With "random", libFuzzer picks and logs one.
[ "$seed" = random ] || set -- "$@" -seed="$seed"
[ -f "$dict" ] && set -- "$@" -dict="$dict"
# timeout(1) only guards against a fuzzer that ignores its own limit.
if timeout $((seconds + 300)) "$target" "$@" -max_total_time="$seconds" \
	"$workdir/corpus" >"$log" 2>&1; then
	stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1)
	echo "# $stats"
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
		"$log" | sed 's/^/# /'
	echo "ok 2 - $name: fuzzing for ${seconds}s (seed $seed) found nothing"
else
	report_failure "$log"
	grep -E '^INFO: Seed: ' "$log" | sed 's/^/# /'
	echo "not ok 2 - $name: fuzzing for ${seconds}s (seed $seed)"
fi
