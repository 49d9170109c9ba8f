#!/usr/bin/env bash
# The haproxy weights driver against a real HAProxy on loopback: three simulated gateways behind
# the configuration of hack/haproxy/clawfleet.cfg.in (its health checks pointed at the gateways'
# own /readyz, there being no agents here). test_weights sets each step's weights
# through the Runtime API (UNIX socket and TCP) and reads them back; then 1,000 requests through
# the frontend must split within 3 points of the planned percent. Canary tenant routing goes
# through the runtime map and is checked the same way.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir
BUILD=${BUILD:-build}
tests_bin=$PWD/$BUILD/tests/test_weights
gateway_bin=$PWD/$BUILD/sim/gateway
REQUESTS=1000
TOLERANCE=3
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$TAP_TMP"
}
trap cleanup EXIT

if ! command -v haproxy >/dev/null; then
	tap_fail "haproxy is installed" "run hack/install-deps.sh (Debian package haproxy)"
	tap_done
	exit
fi
for bin in "$tests_bin" "$gateway_bin"; do
	if [ ! -x "$bin" ]; then
		tap_fail "$bin is built" "run make BUILD=$BUILD first"
		tap_done
		exit
	fi
done

free_port() {
	hack/free_port.py
}
wait_http() {
	local _
	for _ in $(seq 50); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}

# --- three gateways and HAProxy in front of them ---
declare -A port
for node in stable-gw-a stable-gw-b canary-gw; do
	port[$node]=$(free_port)
	mkdir -p "$TAP_TMP/$node"
	"$gateway_bin" --port "${port[$node]}" --root "$TAP_TMP/$node" --node "$node" \
		>"$TAP_TMP/$node.log" 2>&1 &
	pids+=($!)
done
for node in stable-gw-a stable-gw-b canary-gw; do
	tap_check "gateway $node answers" wait_http "http://127.0.0.1:${port[$node]}/whoami"
done

socket=$TAP_TMP/admin.sock
tenant_map=$TAP_TMP/canary-tenants.map
runtime_port=$(free_port)
frontend_port=$(free_port)
: >"$tenant_map"
sed -e "s|@RUNTIME_SOCKET@|$socket|g" -e "s|@RUNTIME_PORT@|$runtime_port|g" \
	-e "s|@FRONTEND_PORT@|$frontend_port|g" -e "s|@TENANT_MAP@|$tenant_map|g" \
	-e "s|@STATS_PORT@|$(free_port)|g" \
	-e "s|@PORT_A@|${port[stable-gw-a]}|g" -e "s|@PORT_B@|${port[stable-gw-b]}|g" \
	-e "s|@PORT_CANARY@|${port[canary-gw]}|g" \
	-e "s|@AGENT_PORT_A@|${port[stable-gw-a]}|g" -e "s|@AGENT_PORT_B@|${port[stable-gw-b]}|g" \
	-e "s|@AGENT_PORT_CANARY@|${port[canary-gw]}|g" hack/haproxy/clawfleet.cfg.in >"$TAP_TMP/haproxy.cfg"
tap_check "the configuration template is valid" haproxy -c -q -f "$TAP_TMP/haproxy.cfg"
haproxy -db -f "$TAP_TMP/haproxy.cfg" >"$TAP_TMP/haproxy.log" 2>&1 &
pids+=($!)
frontend=http://127.0.0.1:$frontend_port/whoami
if ! wait_http "$frontend" || [ ! -S "$socket" ]; then
	tap_fail "haproxy starts" "$(cat "$TAP_TMP/haproxy.log")"
	tap_done
	exit
fi
tap_ok "haproxy starts"

# set_weights NAME ENV...: the live tests of test_weights with ENV (HAPROXY_WEIGHTS, ...).
set_weights() {
	local name=$1 out
	shift
	if out=$(env "$@" HAPROXY_BACKEND=openclaw_gateways HAPROXY_TENANT_MAP="$tenant_map" \
		timeout 60 "$tests_bin" 2>&1); then
		tap_ok "$name"
	else
		tap_fail "$name" "$out"
	fi
}

# measure [CURL ARGS...]: REQUESTS requests through the frontend, one connection each; prints
# how many each gateway answered, as "stable-gw-a stable-gw-b canary-gw".
measure() {
	local cfg=$TAP_TMP/curl.cfg i
	: >"$cfg"
	for ((i = 0; i < REQUESTS; i++)); do echo "url = \"$frontend\"" >>"$cfg"; done
	timeout 120 curl -s --max-time 5 -H 'Connection: close' -w '\n' "$@" -K "$cfg" >"$TAP_TMP/answers"
	local counts=() node
	for node in stable-gw-a stable-gw-b canary-gw; do
		counts+=("$(grep -c "\"node\":\"$node\"" "$TAP_TMP/answers")")
	done
	echo "${counts[*]}"
}

# check_split NAME "A B CANARY" [CURL ARGS...]: the measured shares are within TOLERANCE points
# of the shares the weights A B CANARY plan.
check_split() {
	local name=$1 weights=$2 measured verdict
	shift 2
	measured=$(measure "$@")
	verdict=$(python3 -c '
import sys
w = [int(x) for x in sys.argv[1].split()]
got = [int(x) for x in sys.argv[2].split()]
n, tol = int(sys.argv[3]), float(sys.argv[4])
plan = [100.0 * x / sum(w) for x in w]
real = [100.0 * x / n for x in got]
bad = [i for i in range(3) if abs(plan[i] - real[i]) > tol]
print("ok" if not bad and sum(got) == n else
      "planned %s %%, measured %s %% of %d answers" % (
          " / ".join("%.1f" % p for p in plan), " / ".join("%.1f" % r for r in real), sum(got)))
' "$weights" "$measured" "$REQUESTS" "$TOLERANCE")
	if [ "$verdict" = ok ]; then tap_ok "$name"; else tap_fail "$name" "$verdict"; fi
}

# --- canary steps: weights set, read back, and the traffic split through HAProxy ---
# stable-gw-a stable-gw-b canary-gw
steps=("95 95 10" "100 100 50" "50 50 150" "100 100 0")
names=("canary 5 %" "canary 20 %" "canary 60 %" "rollback: canary drained")
for i in "${!steps[@]}"; do
	read -r a b c <<<"${steps[$i]}"
	weights="stable-gw-a=$a,stable-gw-b=$b,canary-gw=$c"
	if [ "$i" -eq 1 ]; then
		set_weights "${names[$i]}: weights set over TCP and read back" \
			HAPROXY_ADDRESS="127.0.0.1:$runtime_port" HAPROXY_WEIGHTS="$weights"
	else
		set_weights "${names[$i]}: weights set and read back" \
			HAPROXY_SOCKET="$socket" HAPROXY_WEIGHTS="$weights"
	fi
	check_split "${names[$i]}: $REQUESTS requests split within $TOLERANCE points" "$a $b $c"
done

# --- canary tenants: the runtime map sends them to openclaw_canary whatever the weights ---
set_weights "tenant acme routed to the canary pool" HAPROXY_SOCKET="$socket" \
	HAPROXY_TENANT=acme=openclaw_canary
tap_eq "acme's requests all reach the canary, drained in the main pool" \
	"0 0 $REQUESTS" "$(measure -H 'X-Tenant-Canary: acme')"
check_split "other tenants follow the main pool's weights" "100 100 0" -H 'X-Tenant-Canary: globex'
set_weights "tenant acme routed back to the main pool" HAPROXY_SOCKET="$socket" \
	HAPROXY_TENANT=acme=openclaw_gateways
check_split "acme follows the main pool's weights again" "100 100 0" -H 'X-Tenant-Canary: acme'

tap_done
