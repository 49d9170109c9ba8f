#!/usr/bin/env bash
# One reconcile pass over NODES simulated nodes: bench_reconcile (the controller's observe + plan,
# in process: libcurl multi over kept connections, then the planner) against the baseline the
# runbooks imply, a sequential `curl` loop over the same /readyz endpoints. probe_server plays
# every agent on one loopback port. Medians: PASSES passes, RUNS runs of the loop.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
NODES=${NODES:-1000}
PASSES=${PASSES:-25}
RUNS=${RUNS:-3}
TAG=v2026.7.1
COMMIT=0123456789abcdef0123456789abcdef01234567
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench.XXXXXX")
server=
cleanup() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The agents: one openclaw.lock in their infra tree, NODES healthy gateways on the tag.
mkdir -p "$work/infra"
cp manifests/example-repo/openclaw.lock "$work/infra/"
"$BUILD/bench/probe_server" "$NODES" "$work/infra" "$TAG" "$COMMIT" "$work/port" &
server=$!
for _ in $(seq 1 100); do
	[ -s "$work/port" ] && break
	kill -0 "$server" 2>/dev/null || { echo "probe_server exited" >&2; exit 1; }
	sleep 0.1
done
[ -s "$work/port" ] || { echo "probe_server did not start" >&2; exit 1; }
port=$(cat "$work/port")

# The desired state: the example repository's objects and NODES MacNodes pointing at them.
repo="$work/repo"
mkdir -p "$repo/openclaw/nodes" "$repo/clawfleet"
cp manifests/example-repo/clawfleet/*.yaml "$repo/clawfleet/"
cp manifests/example-repo/openclaw.lock "$repo/"
cp -R manifests/example-repo/tenants "$repo/"
for i in $(seq 1 "$NODES"); do
	canary=false
	[ "$i" -eq 1 ] && canary=true
	cat >"$repo/openclaw/nodes/mac-$i.yaml" <<EON
apiVersion: fleet.openclaw.io/v1alpha1
kind: MacNode
metadata:
  name: mac-$i
spec:
  address: http://127.0.0.1:$port/n/$i
  role: gateway
  zone: zone-$((i % 3))
  canary: $canary
  loadBalancer:
    server: mac-$i
    weight: 100
EON
done

now_ns() { date +%s%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

ours=$("$BUILD/bench/bench_reconcile" "$repo" "$COMMIT" "$PASSES")

base=()
for r in $(seq 1 "$RUNS"); do
	t0=$(now_ns)
	for i in $(seq 1 "$NODES"); do
		curl -s --noproxy '*' -o /dev/null "http://127.0.0.1:$port/n/$i/readyz"
	done
	t1=$(now_ns)
	base+=($(((t1 - t0) / 1000)))
done
base_us=$(printf '%s\n' "${base[@]}" | median)

field() { printf '%s\n' "$ours" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "== reconcile pass: $NODES nodes' /readyz on loopback (median of $PASSES passes; loop: $RUNS runs)"
awk -v pass="$(field pass_ms)" -v obs="$(field observe_ms)" -v pl="$(field plan_ms)" \
	-v first="$(field first_pass_ms)" -v phase="$(field phase)" -v rss="$(field max_rss_kib)" \
	-v b="$base_us" 'BEGIN {
	printf "  clawfleet pass (observe + plan)               %8.2f ms   (aim: < 100 ms)\n", pass
	printf "    observe %.2f ms, plan %.2f ms; first pass (new connections) %.2f ms; phase %s\n", obs, pl, first, phase
	printf "  baseline: sequential curl loop                %8.2f ms\n", b / 1000
	printf "  ratio baseline / clawfleet                    %8.1fx   (aim: >= 100x)\n", b / 1000 / pass
	printf "  controller max RSS                            %8.1f MiB  (aim: < 32 MiB)\n", rss / 1024
}'
