#!/usr/bin/env bash
# The controller's probe pass over agents that are each their own host:port, as real Macs are:
# probe_server with a listening socket per node on loopback (two processes of up to 5,000 nodes,
# each within a descriptor limit of 20,000), bench_probe (fleet_poll as the controller runs it,
# MAX_PARALLEL transfers at once) over 1,000 and then 10,000 of them, each beside the baseline the
# runbooks imply, a sequential `curl` loop over the same endpoints, run alternately in the same
# rounds. The loop over 10,000 would take minutes: it runs over 1,000 of them and is scaled by 10
# (said so where it is printed). Then one /readyz document read over the bytes against the
# json-c tree the controller built before. Medians of ROUNDS; aims are printed, not asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
PASSES=${PASSES:-10}
MAX_PARALLEL=${MAX_PARALLEL:-64}
TAG=v2026.7.1
COMMIT=0123456789abcdef0123456789abcdef01234567
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench.XXXXXX")
servers=()
cleanup() {
	local p
	for p in ${servers[@]+"${servers[@]}"}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/infra"
cp manifests/example-repo/openclaw.lock "$work/infra/"
"$BUILD/bench/probe_server" 5000 "$work/infra" "$TAG" "$COMMIT" "$work/ports-a" 1 &
servers+=($!)
"$BUILD/bench/probe_server" 5000 "$work/infra" "$TAG" "$COMMIT" "$work/ports-b" 5001 &
servers+=($!)
for _ in $(seq 1 600); do
	[ -s "$work/ports-a" ] && [ -s "$work/ports-b" ] && break
	for p in "${servers[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "bench_probe: probe_server exited" >&2; exit 1; }
	done
	sleep 0.2
done
[ -s "$work/ports-a" ] && [ -s "$work/ports-b" ] || { echo "bench_probe: probe_server did not start" >&2; exit 1; }
head -n 1000 "$work/ports-a" >"$work/ports-1k"

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
now_ns() { date +%s%N; }
# curl_loop PORT_FILE: milliseconds for one sequential curl per port.
curl_loop() {
	local t0 t1 port
	t0=$(now_ns)
	while read -r port; do
		curl -s --noproxy '*' -o /dev/null "http://127.0.0.1:$port/readyz"
	done <"$1"
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000000))
}

warm1=() first1=() warm10=() first10=() loop1=()
for _ in $(seq 1 "$ROUNDS"); do
	out=$("$BUILD/bench/bench_probe" "$PASSES" "$MAX_PARALLEL" "$work/ports-1k")
	warm1+=("$(field "$out" warm_ms)") first1+=("$(field "$out" first_ms)")
	loop1+=("$(curl_loop "$work/ports-1k")")
	out=$("$BUILD/bench/bench_probe" "$PASSES" "$MAX_PARALLEL" "$work/ports-a" "$work/ports-b")
	warm10+=("$(field "$out" warm_ms)") first10+=("$(field "$out" first_ms)")
done
m() { printf '%s\n' "$@" | median; }
w1=$(m "${warm1[@]}") f1=$(m "${first1[@]}") w10=$(m "${warm10[@]}") f10=$(m "${first10[@]}")
l1=$(m "${loop1[@]}")

port=$(head -n 1 "$work/ports-a")
curl -s --noproxy '*' -o "$work/readyz.json" "http://127.0.0.1:$port/readyz"
read -r doc_bytes stream_us tree_us read_ratio < <("$BUILD/bench/readyz_reader" "$work/readyz.json" mac-1 21)

echo "== probe pass: a host:port per agent on loopback, maxParallel $MAX_PARALLEL (medians of $ROUNDS rounds, $PASSES warm passes each)"
awk -v w1="$w1" -v f1="$f1" -v w10="$w10" -v f10="$f10" -v l1="$l1" 'BEGIN {
	printf "  1,000 agents, warm pass (kept connections)    %8.2f ms   (aim: < 20 ms)\n", w1
	printf "    first pass (new connections)                %8.2f ms\n", f1
	printf "  baseline: sequential curl loop, 1,000          %8.2f ms\n", l1
	printf "  ratio baseline / clawfleet                    %8.1fx   (aim: >= 250x)\n", l1 / w1
	printf "  10,000 agents, warm pass                      %8.2f ms   (aim: < 250 ms)\n", w10
	printf "    first pass (new connections)                %8.2f ms\n", f10
	printf "  baseline: curl loop, 10,000 (1,000 run, x10)  %8.2f ms\n", l1 * 10
	printf "  ratio baseline / clawfleet                    %8.1fx\n", l1 * 10 / w10
	printf "  growth 1,000 -> 10,000 agents                 %8.1fx   (aim: <= 11x)\n", w10 / w1
}'
echo "== /readyz read: one $doc_bytes-byte document (medians of 21 rounds of 2,000)"
awk -v s="$stream_us" -v t="$tree_us" -v r="$read_ratio" 'BEGIN {
	printf "  over the bytes (readyz_parse)                 %8.2f us\n", s
	printf "  baseline: json-c tree + readyz_read           %8.2f us\n", t
	printf "  ratio                                         %8.1fx\n", r
}'
