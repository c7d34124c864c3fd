#!/bin/bash
# run-attack-bench.sh: bench/attack-bench over every scenario, a markdown
# table, the daemon's resident memory against the bound the quotas give,
# and a plot (gnuplot): the daemon's RSS over time in each scenario, and
# the well-behaved guests' p50/p99 latency quiet and under attack.
#
# Environment:
#   XENSTORED     the daemon (default: daemon/xenstored of this tree)
#   ATTACK_BENCH  the benchmark (default: bench/attack-bench of this tree)
#   GUESTS        well-behaved guests (default 100)
#   RUN_SECONDS   seconds quiet, and as many under attack (default 10)
#   SLICES        quiet and attack alternate this many times (default 5)
#   SCENARIOS     comma-separated (default: all)
#   OUT           where the table, data and plot go (default: a new
#                 directory under ${TMPDIR:-/tmp}); its path is printed
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
XENSTORED=${XENSTORED:-$top/daemon/xenstored}
ATTACK_BENCH=${ATTACK_BENCH:-$top/bench/attack-bench}
GUESTS=${GUESTS:-100}
RUN_SECONDS=${RUN_SECONDS:-10}
SLICES=${SLICES:-5}
SCENARIOS=${SCENARIOS:-flood,noread,storm,tree,tx,malformed}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/attack-bench.XXXXXX")}

for f in "$XENSTORED" "$ATTACK_BENCH"; do
	[ -x "$f" ] || { echo "run-attack-bench: $f is not built" >&2; exit 1; }
done
mkdir -p "$OUT"

# The bound, per scenario, in KiB of RSS above the quiet run, from the
# default quotas (daemon/quota.c) and what each kind of item costs:
#   nodes        1000 nodes of up to 2048 bytes, each under a key that is
#                its path (up to 2048 bytes past /local/domain/N/), plus
#                256 bytes each of TDB record header, hash chain and
#                indexes; twice that, as TDB keeps freed space for reuse
#   output       the memory quota (2.5 MiB): queued replies and events are
#                charged exactly, and a guest over it is not read
#   watches      128 watches, each its path (up to 2048) and token, plus
#                256 bytes of index
#   transactions the memory quota (2.5 MiB) caps what a domain's open
#                transactions hold, measured as talloc's bytes (node
#                copies, paths, logged requests); twice that for the
#                allocator's headers and the views' hash tables
# plus 2 MiB of slack for the allocator's own growth.
slack=2048
nodes_kb=$(( 2 * 1000 * (2048 + 2048 + 32 + 256) / 1024 ))
output_kb=2560
watches_kb=$(( 128 * (2048 + 64 + 256) / 1024 ))
tx_kb=$(( 2 * output_kb ))
bound_of() {
	case $1 in
	flood|tree) echo $(( nodes_kb + slack )) ;;
	noread) echo $(( output_kb + slack )) ;;
	storm) echo $(( watches_kb + output_kb + nodes_kb / 1000 + slack )) ;;
	tx) echo $(( tx_kb + nodes_kb / 100 + slack )) ;;
	*) echo "$slack" ;;
	esac
}

echo "run-attack-bench: $GUESTS guests, ${RUN_SECONDS}s quiet + ${RUN_SECONDS}s per attack in $SLICES slices, into $OUT" >&2
"$ATTACK_BENCH" -x "$XENSTORED" -g "$GUESTS" -s "$RUN_SECONDS" -k "$SLICES" \
	-a "$SCENARIOS" -o "$OUT" > "$OUT/results.txt"

# results.txt: a key=value line per scenario, then its "# fate:" lines.
: > "$OUT/summary.dat"
{
	echo "| attack | quiet p50 / p99, µs | attack p50 / p99, µs | p99 attack/quiet | daemon RSS quiet → attack, MiB | bound, MiB | attacker's fate |"
	echo "|---|---|---|---|---|---|---|"
} > "$OUT/table.md"
scenario=
flush() {
	[ -n "$scenario" ] || return 0
	local bound grew holds
	bound=$(bound_of "$scenario")
	grew=$(( attack_rss - quiet_rss ))
	holds=$([ "$grew" -le "$bound" ] && echo holds || echo EXCEEDED)
	printf '%s %s %s %s %s %s %s\n' "$scenario" "$q50" "$q99" "$a50" \
		"$a99" "$quiet_rss" "$attack_rss" >> "$OUT/summary.dat"
	awk -v s="$scenario" -v q50="$q50" -v q99="$q99" -v a50="$a50" \
		-v a99="$a99" -v r="$ratio" -v qr="$quiet_rss" -v ar="$attack_rss" \
		-v b="$bound" -v h="$holds" -v f="$fates" 'BEGIN {
		printf "| %s | %.0f / %.0f | %.0f / %.0f | %.2f | %.1f → %.1f | +%.1f (%s) | %s |\n",
			s, q50, q99, a50, a99, r, qr / 1024, ar / 1024, b / 1024, h, f
	}' >> "$OUT/table.md"
}
while IFS= read -r line; do
	case $line in
	'# fate: '*)
		fates="${fates:+$fates; }${line#\# fate: }"
		;;
	scenario=*)
		flush
		fates=
		for kv in $line; do
			case $kv in
			scenario=*) scenario=${kv#*=} ;;
			quiet_p50_us=*) q50=${kv#*=} ;;
			quiet_p99_us=*) q99=${kv#*=} ;;
			attack_p50_us=*) a50=${kv#*=} ;;
			attack_p99_us=*) a99=${kv#*=} ;;
			p99_ratio=*) ratio=${kv#*=} ;;
			quiet_rss_kib=*) quiet_rss=${kv#*=} ;;
			attack_rss_kib=*) attack_rss=${kv#*=} ;;
			esac
		done
		;;
	esac
done < "$OUT/results.txt"
flush
cat "$OUT/table.md"

if command -v gnuplot > /dev/null; then
	plots=
	for s in ${SCENARIOS//,/ }; do
		[ -f "$OUT/rss-$s.dat" ] || continue
		plots="${plots:+$plots, }'$OUT/rss-$s.dat' using 1:(\$2/1024) with lines lw 2 title '$s'"
	done
	# The attack slices (of the first scenario; the others' are within a
	# few ms of them) as grey bands.
	bands=
	first=${SCENARIOS%%,*}
	if [ -f "$OUT/slices-$first.dat" ]; then
		bands=$(awk '!/^#/ { printf "set object rect from %s, graph 0 to %s, graph 1 behind fc rgb \"#e8e8e8\" fs solid noborder\n", $1, $2 }' \
			"$OUT/slices-$first.dat")
	fi
	gnuplot <<EOF
set terminal pngcairo size 1200,480 font ',10'
set output '$OUT/attack-bench.png'
set multiplot layout 1,2 title 'attack-bench: $GUESTS well-behaved guests, one attacker at a time; ${RUN_SECONDS}s quiet and ${RUN_SECONDS}s of attack in $SLICES slices each'
set title "daemon RSS (VmRSS), every 50 ms"
set xlabel 'seconds (grey: the attacker runs)'
set ylabel 'MiB'
set key top left
$bands
plot $plots
unset object
set title "well-behaved request latency"
set ylabel 'microseconds (log)'
set xlabel ''
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set xtics rotate by -30
plot '$OUT/summary.dat' using 2:xtic(1) title 'p50 quiet', \
     '' using 4 title 'p50 attack', \
     '' using 3 title 'p99 quiet', \
     '' using 5 title 'p99 attack'
unset multiplot
EOF
	echo "run-attack-bench: plot in $OUT/attack-bench.png" >&2
else
	echo "run-attack-bench: no gnuplot (Debian: gnuplot-nox): no plot" >&2
fi
echo "$OUT"
