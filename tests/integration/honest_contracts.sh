#!/usr/bin/env bash
# What the README promises about Git, Flux and SIGHUP, on a simulated fleet (hack/fleet.sh: real
# agents, a real HAProxy, the real controller):
# - a MacNode's weight changed in Git after a rollout is set in HAProxy within a few passes;
# - SIGHUP applies the webhook: added, the receiver answers (it was 404); a config with an error
#   keeps it and logs FILE:LINE:COL; removed, 404 again;
# - a commit that bumps only imageRef (what Flux writes) starts nothing: /status is Stalled with
#   ImageNotPinned and both versions, and the receiver answers hold with image.match false; the
#   commit that pins the version in openclaw.lock starts the rollout.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up honest 1s

tokens=$fleet/flux-tokens
"$FLEET_BIN" token stage --dir "$tokens" --actor test --ticket T-1 >/dev/null
"$FLEET_BIN" token promote --dir "$tokens" --actor test --ticket T-1 >/dev/null
key=$(cat "$tokens/token.current")
cp "$FLEET_CONFIG" "$fleet/controller-base.yaml"
hook=$FLEET_URL/hook/flux
echo 0 >"$fleet/events"
# post OUT: one new ImageUpdateAutomation event (a new timestamp each time, counted in a file
# since post runs in a subshell); prints the status.
post() {
	local n
	n=$(($(cat "$fleet/events") + 1))
	echo "$n" >"$fleet/events"
	curl -s --max-time 10 -o "$1" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $key" -H 'x-flux-event: true' --data-binary \
		"{\"involvedObject\":{\"kind\":\"ImageUpdateAutomation\",\"namespace\":\"flux-system\",\"name\":\"openclaw-fleet\",\"uid\":\"u-1\"},\"severity\":\"info\",\"reason\":\"Succeeded\",\"message\":\"pushed\",\"timestamp\":\"2026-12-07T05:$(printf %02d:%02d $((n / 60)) $((n % 60)))Z\"}" \
		"$hook"
}
answers() { [ "$(post "$fleet/reply")" = "$1" ]; }
# field EXPR: EXPR of the last reply's JSON (d).
field() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$fleet/reply" "$1"; }
stalled() { # REASON
	status "[c for c in d['conditions'] if c['type'] == 'Stalled'][0]['status'] == 'True' and [c for c in d['conditions'] if c['type'] == 'Stalled'][0]['reason'] == '$1'"
}

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_eq "HAProxy: every gateway at its declared weight" "100 100 100" "$(haproxy_weights)"

# --- a declared weight changed in Git, outside any rollout
fleet_sed "$FLEET_REPO/openclaw/nodes/stable-gw-a.yaml" 's/weight: 100/weight: 40/'
git -C "$FLEET_REPO" commit -qam "stable-gw-a: weight 40"
tap_check "a weight committed after Succeeded: HAProxy follows within a few passes" \
	fleet_wait 10 eval '[ "$(haproxy_weights)" = "100 40 100" ]'
tap_check "and the phase stays Succeeded" status 'd["phase"] == "Succeeded"'

# --- SIGHUP applies the webhook section
tap_eq "without a webhook block the receiver is not there" 404 "$(post "$fleet/reply")"
printf 'webhook: {path: /hook/flux, tokens: {dir: %s}}\n' "$tokens" >>"$FLEET_CONFIG"
kill -HUP "$FLEET_CONTROLLER_PID"
tap_check "a webhook block added and SIGHUP: the receiver answers 202" fleet_wait 10 answers 202
cp "$FLEET_CONFIG" "$fleet/controller-hook.yaml"
printf 'webhook:\n  path: /hook/flux\n  tokens: {dir: %s}\n  acept: []\n' "$tokens" \
	>"$fleet/webhook.yaml"
cat "$fleet/controller-base.yaml" "$fleet/webhook.yaml" >"$FLEET_CONFIG"
line=$(($(wc -l <"$fleet/controller-base.yaml") + 4))
kill -HUP "$FLEET_CONTROLLER_PID"
tap_check "a config with an error: logged at FILE:LINE:COL" fleet_wait 10 \
	grep -qF "controller.yaml:$line:3: -: webhook.acept: unknown key" "$log"
tap_check "and not applied" fleet_wait 5 grep -qF "config file has errors, not reloading" "$log"
tap_eq "the running receiver still answers" 202 "$(post "$fleet/reply")"
cp "$fleet/controller-base.yaml" "$FLEET_CONFIG"
kill -HUP "$FLEET_CONTROLLER_PID"
tap_check "the webhook block removed and SIGHUP: 404 again" fleet_wait 10 answers 404
cp "$fleet/controller-hook.yaml" "$FLEET_CONFIG"
kill -HUP "$FLEET_CONTROLLER_PID"
fleet_wait 10 answers 202 || tap_fail "the receiver comes back" "$(tail -n 15 "$log")"

# --- an imageRef that openclaw.lock does not pin
fleet_sed "$FLEET_REPO/clawfleet/promotion.yaml" 's/openclaw-gateway:2026.7.1/openclaw-gateway:2026.8.0/'
git -C "$FLEET_REPO" commit -qam "flux: bump imageRef to 2026.8.0"
within "a commit that bumps only imageRef: Stalled, ImageNotPinned" 15 \
	"[c for c in d['conditions'] if c['type'] == 'Stalled'][0]['reason'] == 'ImageNotPinned'"
tap_contains "the message names both versions" "names version 2026.8.0, but openclaw.lock pins 2026.7.1" \
	"$(status)"
tap_check "nothing moves: the fleet stays Succeeded on v2026.7.1" \
	status 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_eq "the receiver answers 202" 202 "$(post "$fleet/reply")"
tap_eq "with hold by image.match, match false, the pinned version" \
	"hold image.match False 2026.7.1" \
	"$(field 'd["verdict"], d["probeKey"], d["probes"]["image.match"]["match"], d["probes"]["image.match"]["pinnedVersion"]' | tr -d "(),'")"
fleet_promote "$fleet" v2026.8.0
within "the commit that pins 2026.8.0 in openclaw.lock starts the rollout" 20 \
	'd["phase"] not in ("Succeeded", "Idle")'
tap_check "and the stall is gone" eval '! stalled ImageNotPinned'
tap_done
