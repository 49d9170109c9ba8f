#!/usr/bin/env bash
# Runs alone (tests/run): it follows rollout phases and samples weights pass by pass.
# No red Mac keeps traffic, on a simulated fleet (hack/fleet.sh: real agents, a real HAProxy,
# the real notifier): a stable turning red in the steady state is drained (its HAProxy weight,
# read through the runtime API, goes to 0) and restored once green; with a second stable red,
# draining it would leave fewer gateways than minServing (50 % of three: two), so it keeps its
# traffic and /status says so in the Degraded condition, broadcast once; a red canary while the
# Promotion is suspended rolls back and is broadcast all the same, and `clawfleet status` says
# Suspended plainly; while a build is mirrored to the stables, every gateway but the one being
# changed keeps its declared weight, sampled in HAProxy while Mirroring lasts.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up safety 1s notifier
doctor() { # NODE green|yellow|red
	local file=$fleet/macs/$1/sim/doctor
	if [ "$2" = green ]; then rm -f "$file"; else echo "{\"verdict\":\"$2\"}" >"$file"; fi
}
haproxy_is() { [ "$(haproxy_weights)" = "$1" ]; }
# haproxy_holds NAME SECONDS WEIGHTS: HAProxy reports WEIGHTS all along.
haproxy_holds() {
	local i
	for i in $(seq $(($2 * 5))); do
		if ! haproxy_is "$3"; then
			tap_fail "$1" "expected: $3" "actual: $(haproxy_weights)"
			return
		fi
		sleep 0.2
	done
	tap_ok "$1"
}
# audit_has EVENT NODE REASON: a line of the audit log records it.
audit_has() {
	python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["event"] == sys.argv[2] and l.get("node") == sys.argv[3] and l["reason"] == sys.argv[4]
           for l in lines), [(l["event"], l.get("node"), l["reason"]) for l in lines]' \
		"$audit" "$1" "$2" "$3"
}
# broadcasts TEXT: how many messages the notifier's channel received with TEXT in them.
broadcasts() { grep -cF -- "$1" "$FLEET_CHANNEL"; }
degraded() { # REASON: the Degraded condition is True with REASON
	status "[c for c in d['conditions'] if c['type'] == 'Degraded'][0]['status'] == 'True' and [c for c in d['conditions'] if c['type'] == 'Degraded'][0]['reason'] == '$1'"
}

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_eq "HAProxy: every gateway at its declared weight" "100 100 100" "$(haproxy_weights)"

# --- a stable turning red in the steady state: drained, then restored once green
doctor stable-gw-a red
tap_check "a red stable in the steady state: its HAProxy weight goes to 0" \
	fleet_wait 10 haproxy_is "100 0 100"
tap_check "/status: Degraded, Drained" fleet_wait 5 degraded Drained
tap_check "the drain is recorded with the node and the first bad reason" \
	audit_has drained stable-gw-a doctor.red
tap_check "and broadcast" fleet_wait 5 test "$(broadcasts "drained stable-gw-a (doctor.red)")" = 1
doctor stable-gw-a green
tap_check "green again: restored to its declared weight" fleet_wait 10 haproxy_is "100 100 100"
tap_check "the restore is recorded" audit_has restored stable-gw-a doctor.red
tap_check "and broadcast" fleet_wait 5 test "$(broadcasts "restored stable-gw-a after 2")" = 1
tap_check "/status: Degraded is False again" fleet_wait 5 status \
	"[c for c in d['conditions'] if c['type'] == 'Degraded'][0]['status'] == 'False'"

# --- minServing: a second red stable keeps its traffic
doctor stable-gw-a red
tap_check "stable-gw-a red: drained" fleet_wait 10 haproxy_is "100 0 100"
doctor stable-gw-b red
tap_check "stable-gw-b red too: /status says MinServing" fleet_wait 10 degraded MinServing
haproxy_holds "stable-gw-b keeps its traffic (two of three gateways must serve)" 3 "100 0 100"
tap_eq "the hold is broadcast once" 1 "$(broadcasts "stable-gw-b is red (doctor.red) but keeps its traffic")"
out=$("$FLEET_BIN" status --url "$FLEET_URL")
tap_contains "clawfleet status shows the condition" "Degraded    True   MinServing: stable-gw-b is red" "$out"
doctor stable-gw-a green
tap_check "stable-gw-a back: now stable-gw-b is drained" fleet_wait 10 haproxy_is "100 100 0"
doctor stable-gw-b green
tap_check "both green: every gateway serves" fleet_wait 10 haproxy_is "100 100 100"

# --- suspended, and the canary turns red: rolled back all the same
fleet_promote "$fleet" v2026.8.0
within "v2026.8.0 reaches its first step" 30 'd["phase"] == "Analysing" and d["percent"] == 10'
fleet_spec "$fleet" suspend true
within "suspend: true is read" 10 'd["suspended"] and d["phase"] == "Analysing"'
out=$("$FLEET_BIN" status --url "$FLEET_URL")
tap_contains "clawfleet status says Suspended plainly" "phase       Suspended (Analysing), step 1 (10 %)" "$out"
doctor canary-gw red
within "a red canary while suspended: rolled back" 20 'd["phase"] == "RolledBack"'
tap_check "the rollback is recorded" python3 -c '
import json, sys
rb = [l for l in map(json.loads, open(sys.argv[1])) if l["event"] == "rollback"]
assert len(rb) == 1 and rb[0]["reason"] == "doctor.red" and rb[0]["from"]["tag"] == "v2026.8.0", rb' "$audit"
tap_check "and broadcast" fleet_wait 5 test "$(broadcasts "rolling back v2026.8.0")" -ge 1
doctor canary-gw green
fleet_spec "$fleet" suspend false
within "not suspended any more, every gateway serving" 15 \
	'not d["suspended"] and d["weights"] == {"canary-gw": 100, "stable-gw-a": 100, "stable-gw-b": 100}'

# --- mirroring keeps the fleet's capacity: sampled in HAProxy while Mirroring lasts
git -C "$FLEET_REPO" tag -a -m v2026.8.1 v2026.8.1 'v2026.8.0^{commit}'
sed -i 's/tag: v2026.8.0/tag: v2026.8.1/; s/suspend: true/suspend: false/' \
	"$FLEET_REPO/clawfleet/promotion.yaml"
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.1"
samples=()
for _ in $(seq 900); do
	phase=$(status | python3 -c 'import json, sys; print(json.load(sys.stdin)["phase"])' 2>/dev/null)
	case $phase in
	Mirroring) samples+=("$(haproxy_weights | tr ' ' ,)") ;;
	Finalising | Succeeded) [ ${#samples[@]} -gt 0 ] && break ;;
	esac
	sleep 0.1
done
tap_check "Mirroring was sampled" test ${#samples[@]} -ge 3
tap_check "while mirroring, only the gateway being changed is out; the others keep 100" python3 -c '
import sys
bad = [s for s in sys.argv[1:] if sorted(s.split(",")) not in (["0", "100", "100"], ["100", "100", "100"])]
assert not bad, bad' "${samples[@]}"
# What the controller set and read back while Mirroring: the samples above may miss a short
# turn on a loaded machine, its log does not.
tap_check "both stables were taken out in turn, each alone" python3 -c '
import re, sys
lines = open(sys.argv[1]).read().splitlines()
start = max(i for i, l in enumerate(lines) if "phase Analysing -> Mirroring" in l)
end = next(i for i in range(start, len(lines)) if "phase Mirroring -> Finalising" in lines[i])
out = []
for l in lines[start:end]:
    m = re.search(r"SET_WEIGHTS (.*): read back", l)
    if m:
        w = dict(kv.split("=") for kv in m.group(1).split())
        zero = sorted(k for k, v in w.items() if v == "0")
        assert len(zero) <= 1 and all(v == "100" for k, v in w.items() if k not in zero), l
        if zero and (not out or out[-1] != zero[0]):
            out.append(zero[0])
assert sorted(out) == ["stable-gw-a", "stable-gw-b"], out' "$log"
within "Succeeded on v2026.8.1" 30 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.1"'
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
