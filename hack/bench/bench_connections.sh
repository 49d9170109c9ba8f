#!/usr/bin/env bash
# The daemons' HTTP server (serve/httpd.h, run alone by hack/bench/http_server) under many
# honest keep-alive clients: GET /healthz from CONNECTIONS connections spread over ADDRESSES
# source addresses (the per-client limit raised to fit them, the connection limit to 4096),
# against the baseline of 32 connections (from two addresses, within the per-client limit), the
# shape `bench_readyz` measures.
# The two run alternately, ROUNDS times each, the load generator on the same two cores as the
# server. Prints each run's rate, errors and not-200 answers, the ratio and the aim (> 50,000
# req/s with 2,000 connections, none failing); a missed aim does not fail the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CONNECTIONS=${CONNECTIONS:-2000}
ADDRESSES=${ADDRESSES:-100}
LOAD_SECONDS=${LOAD_SECONDS:-5}
ROUNDS=${ROUNDS:-2}
server=$PWD/$BUILD/bench/http_server
loadgen=$PWD/$BUILD/bench/loadgen
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench-conn.XXXXXX")
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
pin=()
cores=$(nproc)
if [ "$cores" -gt 2 ] && command -v taskset >/dev/null; then
	pin=(taskset -c "$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0))[:2])))')")
	cores=2
fi
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# Every connection needs a descriptor on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

per_client=$(((CONNECTIONS + ADDRESSES - 1) / ADDRESSES))
${pin[@]+"${pin[@]}"} "$server" "$work/port" 4096 "$per_client" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

run() { # CONNECTIONS ADDRESSES: one loadgen line
	local out
	out=$(${pin[@]+"${pin[@]}"} "$loadgen" -p "$port" -P /healthz -c "$1" -t 2 -a "$2" -d "$LOAD_SECONDS") || true
	echo "$out"
}
base_rps=() many_rps=() many_failed=0 base_failed=0 lines=()
for r in $(seq "$ROUNDS"); do
	out=$(run 32 2)
	base_rps+=("$(field "$out" rps)")
	base_failed=$((base_failed + $(field "$out" errors) + $(field "$out" non200)))
	lines+=("  round $r, 32 connections from 2 addresses: $out")
	out=$(run "$CONNECTIONS" "$ADDRESSES")
	many_rps+=("$(field "$out" rps)")
	many_failed=$((many_failed + $(field "$out" errors) + $(field "$out" non200)))
	lines+=("  round $r, $CONNECTIONS connections from $ADDRESSES addresses: $out")
done
rss_kib=$(ps -o rss= -p "$server_pid" | tr -d ' ')

echo "== many honest connections: GET /healthz, $CONNECTIONS keep-alive connections vs 32 (the baseline)"
printf '%s\n' "${lines[@]}"
awk -v many="${many_rps[*]}" -v base="${base_rps[*]}" -v mf="$many_failed" -v bf="$base_failed" \
	-v conns="$CONNECTIONS" -v cores="$cores" -v rss="$rss_kib" 'BEGIN {
	nm = split(many, m, " "); nb = split(base, b, " ")
	lo = m[1]; hi = m[1]; for (i = 1; i <= nm; i++) { if (m[i] < lo) lo = m[i]; if (m[i] > hi) hi = m[i]; sm += m[i] }
	for (i = 1; i <= nb; i++) sb += b[i]
	ratio = (sm / nm) / (sb / nb > 0 ? sb / nb : 1)
	met = (lo > 50000 && mf == 0) ? "met" : "MISSED"
	printf "  %d connections: %.0f-%.0f req/s, %d failed or not 200; baseline (32): %.0f req/s, %d failed\n", conns, lo, hi, mf, sb / nb, bf
	printf "  ratio %d / 32 connections %.2f; aim > 50,000 req/s and none failing: %s\n", conns, ratio, met
	printf "  on %d cores shared by the server and the load generator; server RSS afterwards %.1f MiB\n", cores, rss / 1024
}'
