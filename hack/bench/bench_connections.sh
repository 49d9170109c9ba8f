#!/usr/bin/env bash
# The daemons' HTTP server (serve/httpd.h, run alone by hack/bench/http_server) under many
# honest keep-alive clients: GET /healthz from CONNECTIONS connections spread over ADDRESSES
# source addresses (the per-client limit raised to fit them, the connection limit to 4096),
# against the baseline of 32 connections (from two addresses, within the per-client limit), the
# shape `bench_readyz` measures.
# The two run alternately, ROUNDS times each, the load generator on the same two cores as the
# server. Prints each run's rate, errors and not-200 answers, the medians, the ratio and the aim
# (> 50,000 req/s with 2,000 connections, none failing); a missed aim does not fail the run.
# Where /proc is there it also prints the CPU time each request cost the server and the load
# generator, and the share of the two cores they had between them: on a box other jobs share,
# the rate follows that share, the cost per request does not.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CONNECTIONS=${CONNECTIONS:-2000}
ADDRESSES=${ADDRESSES:-100}
LOAD_SECONDS=${LOAD_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
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
ticks=$(getconf CLK_TCK 2>/dev/null || echo 100)
# The server's CPU time so far, user and system, in seconds; empty without /proc.
server_cpu() {
	[ -r "/proc/$server_pid/stat" ] || return 0
	awk -v hz="$ticks" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$server_pid/stat"
}
# Every connection needs a descriptor on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

per_client=$(((CONNECTIONS + ADDRESSES - 1) / ADDRESSES))
${pin[@]+"${pin[@]}"} "$server" "$work/port" 4096 "$per_client" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

# Until the server has closed the last run's connections: the baseline's two addresses are among
# the 100, and connections it still counts would hold their per-client slots.
settle() {
	if ! command -v ss >/dev/null; then
		sleep 1
		return
	fi
	for _ in $(seq 50); do
		[ -z "$(ss -Htn state established "( sport = :$port )")" ] && return
		sleep 0.1
	done
}
run() { # CONNECTIONS ADDRESSES: one loadgen line, then server_cpu_s=
	local out before after
	settle
	before=$(server_cpu)
	out=$(${pin[@]+"${pin[@]}"} "$loadgen" -p "$port" -P /healthz -c "$1" -t 2 -a "$2" -d "$LOAD_SECONDS") || true
	after=$(server_cpu)
	echo "$out server_cpu_s=$(awk -v a="$after" -v b="$before" 'BEGIN { if (a != "") printf "%.3f", a - b }')"
}
many=() base=() lines=()
for r in $(seq "$ROUNDS"); do
	out=$(run 32 2)
	base+=("$out")
	lines+=("  round $r, 32 connections from 2 addresses: $out")
	out=$(run "$CONNECTIONS" "$ADDRESSES")
	many+=("$out")
	lines+=("  round $r, $CONNECTIONS connections from $ADDRESSES addresses: $out")
done
rss_kib=$(ps -o rss= -p "$server_pid" | tr -d ' ')

echo "== many honest connections: GET /healthz, $CONNECTIONS keep-alive connections vs 32 (the baseline)"
printf '%s\n' "${lines[@]}"
printf 'many %s\n' "${many[@]}" | cat - <(printf 'base %s\n' "${base[@]}") |
	awk -v conns="$CONNECTIONS" -v cores="$cores" -v rss="$rss_kib" '
	function median(v, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	{
		k = $1; n[k]++
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		rps[k, n[k]] = f["rps"]; failed[k] += f["errors"] + f["non200"]
		req[k] += f["requests"]; secs[k] += f["seconds"]; lg[k] += f["cpu_s"]
		if (f["server_cpu_s"] == "") nocpu = 1; else srv[k] += f["server_cpu_s"]
		delete f
	}
	END {
		for (k in n) {
			for (i = 1; i <= n[k]; i++) v[i] = rps[k, i]
			med[k] = median(v, n[k]); lo[k] = v[1]; hi[k] = v[n[k]]
		}
		met = (lo["many"] > 50000 && failed["many"] == 0) ? "met" : "MISSED"
		printf "  %d connections: median %.0f req/s (%.0f-%.0f), %d failed or not 200\n", conns, med["many"], lo["many"], hi["many"], failed["many"]
		printf "  baseline, 32 connections: median %.0f req/s (%.0f-%.0f), %d failed or not 200\n", med["base"], lo["base"], hi["base"], failed["base"]
		printf "  ratio %d / 32 connections (medians) %.2f; aim > 50,000 req/s in every run and none failing: %s\n", conns, med["many"] / (med["base"] > 0 ? med["base"] : 1), met
		if (!nocpu && req["many"] > 0 && req["base"] > 0) {
			printf "  CPU per request, %d / 32 connections: server %.1f / %.1f us, load generator %.1f / %.1f us\n", conns, srv["many"] / req["many"] * 1e6, srv["base"] / req["base"] * 1e6, lg["many"] / req["many"] * 1e6, lg["base"] / req["base"] * 1e6
			printf "  the two had %.0f%% / %.0f%% of the %d cores (the rest went to other jobs or idled)\n", (srv["many"] + lg["many"]) / secs["many"] / cores * 100, (srv["base"] + lg["base"]) / secs["base"] / cores * 100, cores
		}
		printf "  on %d cores shared by the server and the load generator; server RSS afterwards %.1f MiB\n", cores, rss / 1024
	}'
