#!/usr/bin/env bash
# The controller daemon's footprint: `clawfleet controller` over NODES agents (probe_server, a
# listening socket an agent on loopback, as real Macs are), a desired state of NODES MacNodes on
# the `file` load balancer, `source.interval` 10s, the fleet steady (Succeeded). After SETTLE
# seconds (the first passes open the connections and write the first weights) it measures the
# controller's CPU time (/proc/PID/stat) over SECONDS and its RSS at the end, at 1,000 and 10,000
# agents by default (FOOTPRINT_NODES). RSS is read between passes; the peak (VmHWM) beside it,
# and what the RSS is made of: private pages (the heap, thread stacks, libraries' written data)
# and pages of files (the shared libraries' code, shared with every process that maps them).
# About 100 s at the defaults; FOOTPRINT=0 skips it (`FOOTPRINT=0 make bench`).
#
#   FOOTPRINT_NODES="1000 10000" SETTLE=20 SECONDS_MEASURED=20 hack/bench/bench_footprint.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
if [ "${FOOTPRINT:-1}" = 0 ]; then
	echo "== controller footprint: skipped (FOOTPRINT=0)"
	exit 0
fi
NODES_LIST=${FOOTPRINT_NODES:-1000 10000}
SETTLE=${SETTLE:-20}
MEASURED=${SECONDS_MEASURED:-20}
TAG=v2026.7.1
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench-footprint.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}
trap 'cleanup; rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

# run NODES: prints "cpu_pct rss_kib hwm_kib passes cpu_ms_per_pass phase anon_kib file_kib".
run() {
	local n=$1 w="$work/n$1" repo half port i canary commit cport cpid
	mkdir -p "$w/infra" "$w/state"
	repo="$w/repo"
	mkdir -p "$repo/openclaw/nodes" "$repo/clawfleet"
	cp manifests/example-repo/openclaw.lock "$w/infra/"
	cp manifests/example-repo/clawfleet/*.yaml "$repo/clawfleet/"
	cp manifests/example-repo/openclaw.lock "$repo/"
	cp -R manifests/example-repo/tenants "$repo/"
	cat >"$repo/clawfleet/loadbalancer.yaml" <<EOL
apiVersion: fleet.openclaw.io/v1alpha1
kind: LoadBalancer
metadata:
  name: gateways
spec:
  driver: file
  drainTimeout: 1s
  file:
    path: $w/weights.json
EOL
	git -C "$repo" -c init.defaultBranch=main init -q
	git -C "$repo" add -A
	git -C "$repo" commit -qm base
	git -C "$repo" tag -a -m "$TAG" "$TAG"
	commit=$(git -C "$repo" rev-parse HEAD)
	# Two servers of half the agents each: a server holds two descriptors an agent, and one
	# process of 10,000 would pass the usual hard limit.
	half=$((n / 2))
	"$BUILD/bench/probe_server" "$half" "$w/infra" "$TAG" "$commit" "$w/ports1" 1 >"$w/ps1.log" 2>&1 &
	pids+=($!)
	"$BUILD/bench/probe_server" $((n - half)) "$w/infra" "$TAG" "$commit" "$w/ports2" $((half + 1)) \
		>"$w/ps2.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 600); do
		[ -s "$w/ports1" ] && [ -s "$w/ports2" ] && break
		sleep 0.1
	done
	[ -s "$w/ports1" ] && [ -s "$w/ports2" ] || { echo "probe_server did not start" >&2; cat "$w"/ps*.log >&2; return 1; }
	i=0
	while read -r port; do
		i=$((i + 1))
		canary=false
		[ "$i" = 1 ] && canary=true
		printf 'apiVersion: fleet.openclaw.io/v1alpha1\nkind: MacNode\nmetadata:\n  name: mac-%d\nspec:\n  address: http://127.0.0.1:%d\n  role: gateway\n  zone: zone-%d\n  canary: %s\n  loadBalancer:\n    server: mac-%d\n    weight: 100\n' \
			"$i" "$port" $((i % 3)) "$canary" "$i" >"$repo/openclaw/nodes/mac-$i.yaml"
	done < <(cat "$w/ports1" "$w/ports2")
	git -C "$repo" add -A
	git -C "$repo" commit -qm nodes
	echo secret-token-0123456789abcdef >"$w/agent-token"
	chmod 600 "$w/agent-token"
	cport=$(python3 hack/free_port.py)
	cat >"$w/controller.yaml" <<EOL
source: {url: "$repo", ref: main, interval: 10s, timeout: 20s}
state: $w/state
listen: 127.0.0.1:$cport
agentToken: $w/agent-token
EOL
	"$BUILD/clawfleet" controller --config "$w/controller.yaml" >"$w/controller.log" 2>&1 &
	cpid=$!
	pids+=($cpid)
	local ticks c0 c1 t0 t1 p0 p1 rss hwm phase anon file
	ticks=$(getconf CLK_TCK)
	cpu() { awk '{print $14 + $15}' "/proc/$cpid/stat"; }
	# passes: the passes so far and the seconds they took, from the controller's own /metrics.
	passes() {
		curl -s --noproxy '*' "127.0.0.1:$cport/metrics" |
			awk '/^clawfleet_reconcile_total/ {n = $2} /^clawfleet_reconcile_duration_seconds_sum/ {s = $2} END {print n + 0, s + 0}'
	}
	sleep "$SETTLE"
	kill -0 "$cpid" 2>/dev/null || { echo "the controller exited" >&2; tail "$w/controller.log" >&2; return 1; }
	c0=$(cpu)
	t0=$(date +%s.%N)
	read -r p0 s0 <<<"$(passes)"
	sleep "$MEASURED"
	c1=$(cpu)
	t1=$(date +%s.%N)
	read -r p1 s1 <<<"$(passes)"
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$cpid/status")
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$cpid/status")
	anon=$(awk '/^RssAnon/ {print $2}' "/proc/$cpid/status")
	file=$(awk '/^RssFile/ {print $2}' "/proc/$cpid/status")
	phase=$(curl -s --noproxy '*' "127.0.0.1:$cport/status?nodes=0" |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get("phase"))' 2>/dev/null || echo unknown)
	cleanup
	awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v p0="${p0:-0}" -v p1="${p1:-0}" -v s0="${s0:-0}" -v s1="${s1:-0}" -v tk="$ticks" \
		-v rss="$rss" -v hwm="$hwm" -v phase="$phase" -v anon="$anon" -v file="$file" 'BEGIN {
		cpu = (c1 - c0) / tk
		printf "%.2f %d %d %d %.1f %s %d %d %.1f\n", 100 * cpu / (t1 - t0), rss, hwm, p1 - p0, (p1 > p0 ? 1000 * cpu / (p1 - p0) : 0), phase, anon, file, (p1 > p0 ? 1000 * (s1 - s0) / (p1 - p0) : 0)
	}'
}

echo "== controller footprint: clawfleet controller over N agents (a port each), source.interval 10s, steady; ${MEASURED} s measured after ${SETTLE} s"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(getconf _NPROCESSORS_ONLN) cores"
for n in $NODES_LIST; do
	read -r pct rss hwm npass per phase anon file wall <<<"$(run "$n")"
	case $n in
	1000) aim="(aim: < 0.5 % of a core, RSS < 20 MiB)" ;;
	10000) aim="(aim: RSS < 40 MiB)" ;;
	*) aim="" ;;
	esac
	awk -v n="$n" -v pct="$pct" -v rss="$rss" -v hwm="$hwm" -v np="$npass" -v per="$per" -v phase="$phase" -v aim="$aim" -v anon="$anon" -v file="$file" -v wall="$wall" 'BEGIN {
		printf "  %6d agents: %5.2f %% of a core, RSS %6.1f MiB (peak %6.1f), %.1f ms of CPU and %.1f ms of wall time a pass over %d passes, phase %s   %s\n", n, pct, rss / 1024, hwm / 1024, per, wall, np, phase, aim
		printf "                 of the RSS: %.1f MiB the heap and other private pages, %.1f MiB shared libraries and files\n", anon / 1024, file / 1024
	}'
done
