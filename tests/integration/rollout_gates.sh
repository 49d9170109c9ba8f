#!/usr/bin/env bash
# Manual gates and the quarantine a retry lifts, through Git commits on a
# simulated fleet (hack/fleet.sh): a Promotion with canary.gates [50] holds at 10 % (Held,
# waiting for approval of 50 %) with no maxHold deadline; an approval recorded for another tag
# changes nothing; `clawfleet rollout promote` pushes the approval for this tag through 50 (a
# one-commit diff) and the step goes. A red canary at 50 %
# rolls back and quarantines the tag; /status says how to lift it and that Git still names it;
# a spec.retry naming another time lifts nothing, `clawfleet rollout retry` copies the time from
# /status and lifts it (recorded)
# and the tag starts again, its approval still counting. (rollout_window.sh: the window.)
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up gates 1s
promotion=$FLEET_REPO/clawfleet/promotion.yaml
doctor() { # green|red: the canary's simulated doctor
	local file=$fleet/macs/canary-gw/sim/doctor
	if [ "$1" = green ]; then rm -f "$file"; else echo "{\"verdict\":\"$1\"}" >"$file"; fi
}
# spec_append MESSAGE LINES: LINES added to the Promotion's spec, committed.
spec_append() {
	printf '%s\n' "$2" >>"$promotion" && git -C "$FLEET_REPO" commit -qam "$1"
}
# holds NAME SECONDS EXPR: EXPR stays true for SECONDS.
holds() {
	local i
	for i in $(seq $(($2 * 5))); do
		if ! status "$3"; then
			tap_fail "$1" "stopped holding: $3" "last /status: $(status)"
			return
		fi
		sleep 0.2
	done
	tap_ok "$1"
}
# audit_reason EVENT TEXT: a line of the audit log has EVENT and TEXT in its reason.
audit_reason() {
	python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["event"] == sys.argv[2] and sys.argv[3] in l["reason"] for l in lines), \
    [(l["event"], l["reason"]) for l in lines]' "$audit" "$1" "$2"
}
held_at_gate='d["phase"] == "Held" and d["percent"] == 10 and d["hold"]["approval"]["percent"] == 50'

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'

# --- a gate at 50 %: held for a person
git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock
# One green window a step: the gates, not the analysis, are what this script watches.
fleet_sed "$promotion" -e 's|^    steps: \(.*\)|    steps: \1\
    gates: [50]|' -e 's|^    greenWindows: .*|    greenWindows: 1|'
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0, a person approves 50 %"
within "the gate holds at 10 %: Held, waiting for approval of 50 %" 30 "$held_at_gate"
tap_check "it says what it waits for and which command approves it" status \
	'd["hold"]["waitingFor"] == "approval of 50 % (clawfleet rollout promote)" and d["hold"]["reason"] == "approval" and d["hold"]["deadline"] is None'
tap_check "no condition stalls: a person decides" status \
	'[c for c in d["conditions"] if c["type"] == "Stalled"][0]["status"] == "False" and [c for c in d["conditions"] if c["type"] == "Ready"][0]["message"] == "waiting for approval of 50 % (clawfleet rollout promote)"'
tap_check "the hold is recorded" audit_reason held "waiting for approval of 50 %"
spec_append "fleet: approve v2026.7.1 in full" "  approval:
    tag: v2026.7.1
    through: full"
holds "an approval for another tag does not count" 2 "$held_at_gate"
# The operator's remote: a bare clone `clawfleet rollout` pushes to, which the fleet's repository
# (read in place by the controller) then pulls, as a controller's mirror fetches.
git clone -q --bare "$FLEET_REPO" "$fleet/remote.git"
tap_check "clawfleet rollout promote pushes the approval of the next gate" \
	"$FLEET_BIN" rollout promote --source "$fleet/remote.git" --ref main --controller "$FLEET_URL" \
	--ticket OPS-3000 --author "Ops <ops@example.com>"
tap_check "which names this tag, through 50 %" python3 -c '
import subprocess, sys
diff = subprocess.run(["git", "-C", sys.argv[1], "show", "--format=", "main"], capture_output=True, text=True).stdout
changed = [l for l in diff.splitlines() if l[:1] in ("+", "-") and l[:3] not in ("+++", "---")]
assert changed == ["-    tag: v2026.7.1", "-    through: full", "+    tag: v2026.8.0", "+    through: 50"], changed' \
	"$fleet/remote.git"
git -C "$FLEET_REPO" pull -q --ff-only "$fleet/remote.git" main
within "the approval for v2026.8.0 through 50 lets the step go" 20 \
	'd["phase"] in ("Promoting", "Analysing") and d["percent"] == 50'
tap_check "the step records the approval" audit_reason step "approved: 50 %"

# --- red at 50 %: rolled back and quarantined; lifted by a retry only
doctor red
within "a red canary at 50 %: RolledBack" 30 'd["phase"] == "RolledBack"'
tap_check "/status: how to lift the quarantine" status \
	'd["quarantine"][0]["tag"] == "v2026.8.0" and d["quarantine"][0]["lift"].startswith("clawfleet rollout retry v2026.8.0")'
tap_check "/status: Git still names the rolled-back tag" status \
	'd["gitNamesQuarantinedTag"] is True and "clawfleet rollout undo" in d["gitNamesMessage"] and "v2026.7.1" in d["gitNamesMessage"]'
doctor green
at=$(status | python3 -c 'import json, sys; print(json.load(sys.stdin)["quarantine"][0]["quarantinedAt"])')
spec_append "fleet: retry v2026.8.0 (not that quarantine)" "  retry:
    tag: v2026.8.0
    quarantinedAt: \"2020-01-01T00:00:00.000Z\""
holds "a retry of another quarantine lifts nothing" 2 \
	'd["phase"] == "RolledBack" and d["quarantined"] == ["v2026.8.0"]'
git -C "$FLEET_REPO" push -q "$fleet/remote.git" main
tap_check "clawfleet rollout retry pushes one commit with the time /status gives ($at)" \
	"$FLEET_BIN" rollout retry v2026.8.0 --source "$fleet/remote.git" --ref main --controller "$FLEET_URL" \
	--ticket OPS-3001 --author "Ops <ops@example.com>" --message "retry after the fix"
git -C "$FLEET_REPO" pull -q --ff-only "$fleet/remote.git" main
tap_check "which changes the one line of spec.retry.quarantinedAt, with its ticket" python3 -c '
import subprocess, sys
repo, at = sys.argv[1:3]
diff = subprocess.run(["git", "-C", repo, "show", "--format=%B", "main"], capture_output=True, text=True).stdout
changed = [l for l in diff.splitlines() if l[:1] in ("+", "-") and l[:3] not in ("+++", "---")]
assert changed == ["-    quarantinedAt: \"2020-01-01T00:00:00.000Z\"", "+    quarantinedAt: \"%s\"" % at], changed
assert "Ticket: OPS-3001" in diff, diff' "$fleet/remote.git" "$at"
within "the retry copied from /status lifts it: v2026.8.0 starts again" 30 \
	'd["quarantined"] == [] and d["phase"] not in ("RolledBack", "Succeeded") and d["rollout"]["tag"] == "v2026.8.0"'
tap_check "the lift is recorded" audit_reason lifted "lifted the quarantine of v2026.8.0"
within "approved through 50 already: the started-again rollout passes the gate" 30 \
	'd["rollout"]["tag"] == "v2026.8.0" and d["percent"] == 50 and d["phase"] != "Held"'
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
