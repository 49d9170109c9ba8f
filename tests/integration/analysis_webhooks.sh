#!/usr/bin/env bash
# Webhooks as gates (Flagger's types and payload) on a simulated fleet behind a real HAProxy,
# against hack/sim/webhook_server.py: a pre-rollout hook answering 500 fails the rollout in
# Shadow before any weight moves (HAProxy's weights unchanged, the hook named in the reason);
# after a retry, a confirm-promotion hook answering 503 holds before Mirroring (Held, the hook
# named in /status) until it answers 200, and the rollout Succeeds; the payloads are Flagger's
# and the event hook hears of the phase changes.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up hooks 1s
promotion=$FLEET_REPO/clawfleet/promotion.yaml
hooks=$fleet/hooks
mkdir -p "$hooks/status"
python3 hack/sim/webhook_server.py "$hooks/port" "$hooks" &
hooks_pid=$!
trap 'kill "$hooks_pid" 2>/dev/null; fleet_down "$fleet"; rm -rf "$fleet"' EXIT
fleet_wait 10 test -s "$hooks/port" || tap_fail "the webhook receiver listens"
hook_url=http://127.0.0.1:$(cat "$hooks/port")
answer() { echo "$2" >"$hooks/status/$1"; } # answer PATH STATUS
# webhooks YAML_ITEMS: spec.canary.analysis.webhooks of main's Promotion (items indented 8).
webhooks() {
	python3 - "$promotion" "$1" <<'PY'
import re, sys
path, items = sys.argv[1:3]
text = open(path).read()
text = re.sub(r"(?m)^    analysis:.*(\n      .*)*", "    analysis:\n      minSamples: 1\n      webhooks:\n" + items, text, count=1)
open(path, "w").write(text)
PY
}
received() { # received PYTHON_EXPR over r = the list of {"path", "body"} received
	python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$hooks/received.jsonl" "$1"
}

# Passes every half second while the rollout is under way (the pass interval is the source's,
# at most 1s): the hooks' retries and the mirroring go twice as fast.
fleet_sed "$fleet/controller.yaml" -e 's|interval: 1s|interval: 500ms|'
fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
before=$(haproxy_weights)

# --- a pre-rollout hook that fails: the rollout stops before any weight moves
git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock
fleet_sed "$promotion" -e 's|^    greenWindows: .*|    greenWindows: 1|'
answer smoke 500
webhooks "        - name: smoke
          type: pre-rollout
          url: $hook_url/smoke
          timeout: 2s
          metadata:
            cmd: hey -z 1m http://canary
        - name: events
          type: event
          url: $hook_url/events
"
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0 behind a smoke test"
within "pre-rollout answers 500: the rollout fails in Shadow" 40 \
	'd["phase"] == "RolledBack" and d["history"][-1]["reason"] == "webhook.pre-rollout.smoke"'
tap_eq "HAProxy's weights never moved" "$before" "$(haproxy_weights)"
tap_check "/status shows the hook's calls: 500 after 3 attempts" status \
	'[h for h in d["analysis"]["webhooks"] if h["name"] == "smoke"][0]["status"] == 500 and [h for h in d["analysis"]["webhooks"] if h["name"] == "smoke"][0]["attempts"] == 3'
tap_check "the pre-rollout payload is Flagger's" received '
[b for b in (x["body"] for x in r if x["path"] == "/smoke")
 if b["name"] == "gateway" and b["namespace"] == "clawfleet" and b["phase"] == "Progressing"
 and len(b["checksum"]) == 16 and b["metadata"] == {"cmd": "hey -z 1m http://canary"}]'
tap_check "/metrics counts the calls" sh -c "curl -sf '$FLEET_URL/metrics' | grep -q 'clawfleet_webhook_calls_total{webhook=\"smoke\",result=\"rejected\"} 3'"

# --- a confirm-promotion hook: held before Mirroring until it answers 200
at=$(status | python3 -c 'import json, sys; print(json.load(sys.stdin)["quarantine"][0]["quarantinedAt"])')
answer qa-gate 503
webhooks "        - name: qa-gate
          type: confirm-promotion
          url: $hook_url/qa-gate
        - name: events
          type: event
          url: $hook_url/events
"
printf '  retry:\n    tag: v2026.8.0\n    quarantinedAt: "%s"\n' "$at" >>"$promotion"
# One step: the gate before Mirroring is what this part is about.
fleet_sed "$promotion" -e 's|^    steps: .*|    steps: [50]|'
git -C "$FLEET_REPO" commit -qam "fleet: retry v2026.8.0 behind a QA gate"
within "confirm-promotion answers 503: Held before Mirroring, the hook named" 60 \
	'd["phase"] == "Held" and d["hold"]["reason"] == "webhook.confirm-promotion" and [c for c in d["conditions"] if c["type"] == "Ready"][0]["message"] == "waiting for confirm-promotion hook \"qa-gate\": HTTP 503"'
# asked_again N: the QA gate got at least N calls.
asked_again() { [ "$(grep -c '"/qa-gate"' "$hooks/received.jsonl")" -ge "$1" ]; }
tap_check "the gate was asked again (3 attempts a call, asked again 3 s after)" \
	fleet_wait 10 asked_again 4
tap_check "still held after it said no again" status 'd["phase"] == "Held"'
answer qa-gate 200
within "confirm-promotion answers 200: the rollout moves on and Succeeds" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'
tap_check "the hold and the gate's pass are in the audit" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["event"] == "held" and "confirm-promotion hook \"qa-gate\": HTTP 503" in l["reason"] for l in lines)
assert any(l["event"] == "step" and "confirm-promotion hook \"qa-gate\": HTTP 200" in l["reason"] for l in lines)' "$audit"
# The event of the pass that entered Succeeded goes out beside the next passes.
events_heard='any(x["path"] == "/events" and "Analysing -> Held" in x["body"]["metadata"]["eventMessage"] and x["body"]["phase"] == "Waiting" and x["body"]["metadata"]["eventType"] == "Warning" for x in r) and any(x["path"] == "/events" and x["body"]["phase"] == "Succeeded" and x["body"]["metadata"]["eventType"] == "Normal" and x["body"]["metadata"]["timestamp"].isdigit() for x in r)'
if fleet_wait 10 received "$events_heard"; then
	tap_ok "the event hook heard the phase changes, with Flagger's event metadata"
else
	tap_fail "the event hook heard the phase changes, with Flagger's event metadata" \
		"$(grep /events "$hooks/received.jsonl")"
fi
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
