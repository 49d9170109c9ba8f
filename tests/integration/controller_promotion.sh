#!/usr/bin/env bash
# Runs alone (tests/run): it follows rollout phases and timings that a second fleet's load would blur.
# The fleet controller on a simulated fleet (hack/fleet.sh: three Macs with real agents, a real
# HAProxy, a Git repository): a fleet with no build is brought up one node at a time; a new tag
# then goes through Shadow, the canary steps 10, 50 and 100 % and Mirroring to Succeeded, with
# the traffic through HAProxy measured at each step (1,000 requests, within 3 points of the
# step) and the canary tenant routed to the canary pool; every node ends on the tag with
# skills/current at the new semver, the weights back to the declared map, an audit chain that
# verifies, and `clawfleet status` and `clawfleet plan` agreeing that nothing is left to do
# (`clawfleet plan` also shows, before any controller ran, the bring-up it would start).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
BUILD=${BUILD:-build}
REQUESTS=1000
TOLERANCE=3
fleet=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-ctl-promo.XXXXXX")
cleanup() {
	fleet_down "$fleet"
	rm -rf "$fleet"
}
trap cleanup EXIT

if ! command -v haproxy >/dev/null; then
	tap_fail "haproxy is installed" "run hack/install-deps.sh (Debian package haproxy)"
	tap_done
	exit
fi
# analysisInterval 3s: each step holds long enough to measure the traffic split.
if ! fleet_up "$fleet" 3s; then
	tap_fail "the simulated fleet comes up" "$(tail -n 20 "$fleet"/logs/*.log)"
	tap_done
	exit
fi
tap_ok "the simulated fleet comes up"
. "$fleet/fleet.env"
status() { fleet_status "$FLEET_URL" "$@"; }
pyget() { python3 -c "import json, sys; print(json.loads(sys.argv[1])$2)" "$1"; }
# within NAME SECONDS EXPR: waits for the /status document to satisfy EXPR.
within() {
	if fleet_wait "$2" status "$3"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected: $3" "last /status: $(status)" \
			"$(tail -n 15 "$fleet/logs/controller.log")"
	fi
}
mac() { echo "$fleet/macs/$1"; }

# observe_fleet [STATE]: the fleet as the controller sees it, in the form `clawfleet plan
# --observed` reads: every agent's /readyz, HAProxy's weights, and the rollout state.
observe_fleet() {
	python3 -c '
import json, sys, urllib.error, urllib.request
def get(url):
    try:
        return json.loads(urllib.request.urlopen(url, timeout=2).read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())
names, ports = sys.argv[3::2], sys.argv[4::2]
doc = {"nodes": {n: get("http://127.0.0.1:%s/readyz" % p) for n, p in zip(names, ports)},
       "weights": dict(zip(sorted(names), map(int, sys.argv[1].split())))}
if sys.argv[2]:
    doc["state"] = json.load(open(sys.argv[2]))
json.dump(doc, sys.stdout)' "$(haproxy_weights)" "${1:-}" \
		canary-gw "$FLEET_AGENT_PORT_canary_gw" stable-gw-a "$FLEET_AGENT_PORT_stable_gw_a" \
		stable-gw-b "$FLEET_AGENT_PORT_stable_gw_b"
}

# --- clawfleet plan before any controller ran: the bring-up's first action, nothing done
observe_fleet >"$fleet/observed.json"
out=$("$FLEET_BIN" plan --observed "$fleet/observed.json" --ref main "$FLEET_REPO" 2>&1)
tap_contains "clawfleet plan: a fleet with no build starts its bring-up" "Idle -> Mirroring" "$out"
tap_contains "with the canary's target first" "NODE_TARGET canary-gw gen=1 tag=v2026.7.1 skills=1.4.2/current" "$out"
tap_check "and changes nothing" test ! -e "$FLEET_STATE/rollout.json" -a \
	"$(curl -s --max-time 2 "http://127.0.0.1:$FLEET_AGENT_PORT_canary_gw/readyz" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("observedGeneration", 0))')" = 0

fleet_controller "$fleet"
within "the controller serves /status" 10 'True'
tap_eq "/healthz" '{"ok":true}' "$(curl -s --max-time 2 "$FLEET_URL/healthz")"

# --- a fleet with no build: brought up one node at a time
within "no earlier build: bring-up, then Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_eq "/readyz once a pass has run" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$FLEET_URL/readyz")"
tap_check "every node reports v2026.7.1, skills 1.4.2, green" status \
	'all(n["tag"] == "v2026.7.1" and n["skills"] == "1.4.2" and n["status"] == "green" for n in d["nodes"].values()) and len(d["nodes"]) == 3'
tap_contains "the bring-up says so in the log" "no earlier version to compare a canary with" \
	"$(cat "$fleet/logs/controller.log")"
tap_check "the history records it" status \
	'd["history"][-1]["outcome"] == "succeeded" and d["history"][-1]["to"]["tag"] == "v2026.7.1"'

# --- a new tag: watched pass by pass, the split measured at each step
fleet_promote "$fleet" v2026.8.0 "fleet: promote v2026.8.0"
phases=()
measured=()
last=
check_step() { # PERCENT: the split while the controller holds at PERCENT
	local counts verdict
	counts=$(fleet_measure "$FLEET_FRONTEND" "$REQUESTS")
	# The step must still hold after the sample: otherwise the sample spans two steps.
	status "d['phase'] == 'Analysing' and d['percent'] == $1" || return 1
	verdict=$(python3 -c '
import sys
c = [int(x) for x in sys.argv[1].split()]
want, n, tol = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
got = 100.0 * c[0] / n
print("ok" if sum(c) == n and abs(got - want) <= tol else
      "planned %d %%, measured %.1f %% of %d answers (%s)" % (want, got, sum(c), sys.argv[1]))
' "$counts" "$1" "$REQUESTS" "$TOLERANCE")
	measured+=("$1")
	if [ "$verdict" = ok ]; then
		tap_ok "step $1 %: $REQUESTS requests through HAProxy split within $TOLERANCE points"
	else
		tap_fail "step $1 %: $REQUESTS requests through HAProxy split within $TOLERANCE points" \
			"$verdict"
	fi
	if [ "$1" -lt 100 ]; then
		counts=$(fleet_measure "$FLEET_FRONTEND" 100 acme)
		tap_eq "step $1 %: the canary tenant acme is routed to the canary pool" "100 0 0" "$counts"
	fi
}
for _ in $(seq 600); do
	doc=$(status) || { sleep 0.1; continue; }
	phase=$(pyget "$doc" '["phase"]')
	percent=$(pyget "$doc" '["percent"]')
	[ "$last" = "$phase" ] || phases+=("$phase")
	last=$phase
	if [ "$phase" = Analysing ] && [[ " ${measured[*]} " != *" $percent "* ]]; then
		check_step "$percent" || true
	fi
	[ "$phase" = Succeeded ] && [ "$(pyget "$doc" '["lastGood"]["tag"]')" = v2026.8.0 ] && break
	sleep 0.1
done
# Promoting and Analysing alternate once per step, and Finalising may last a single pass: the
# order is checked without them, the exact steps by the audit log below.
tap_eq "the phases pass in order" "Succeeded Shadow Analysing Mirroring Succeeded" \
	"$(printf '%s\n' "${phases[@]}" | grep -vx -e Promoting -e Finalising | uniq | tr '\n' ' ' | sed 's/ $//')"
tap_eq "the split was measured at every step" "10 50 100" "${measured[*]}"

# --- the end state
tap_check "every node reports v2026.8.0, skills 1.4.3, green" status \
	'all(n["tag"] == "v2026.8.0" and n["skills"] == "1.4.3" and n["status"] == "green" for n in d["nodes"].values())'
for node in $FLEET_NODES; do
	tap_eq "$node: skills/current -> 1.4.3 on disk" 1.4.3 \
		"$(readlink "$(mac "$node")/var/db/openclaw/skills/current")"
	tap_eq "$node: OpenClaw 2026.8.0 installed" "2026.8.0 (5e8d1aa)" \
		"$(cat "$(mac "$node")/sim/version")"
done
tap_check "the weights are back to the declared map" status \
	'd["weights"] == {"canary-gw": 100, "stable-gw-a": 100, "stable-gw-b": 100}'
tap_eq "HAProxy agrees" "100 100 100" "$(haproxy_weights)"
read -r on_canary _ <<<"$(fleet_measure "$FLEET_FRONTEND" 30 acme)"
tap_check "the canary tenant follows the main pool again" test "$on_canary" -lt 30
tap_check "Ready is True" status \
	'[c for c in d["conditions"] if c["type"] == "Ready"][0]["status"] == "True"'
audit=$FLEET_STATE/promotions.jsonl
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
tap_eq "one audit line per step: bring-up, its success, Shadow, 3 steps, Mirroring, success" \
	"step/Mirroring/0 succeeded/Succeeded/0 step/Shadow/0 step/Promoting/1 step/Promoting/2 step/Promoting/3 step/Mirroring/3 succeeded/Succeeded/3" \
	"$(python3 -c '
import json, sys
print(" ".join("%s/%s/%d" % (d["event"], d["phase"], d["step"]) for d in map(json.loads, open(sys.argv[1]))))' "$audit")"
tap_check "the promotion's lines name its author and ticket and carry the canary probe" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])][2:]
assert all(l["actor"] == "Test Author <author@example.com>" and l["ticket"] == "OPS-1042" for l in lines), lines
assert all(l["to"] == {"semver": "1.4.3", "tag": "v2026.8.0"} for l in lines)
assert all(len(l["probeSha256"]) == 64 for l in lines)' "$audit"

# --- what people read
out=$("$FLEET_BIN" status --url "$FLEET_URL")
tap_contains "clawfleet status: the phase" "Succeeded" "$out"
tap_eq "clawfleet status: one row per node" 3 \
	"$(grep -c '^[a-z-]* *green *v2026.8.0 *1.4.3 ' <<<"$out")"
out=$("$FLEET_BIN" status --url "$FLEET_URL" --json)
tap_check "clawfleet status --json: the documented fields" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert set(d) >= {"revision", "promotion", "phase", "step", "percent", "weights", "nodes",
                  "conditions", "quarantined", "history", "passes"}, sorted(d)
assert d["promotion"] == {"name": "gateway", "tag": "v2026.8.0", "skillSemver": "1.4.3"}
assert 0 < len(d["passes"]) <= 64 and d["passes"][-1]["green"]' "$out"
metrics=$(curl -s --max-time 2 "$FLEET_URL/metrics")
tap_contains "/metrics: the phase" 'clawfleet_rollout_phase{phase="Succeeded"} 1' "$metrics"
tap_contains "/metrics: node status" 'clawfleet_node_status{node="canary-gw",status="green"} 1' "$metrics"
tap_check "/metrics: targets were sent and counted" \
	grep -q '^clawfleet_actions_total{kind="node_target",result="ok"} [1-9]' <<<"$metrics"
# clawfleet plan, fed what the controller sees now, has nothing left to do.
observe_fleet "$FLEET_STATE/rollout.json" >"$fleet/observed.json"
out=$("$FLEET_BIN" plan --observed "$fleet/observed.json" --ref main "$FLEET_REPO" 2>&1)
tap_contains "clawfleet plan: Succeeded stays Succeeded with nothing to do" \
	"Succeeded -> Succeeded, 0 actions" "$out"

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: the controller exits 0" 0 $?

[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$fleet/logs/controller.log" | tail -40
tap_done
