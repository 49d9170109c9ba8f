#!/usr/bin/env bash
# Runs alone (tests/run): it judges when a step moves, which a second fleet's load would blur.
# The canary's analysis on a simulated fleet (hack/fleet.sh, real agents and HAProxy), with
# windows of 2s in two parts (minSamples 2): a canary made slow (gateway.control slowMs) at many
# times its stable peers' p95 is rolled back, and its agent keeps the baseline of the build
# before; every gateway slowed alike (the canary at 6x its own old baseline, equal to its peers)
# does not roll back; a controller killed for two windows in Analysing starts the open window
# anew on restart instead of moving to the next step at once.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
INTERVAL_S=2
FLEET_MIN_SAMPLES=2 fleet_test_up analysis "${INTERVAL_S}s"
port_of() { eval echo "\$FLEET_AGENT_PORT_$(fleet_var "$1")"; }
# readyz NODE [PYTHON EXPR]: the node's agent /readyz; with EXPR, 0 when it holds for d.
readyz() {
	local doc
	doc=$(curl -s --max-time 2 "http://127.0.0.1:$(port_of "$1")/readyz") || return 1
	[ $# -lt 2 ] && { echo "$doc"; return 0; }
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$doc" "$2"
}
slow() { # NODE MS: every answer of the node's gateway takes MS (0: none)
	echo "{\"slowMs\":$2}" >"$fleet/macs/$1/sim/gateway.control"
}
# promote_again TAG: a new tag on v2026.8.0's commit, promoted: another build of the same tree.
promote_again() {
	git -C "$FLEET_REPO" tag -a -m "$1" "$1" 'v2026.8.0^{commit}' &&
		git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock &&
		sed -i "s/tag: v2026.8.0/tag: $1/" "$FLEET_REPO/clawfleet/promotion.yaml" &&
		git -C "$FLEET_REPO" commit -qam "fleet: promote $1"
}
audit_has() { # PYTHON EXPR over the audit lines l
	python3 -c '
import json, sys
l = [json.loads(x) for x in open(sys.argv[1])]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$audit" "$1"
}
ms_of() { python3 -c 'import datetime, sys; print(int(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000))' "$1"; }

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'

# --- a canary slower than its peers: rolled back, and its agent keeps the old baseline
fleet_promote "$fleet" v2026.8.0
within "v2026.8.0 reaches its first step" 40 'd["phase"] == "Analysing" and d["percent"] == 10'
slow canary-gw 400
within "the canary at 400 ms against peers at a few: RolledBack" 30 'd["phase"] == "RolledBack"'
tap_check "the controller's reason: its p95 against its peers'" status \
	'd["history"][-1]["outcome"] == "rolled_back" and d["history"][-1]["reason"] == "latency.peers"'
tap_check "and it is recorded" audit_has \
	'[x["reason"] for x in l if x["event"] == "rollback"] == ["latency.peers"]'
tap_check "the canary's agent, judging only itself, says green" \
	readyz canary-gw 'd["status"] == "green" and d["latency"]["p95ms"] >= 250'
tap_check "its baseline is not the rolled-back build's p95" \
	readyz canary-gw '0 < d["latency"]["baselineP95ms"] < 50'
tap_check "and its agent says why" grep -q "latency baseline kept at .*rolled back" \
	"$fleet/logs/agent-canary-gw.log"

# --- every gateway slowed alike: the canary equals its peers, nothing rolls back
slow canary-gw 300
slow stable-gw-a 300
slow stable-gw-b 300
stables_slow() {
	readyz stable-gw-a 'd["latency"]["p95ms"] >= 250' && readyz stable-gw-b 'd["latency"]["p95ms"] >= 250'
}
tap_check "the stable gateways' p95 rises" fleet_wait 30 stables_slow
promote_again v2026.9.0
within "v2026.9.0 reaches its first step" 40 'd["phase"] == "Analysing" and d["percent"] == 10'
tap_check "the canary is 6x its own old baseline: a note, green" fleet_wait 15 readyz canary-gw \
	'd["status"] == "green" and d["latency"]["p95ms"] >= 250 and "latency.p95" in [r["code"] for r in d["reasons"]]'
within "equal to its peers, it moves on to 50 %" 30 \
	'd["phase"] == "Analysing" and d["percent"] == 50 and d["promotion"]["tag"] == "v2026.9.0"'
tap_check "and nothing rolled back" audit_has \
	'[x["reason"] for x in l if x["event"] == "rollback"] == ["latency.peers"]'
for node in $FLEET_NODES; do slow "$node" 0; done

# --- a controller killed for two windows in step 2 starts the open window anew
kill -9 "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID" 2>/dev/null
sleep $((2 * INTERVAL_S + 1))
restarted=$(date +%s%3N)
fleet_controller "$fleet"
within "after the restart, step 3 (100 %) comes" 30 \
	'd["percent"] == 100 and d["promotion"]["tag"] == "v2026.9.0"'
stepped=$(python3 -c '
import json, sys
print([d for d in map(json.loads, open(sys.argv[1])) if d["event"] == "step" and d["step"] == 3 and d["to"]["tag"] == "v2026.9.0"][0]["ts"])' "$audit")
tap_check "only after a whole window of ${INTERVAL_S}s observed since the restart" \
	test $(($(ms_of "$stepped") - restarted)) -ge $((INTERVAL_S * 1000))
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
