#!/usr/bin/env bash
# Reasons where people look, on a simulated fleet (hack/fleet.sh): a commit with a broken YAML
# file shows in /status (sourceError and the SourceFailed condition) and in `clawfleet status` as
# FILE:LINE:COL of the problem, and goes away when the commit is reverted; a stable gateway whose
# doctor turns red shows in `clawfleet status` as red, since when (statusSince, kept across
# passes) and its first reason with the doctor's first bad finding, and green again when it is;
# a rollout held by a yellow canary says what it waits for and how long until maxHold.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up reasons 2s
table() { "$FLEET_BIN" status --url "$FLEET_URL"; }
# field EXPR: a value of the /status document, d.
field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$(status)" "$1"; }
doctor() { # NODE VERDICT
	if [ "$2" = green ]; then rm -f "$fleet/macs/$1/sim/doctor"; else echo "{\"verdict\":\"$2\"}" >"$fleet/macs/$1/sim/doctor"; fi
}

fleet_controller "$fleet"
within "bring-up: every node green on v2026.7.1" 90 \
	'd["phase"] == "Succeeded" and all(n["status"] == "green" for n in d["nodes"].values())'

# --- a broken commit: where, not only how many
good=$(git -C "$FLEET_REPO" rev-parse HEAD)
printf 'apiVersion: fleet.openclaw.io/v1alpha1\nkind: MacNode\nmetadata:\n  name: spare\nspec:\n  role: [gateway\n' \
	>"$FLEET_REPO/openclaw/nodes/spare.yaml"
git -C "$FLEET_REPO" add -A && git -C "$FLEET_REPO" commit -qm "fleet: a node with a typo"
bad=$(git -C "$FLEET_REPO" rev-parse HEAD)
within "/status: sourceError names the broken commit's file and line" 20 \
	'(d["sourceError"] or "").count("\nopenclaw/nodes/spare.yaml:") == 1'
tap_check "the count is kept on the first line" status \
	"d['sourceError'].split('\n')[0] == 'main@sha1:$bad is invalid (1 error); keeping main@sha1:$good'"
tap_check "the line is FILE:LINE:COL: as clawfleet validate prints it" bash -c '
	want=$("$1" validate --ref main "$2" 2>/dev/null | head -1)
	[ -n "$want" ] && grep -qxF -- "$want" <<<"$3"' _ "$FLEET_BIN" "$FLEET_REPO" "$(field 'd["sourceError"]')"
tap_check "the SourceFailed condition carries the same text" status \
	'[c for c in d["conditions"] if c["type"] == "Stalled"][0]["message"] == d["sourceError"] and [c for c in d["conditions"] if c["type"] == "Stalled"][0]["reason"] == "SourceFailed"'
out=$(table)
tap_check "clawfleet status shows the file and line under source" \
	grep -Eq '^ {12}openclaw/nodes/spare\.yaml:[0-9]+:[0-9]+: ' <<<"$out"
tap_contains "clawfleet status: the summary" "source      main@sha1:$bad is invalid (1 error)" "$out"
git -C "$FLEET_REPO" revert --no-edit HEAD >/dev/null
within "reverted: sourceError is gone" 20 'd["sourceError"] is None'

# --- a stable gateway turns red: status, since when, first reason
before=$(date -u +%Y-%m-%dT%H:%M:%S)
doctor stable-gw-b red
within "stable-gw-b is red with doctor.red first" 20 \
	'd["nodes"]["stable-gw-b"]["status"] == "red" and d["nodes"]["stable-gw-b"]["reason"]["code"] == "doctor.red"'
since=$(field 'd["nodes"]["stable-gw-b"]["statusSince"]')
tap_check "statusSince is when it turned red" test "${since:0:19}" \> "$before" -o "${since:0:19}" = "$before"
tap_check "/status: the doctor's first bad finding" status \
	'd["nodes"]["stable-gw-b"]["doctorFirstBad"]["checkId"] == "skills.semver" and d["nodes"]["stable-gw-b"]["doctorFirstBad"]["line"] == 3'
last=$(field 'd["passes"][-1]["at"]')
fleet_wait 10 status "d['passes'][-1]['at'] > '$last'"
tap_eq "statusSince stays while the status does" "$since" "$(field 'd["nodes"]["stable-gw-b"]["statusSince"]')"
out=$(table)
row=$(grep '^stable-gw-b ' <<<"$out")
tap_check "clawfleet status: the row says red, since when and doctor.red" \
	grep -Eq '^stable-gw-b +red +v2026\.7\.1 +1\.4\.2 +[0-9]+ +[0-9]+[smhd][0-9a-z]* +doctor\.red$' <<<"$row"
tap_check "clawfleet status: below it, the doctor's first bad finding and its fix" bash -c '
	grep -A2 "^stable-gw-b " <<<"$1" | grep -q "^ \{25\}doctor: skills.semver: skill pack 1.4.3 does not match openclaw.lock 1.4.2 (.*/openclaw.lock:3:12)$" &&
	grep -A2 "^stable-gw-b " <<<"$1" | grep -q "^ \{25\}fix: reinstall the skill pack pinned by openclaw.lock$"' _ "$out"
doctor stable-gw-b green
within "green again: a new statusSince" 20 \
	"d['nodes']['stable-gw-b']['status'] == 'green' and d['nodes']['stable-gw-b']['statusSince'] > '$since'"

# --- a hold: what it waits for, how long until maxHold (30m in the example Promotion)
fleet_promote "$fleet" v2026.8.0
within "v2026.8.0 reaches its first step" 40 'd["phase"] == "Analysing" and d["percent"] == 10'
doctor canary-gw yellow
within "a yellow canary: Held, waiting for it" 20 \
	'd["phase"] == "Held" and d["hold"]["node"] == "canary-gw" and d["hold"]["reason"] == "doctor.yellow"'
ms_of() { python3 -c 'import datetime, sys; print(int(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000))' "$1"; }
tap_eq "/status: the hold ends maxHold after it began" $((30 * 60 * 1000)) \
	$(($(ms_of "$(field 'd["hold"]["deadline"]')") - $(ms_of "$(field 'd["hold"]["since"]')")))
out=$(table)
tap_check "clawfleet status: what the hold waits for and the time left" grep -Eq \
	'^hold {8}waiting for canary-gw to report green \(it reports doctor\.yellow\), held [0-9]+s; (29m[0-9]+s|30m0s) left of maxHold 30m$' <<<"$out"
tap_check "clawfleet status: the canary's row and its doctor finding" bash -c '
	grep -A1 "^canary-gw " <<<"$1" | head -1 | grep -Eq " degraded .* doctor\.yellow$" &&
	grep -A1 "^canary-gw " <<<"$1" | grep -q "^ \{25\}doctor: gateway.latency: p95 above target$"' _ "$out"

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_done
