#!/usr/bin/env bash
# 1,000 HAProxy weight changes: the haproxy driver (haproxy_apply: the servers' state, every
# change batched over one Runtime API connection, the read-back) against the runbooks' way, a
# `socat` per `set weight`, on a real HAProxy whose one backend holds the servers. The two run
# alternately RUNS times; medians, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SERVERS=${SERVERS:-1000}
RUNS=${RUNS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench.XXXXXX")
hap=
cleanup() {
	if [ -n "$hap" ]; then
		kill "$hap" 2>/dev/null || true
		wait "$hap" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
for tool in haproxy socat; do
	if ! command -v "$tool" >/dev/null; then
		echo "== haproxy weights: skipped, $tool is not installed (hack/install-deps.sh)"
		exit 0
	fi
done

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
socket=$work/admin.sock
{
	printf 'global\n\tstats socket %s mode 600 level admin\n' "$socket"
	printf 'defaults\n\tmode http\n\ttimeout connect 1s\n\ttimeout client 5s\n\ttimeout server 5s\n'
	printf 'frontend fe\n\tbind 127.0.0.1:%s\n\tdefault_backend gateways\nbackend gateways\n' "$port"
	for i in $(seq -f %04g 1 "$SERVERS"); do
		printf '\tserver mac-%s 127.0.0.1:9 weight 1\n' "$i"
	done
} >"$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
hap=$!
for _ in $(seq 50); do
	[ -S "$socket" ] && break
	sleep 0.1
done
[ -S "$socket" ] || { cat "$work/haproxy.log" >&2; exit 1; }

now_ns() { date +%s%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ours=() base=()
for r in $(seq 1 "$RUNS"); do
	# Each run changes every server: seeds differ from one run and one side to the next.
	out=$("$BUILD/bench/haproxy_apply" "$socket" gateways mac- "$SERVERS" $((2 * r + 1)))
	ours+=("$(printf '%s\n' "$out" | tr ' ' '\n' | sed -n 's/^apply_ms=//p')")
	t0=$(now_ns)
	for i in $(seq 1 "$SERVERS"); do
		printf 'set weight gateways/mac-%04d %d\n' "$i" $(((i * (2 * r + 2)) % 257)) |
			socat - "UNIX-CONNECT:$socket" >/dev/null
	done
	t1=$(now_ns)
	base+=("$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.3f", ns / 1e6}')")
done
echo "== haproxy weights: $SERVERS changes on a real HAProxy (median of $RUNS alternated runs)"
awk -v o="$(printf '%s\n' "${ours[@]}" | median)" -v b="$(printf '%s\n' "${base[@]}" | median)" \
	-v n="$SERVERS" 'BEGIN {
	printf "  clawfleet haproxy driver (state, %d changes, read-back; one connection) %8.2f ms\n", n, o
	printf "  baseline: a socat per set weight                                       %8.2f ms\n", b
	printf "  ratio baseline / clawfleet                                             %8.1fx   (aim: >= 200x)\n", b / o
}'
