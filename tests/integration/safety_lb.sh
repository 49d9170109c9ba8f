#!/usr/bin/env bash
# Runs alone (tests/run): it orders a long request against a gateway's restart, which a second fleet's load would blur.
# Safety at the load balancer, on a simulated fleet (hack/fleet.sh) behind a real HAProxy:
# - HAProxy health-checks every gateway through its agent's /readyz: with the controller
#   stopped, an agent answering 503 takes its server out of rotation and a green one brings it
#   back; the haproxy driver sets and reads back the weight of a server held down;
# - drain before restart: a long request in flight to a stable gateway when Mirroring reaches
#   it finishes in full before that gateway is restarted (the controller drains it and waits
#   for its sessions), and the canary is drained before its restart in Shadow too;
# - tenant routes are level-triggered: an entry deleted or cleared through the Runtime API is
#   back within a pass.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
SLOW_MS=8000
fleet_test_up safety-lb 1s
map=$FLEET_DIR/haproxy/canary-tenants.map
# hap CMD: one Runtime API command on the fleet's socket; prints the reply.
hap() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())' "$FLEET_SOCKET" "$1"
}
# server_is SERVER up|down: HAProxy's own verdict (show servers state: srv_op_state 0 is down).
server_is() {
	hap "show servers state openclaw_gateways" | awk -v s="$1" -v want="$2" '
		$4 == s { found = 1; up = $6 != 0 }
		END { exit !(found && ((want == "up") == up)) }'
}
weight_of() { hap "show servers state openclaw_gateways" | awk -v s="$1" '$4 == s { print $8 }'; }
doctor() { # NODE green|red
	local f=$fleet/macs/$1/sim/doctor
	if [ "$2" = green ]; then rm -f "$f"; else echo "{\"verdict\":\"$2\"}" >"$f"; fi
}
acme_routed() { hap "show map $map" | grep -q ' acme openclaw_canary$'; }

# The shipped configuration for a real fleet checks as the template does; its hosts, socket,
# map and certificate made local.
sed -e 's|[a-z-]*\.fleet\.example|127.0.0.1|g' -e "s|/var/run/haproxy/admin.sock|$fleet/m.sock|" \
	-e "s|/etc/haproxy/canary-tenants.map|$map|" -e "s|bind :443 ssl crt .*|bind 127.0.0.1:$(fleet_free_port)|" \
	-e 's|group haproxy ||' manifests/haproxy/haproxy.cfg >"$fleet/manifest-haproxy.cfg"
tap_check "manifests/haproxy/haproxy.cfg is a valid HAProxy configuration" \
	haproxy -c -q -f "$fleet/manifest-haproxy.cfg"
tap_check "and health-checks every gateway through its agent's /readyz" test \
	"$(grep -c 'check port 18081$' manifests/haproxy/haproxy.cfg)" -eq 4

# A drainTimeout well above the long requests, so that only their end lets a restart go out.
sed -i 's|^  driver: haproxy$|  driver: haproxy\n  drainTimeout: 25s|' "$FLEET_REPO/clawfleet/loadbalancer.yaml"
git -C "$FLEET_REPO" commit -qam "fleet: drain for up to 25s"

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
all_up() { server_is canary-gw up && server_is stable-gw-a up && server_is stable-gw-b up; }
tap_check "HAProxy has every gateway up through its agent's /readyz" fleet_wait 15 all_up

# --- defence in depth: the controller stopped, a red agent is out of rotation all the same
kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
doctor stable-gw-b red
agent_b_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$FLEET_AGENT_PORT_stable_gw_b/readyz")" = "$1" ]; }
tap_check "stable-gw-b's agent answers 503" fleet_wait 10 agent_b_is 503
tap_check "with the controller stopped, HAProxy marks stable-gw-b down" fleet_wait 15 \
	server_is stable-gw-b down
tap_eq "and sends it nothing: 30 requests, none to stable-gw-b, none failed" "30 0" \
	"$(fleet_measure "$FLEET_FRONTEND" 30 | awk '{ print $1 + $2 + $3, $3 }')"
out=$(HAPROXY_SOCKET=$FLEET_SOCKET HAPROXY_BACKEND=openclaw_gateways \
	HAPROXY_WEIGHTS=stable-gw-b=60 timeout 60 "$BUILD/tests/test_weights" 2>&1)
tap_check "a server held down takes a weight and reads it back" test $? -eq 0 -a "$(weight_of stable-gw-b)" = 60
[ "$(weight_of stable-gw-b)" = 60 ] || echo "$out" | sed 's/^/    /'
hap "set weight openclaw_gateways/stable-gw-b 100" >/dev/null
doctor stable-gw-b green
tap_check "green again: HAProxy brings stable-gw-b back" fleet_wait 15 server_is stable-gw-b up

# --- a rollout with one step at 50 %, so that the stable gateways keep traffic until Mirroring
fleet_controller "$fleet"
within "the controller is back, Succeeded" 20 'd["phase"] == "Succeeded" and d["passes"]'
git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock
# Mirroring behind a gate: the long requests below are in flight before it may begin, however
# slow the machine (a step held for a fixed time once let them end before Mirroring reached
# stable-gw-a).
sed -i 's|steps: .*|steps: [50]\n    gates: [100]|' "$FLEET_REPO/clawfleet/promotion.yaml"
sed -i 's|^  driver: haproxy$|  driver: haproxy\n  drainTimeout: 25s|' "$FLEET_REPO/clawfleet/loadbalancer.yaml"
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0 in one step" -m "Ticket: OPS-2002"
started_ms=$(date +%s%3N)

within "v2026.8.0 holds at 50 % for approval of Mirroring" 60 \
	'd["percent"] == 50 and d["phase"] == "Held" and d["hold"]["approval"]["percent"] == 100'

# --- tenant routes, while the rollout holds: deleted or cleared through the Runtime API, back
# within a pass
tap_check "acme is routed to the canary pool" fleet_wait 10 acme_routed
hap "del map $map acme" >/dev/null
tap_check "deleted from the runtime map: back within a pass" fleet_wait 5 acme_routed
hap "clear map $map" >/dev/null
tap_check "the map cleared: back within a pass" fleet_wait 5 acme_routed

# --- drain before restart: long requests through HAProxy while the rollout holds at 50 %, some
# to stable-gw-a (weight 50 of 200), then the approval of Mirroring. Each prints node, HTTP
# status, sleptMs, and when it ended (epoch ms).
python3 -c '
import concurrent.futures, json, sys, time, urllib.request
url = sys.argv[1] + "/sim/slow?ms=" + sys.argv[2]
def one(_):
    req = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            d, code = json.loads(r.read()), r.status
    except Exception as e:
        d, code = {"node": "-", "sleptMs": 0}, getattr(e, "code", 0)
    return "%s %s %d %d" % (d["node"], code, d["sleptMs"], time.time() * 1000)
with concurrent.futures.ThreadPoolExecutor(12) as pool:
    print("\n".join(pool.map(one, range(12))))' "$FLEET_FRONTEND" "$SLOW_MS" >"$fleet/slow.out" 2>&1 &
slow_pid=$!
# sessions_on SERVER: HAProxy's count of the server's current sessions (show stat's scur).
sessions_on() { hap "show stat" | awk -F, -v s="$1" '$1 == "openclaw_gateways" && $2 == s { print $5 }'; }
a_busy() { [ "$(sessions_on stable-gw-a)" -gt 0 ] 2>/dev/null; }
tap_check "long requests are in flight to stable-gw-a" fleet_wait 10 a_busy
printf '  approval:\n    tag: v2026.8.0\n    through: full\n' >>"$FLEET_REPO/clawfleet/promotion.yaml"
git -C "$FLEET_REPO" commit -qam "fleet: approve v2026.8.0 in full" -m "Ticket: OPS-2002"

# The long requests end before stable-gw-a restarts.
draining= shown=
for _ in $(seq 300); do
	msg=$(status | python3 -c 'import json, sys; print([c["message"] for c in json.load(sys.stdin)["conditions"] if c["type"] == "Reconciling"][0])' 2>/dev/null)
	case $msg in *"draining stable-gw-a, "*" live session"*) draining=$msg ;; esac
	status 'd["servers"]["stable-gw-a"]["draining"] and d["servers"]["stable-gw-a"]["sessions"] > 0' && shown=1
	status 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"' && break
	sleep 0.2
done
within "v2026.8.0 Succeeded" 5 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'
wait "$slow_pid"
tap_check "the controller waited for stable-gw-a's live sessions" test -n "$draining"
echo "    $draining"
tap_check "/status showed stable-gw-a draining with its sessions" test -n "$shown"
on_a=$(grep -c '^stable-gw-a ' "$fleet/slow.out")
tap_check "long requests were in flight to stable-gw-a ($on_a of 12)" test "$on_a" -gt 0
tap_eq "every long request was answered in full" "" \
	"$(awk -v ms="$SLOW_MS" '$2 != 200 || $3 < ms - 50' "$fleet/slow.out")"
alog=$fleet/macs/stable-gw-a/sim/log
# Epoch milliseconds stay strings in awk: printed as numbers they would lose digits.
served=$(awk -v t="$started_ms" 'BEGIN { last = 0 } $1 >= t && $2 == "gateway" && $3 == "served" { last = $1 } END { print last }' "$alog")
restart=$(awk -v t="$started_ms" '$1 >= t && $2 == "launchctl" && $3 == "kickstart" { print $1; exit }' "$alog")
ended=$(awk 'BEGIN { e = 0 } $1 == "stable-gw-a" && $4 > e { e = $4 } END { print e }' "$fleet/slow.out")
tap_check "stable-gw-a's sim/log: the long requests served, then the restart" \
	test "$served" -gt 0 -a -n "$restart" -a "$served" -le "${restart:-0}"
tap_check "and every long request to it had ended before its restart" test "$ended" -le "${restart:-0}"
tap_check "the controller drained stable-gw-a before sending its target" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
drain = next(i for i, l in enumerate(lines) if "node stable-gw-a: server stable-gw-a drained" in l)
target = next(i for i, l in enumerate(lines) if "node stable-gw-a accepted target generation" in l and i > drain)
ready = next(i for i, l in enumerate(lines) if "node stable-gw-a: server stable-gw-a ready" in l and i > target)' "$log"
tap_check "and the canary before its restart in Shadow" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
shadow = next(i for i, l in enumerate(lines) if "phase Succeeded -> Shadow" in l)
drain = next(i for i, l in enumerate(lines) if "node canary-gw: server canary-gw drained" in l and i > shadow)
target = next(i for i, l in enumerate(lines) if "node canary-gw accepted target generation" in l and i > shadow)
assert drain < target' "$log"
tap_eq "every server ready (admin state 0) and at its declared weight again" \
	"canary-gw 0 100 stable-gw-a 0 100 stable-gw-b 0 100" \
	"$(hap "show servers state openclaw_gateways" | awk 'NF > 7 && $1 ~ /^[0-9]+$/ { print $4, $7, $8 }' | sort | tr '\n' ' ' | sed 's/ $//')"

within "/status: every server up, ready, without sessions" 5 \
	'all(s == {"health": "up", "draining": False, "sessions": 0} for s in d["servers"].values()) and len(d["servers"]) == 3'

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -40
tap_done
