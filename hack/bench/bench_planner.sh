#!/usr/bin/env bash
# The planner alone at 1,000 and 10,000 nodes (bench_planner: the fleet in memory, a steady pass
# and the passes of a rollout), the two sizes run alternately RUNS times; medians of the runs'
# medians, and the growth from 1,000 to 10,000 beside the 10x a linear planner would show.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
PASSES=${PASSES:-20}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
small_steady=() small_roll=() big_steady=() big_roll=() big_max=()
for _ in $(seq 1 "$RUNS"); do
	small=$("$BUILD/bench/bench_planner" 1000 "$PASSES")
	big=$("$BUILD/bench/bench_planner" 10000 "$PASSES")
	small_steady+=("$(field "$small" steady_ms)")
	small_roll+=("$(field "$small" rollout_ms)")
	big_steady+=("$(field "$big" steady_ms)")
	big_roll+=("$(field "$big" rollout_ms)")
	big_max+=("$(field "$big" rollout_max_ms)")
	rss=$(field "$big" max_rss_kib)
done
echo "== planner: one pass over 1,000 and 10,000 nodes (median of $RUNS alternated runs of $PASSES passes)"
awk -v s1="$(printf '%s\n' "${small_steady[@]}" | median)" \
	-v r1="$(printf '%s\n' "${small_roll[@]}" | median)" \
	-v s2="$(printf '%s\n' "${big_steady[@]}" | median)" \
	-v r2="$(printf '%s\n' "${big_roll[@]}" | median)" \
	-v m2="$(printf '%s\n' "${big_max[@]}" | median)" -v rss="$rss" 'BEGIN {
	printf "  1,000 nodes: steady pass %7.2f ms, rollout pass %7.2f ms\n", s1, r1
	printf "  10,000 nodes: steady pass %6.2f ms, rollout pass %7.2f ms (slowest %.2f ms)   (aim: < 10 ms)\n", s2, r2, m2
	printf "  growth 1,000 -> 10,000: steady %.1fx, rollout %.1fx   (linear: 10x)\n", s2 / s1, r2 / r1
	printf "  bench process max RSS at 10,000 nodes                    %6.1f MiB\n", rss / 1024
}'
