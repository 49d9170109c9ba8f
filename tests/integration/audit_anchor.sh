#!/usr/bin/env bash
# The audit anchor and a state directory that cannot be written, on a simulated fleet
# (hack/fleet.sh, the file load balancer): a rollout state that cannot be saved shows
# StateUnwritable and nothing is done until a save succeeds; an audit log cut while the
# controller was stopped stalls it with AuditChainBroken, says what was lost, and nothing is
# acted or cut; a temporary file a crash left in the state directory is removed at start.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
FLEET_LB=file
fleet=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-anchor.XXXXXX")
trap 'chmod -R u+rwX "$fleet" 2>/dev/null; fleet_down "$fleet"; rm -rf "$fleet"' EXIT
if ! fleet_up "$fleet" 1s; then
	tap_fail "the simulated fleet comes up" "$(tail -n 20 "$fleet"/logs/*.log)"
	tap_done
	exit
fi
. "$fleet/fleet.env"
log=$fleet/logs/controller.log
audit=$FLEET_STATE/promotions.jsonl
status() { fleet_status "$FLEET_URL" "$@"; }
within() {
	if fleet_wait "$2" status "$3"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected: $3" "last /status: $(status)" "$(tail -n 15 "$log")"
	fi
}
# Root writes through a mode 0500 directory; without CAP_DAC_OVERRIDE it cannot.
real_bin=$FLEET_BIN
if [ "$(id -u)" = 0 ]; then
	printf '#!/bin/sh\nexec setpriv --bounding-set=-dac_override,-dac_read_search,-fowner -- %s "$@"\n' \
		"$real_bin" >"$fleet/clawfleet"
	chmod +x "$fleet/clawfleet"
	FLEET_BIN=$fleet/clawfleet
fi
cond() { # TYPE REASON: the condition's message when it holds with that reason, else nothing
	status "True" >/dev/null && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(next((c["message"] for c in d["conditions"]
            if c["type"] == sys.argv[2] and c["status"] == "True" and c["reason"] == sys.argv[3]), ""))' \
		"$(status)" "$1" "$2"
}

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 'd["phase"] == "Succeeded"'
lines=$(wc -l <"$audit")
tap_eq "the anchor beside the state names the log's last line" \
	"$("$real_bin" audit head "$audit")" \
	"$(python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); print("--head %s --lines %d" % (a["head"], a["lines"]))' "$FLEET_STATE/audit-anchor.json")"

# --- a state directory that cannot be written
chmod 500 "$FLEET_STATE"
fleet_promote "$fleet" v2026.8.0
kill -HUP "$FLEET_CONTROLLER_PID"
within "a state that cannot be saved: StateUnwritable, PermissionDenied" 20 \
	'any(c["type"] == "StateUnwritable" and c["status"] == "True" and c["reason"] == "PermissionDenied" and "Permission denied" in c["message"] for c in d["conditions"])'
tap_check "clawfleet status shows it" sh -c \
	"'$real_bin' status --url '$FLEET_URL' 2>&1 | grep -q 'StateUnwritable True'"
sleep 2
tap_check "and nothing is done: the rollout stays Succeeded on v2026.7.1" status \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_eq "no audit line is written meanwhile" "$lines" "$(wc -l <"$audit")"
chmod 700 "$FLEET_STATE"
kill -HUP "$FLEET_CONTROLLER_PID"
within "writable again: StateUnwritable cleared and the promotion starts" 20 \
	'not any(c["type"] == "StateUnwritable" for c in d["conditions"]) and d["promotion"]["tag"] == "v2026.8.0" and d["phase"] != "Succeeded"'
tap_contains "both are logged" "the rollout state is saved again" "$(cat "$log")"
kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"

# --- an audit log that lost lines while the controller was stopped
lines=$(wc -l <"$audit")
head -n 1 "$audit" >"$fleet/cut" && cat "$fleet/cut" >"$audit"
size=$(wc -c <"$audit")
state=$(cat "$FLEET_STATE/rollout.json")
printf 'half a state' >"$FLEET_STATE/rollout.json.tmp-Ab12Cd"
fleet_controller "$fleet"
within "a cut audit log stalls the controller: Stalled, AuditChainBroken" 20 \
	'any(c["type"] == "Stalled" and c["status"] == "True" and c["reason"] == "AuditChainBroken" for c in d["conditions"])'
tap_contains "the message says what was lost" \
	"has 1 line, the state recorded $lines: $((lines - 1)) lines lost after line 1" \
	"$(cond Stalled AuditChainBroken)"
tap_check "/healthz answers" curl -sf --max-time 2 "$FLEET_URL/healthz"
sleep 3
tap_eq "nothing is acted: the rollout state is as it was" "$state" "$(cat "$FLEET_STATE/rollout.json")"
tap_eq "and the audit log is neither cut nor written" "$size" "$(wc -c <"$audit")"
tap_contains "it is logged with what to do" "lines lost after line 1; no action is taken until the audit log is repaired (\`clawfleet audit verify" \
	"$(cat "$log")"
tap_check "the temporary file a crash left is removed" test ! -e "$FLEET_STATE/rollout.json.tmp-Ab12Cd"
tap_contains "and logged" "rollout.json.tmp-Ab12Cd (12 bytes), left by a write that a crash interrupted" \
	"$(cat "$log")"
kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -40
tap_done
