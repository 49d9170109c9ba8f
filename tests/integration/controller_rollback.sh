#!/usr/bin/env bash
# Runs alone (tests/run): it follows rollout phases and timings that a second fleet's load would blur.
# The fleet controller's verdicts on a simulated fleet (hack/fleet.sh): a yellow canary holds the
# rollout at its step and broadcasts, and the rollout resumes only after two green windows; a red
# canary at the second step rolls the weights and the canary's build back together, quarantines
# the tag and is recorded (still red on the last good build, it is then drained, and restored
# once green); a new tag suspended through Git stays frozen, and an abort through Git rolls it
# back without quarantining it.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
INTERVAL_S=2
fleet_test_up ctl-rollback "${INTERVAL_S}s"
canary=$fleet/macs/canary-gw
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
doctor() { if [ "$1" = green ]; then rm -f "$canary/sim/doctor"; else echo "{\"verdict\":\"$1\"}" >"$canary/sim/doctor"; fi; }
# ms_of TIMESTAMP: milliseconds since the epoch of an RFC 3339 UTC time with milliseconds.
ms_of() { python3 -c 'import datetime, sys; print(int(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000))' "$1"; }
audit_lines() { python3 -c '
import json, sys
print(" ".join("%s/%s/%d" % (d["event"], d["phase"], d["step"]) for d in map(json.loads, open(sys.argv[1]))))' "$audit"; }

# A stand-in for the notifier's POST /v1/events: every body it is sent, one per line.
events=$fleet/events.jsonl
notifier_port=$(fleet_free_port)
python3 -c '
import http.server, sys
class Events(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "ab") as f:
            f.write(body + b"\n")
        self.send_response(202)
        self.end_headers()
        self.wfile.write(b"{\"broadcast\": true}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Events).serve_forever()' \
	"$notifier_port" "$events" >/dev/null 2>&1 &
disown
fleet_track "$fleet" $!
echo "notifier: http://127.0.0.1:$notifier_port/v1/events" >>"$FLEET_CONFIG"
# events_have VERDICT PROBEKEY: the notifier was asked to broadcast that verdict.
events_have() {
	python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert any(e["kind"] == "verdict" and e["verdict"] == sys.argv[2] and e["probeKey"] == sys.argv[3]
           and e["message"] and e["correlationId"] for e in evs), evs' "$events" "$1" "$2"
}

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_check "the success is broadcast to the notifier" fleet_wait 5 events_have promote succeeded
fleet_promote "$fleet" v2026.8.0
within "v2026.8.0 reaches its first step" 40 'd["phase"] == "Analysing" and d["percent"] == 10'

# --- yellow: hold at the step, broadcast, resume after two green windows
doctor yellow
within "a yellow canary: Held" 20 'd["phase"] == "Held"'
holds "held at 10 % while yellow" $((3 * INTERVAL_S)) \
	'd["phase"] == "Held" and d["percent"] == 10 and d["weights"]["canary-gw"] == 22'
tap_check "the hold is broadcast to the notifier" fleet_wait 5 events_have hold doctor.yellow
tap_check "and recorded" grep -q '"event":"held"' "$audit"
doctor green
within "green again: the rollout resumes at 10 %" 20 \
	'd["phase"] == "Analysing" and d["percent"] == 10'
within "and moves on to 50 %" 30 'd["percent"] == 50 and d["phase"] == "Analysing"'
resumed=$(grep 'phase Held -> Analysing' "$log" | tail -1 | cut -d' ' -f1)
stepped=$(python3 -c '
import json, sys
print([d for d in map(json.loads, open(sys.argv[1])) if d["event"] == "step" and d["step"] == 2][0]["ts"])' "$audit")
# The log line is stamped a few ms after the pass's clock read that opened the first window.
tap_check "only after two green windows of ${INTERVAL_S}s since the resume" \
	test $(($(ms_of "$stepped") - $(ms_of "$resumed"))) -ge $((2 * INTERVAL_S * 1000 - 100))

# --- red at the second step: weights and build back together, the tag quarantined
doctor red
within "a red canary at 50 %: RolledBack" 30 'd["phase"] == "RolledBack"'
within "v2026.8.0 is quarantined" 5 \
	'd["quarantined"] == ["v2026.8.0"] and [c for c in d["conditions"] if c["type"] == "Stalled"][0]["reason"] == "Quarantined"'
# The simulated doctor does not follow the build: still red on v2026.7.1, the canary is drained.
within "still red on the last good build: the canary is drained" 10 \
	'd["weights"] == {"canary-gw": 0, "stable-gw-a": 100, "stable-gw-b": 100}'
tap_eq "the canary's skills/current is the previous semver" 1.4.2 \
	"$(readlink "$canary/var/db/openclaw/skills/current")"
tap_eq "the canary runs OpenClaw 2026.7.1 again" "2026.7.1 (3f9c2ab)" "$(cat "$canary/sim/version")"
tap_eq "its infra tree is back at v2026.7.1" "$(git -C "$FLEET_REPO" rev-parse 'v2026.7.1^{commit}')" \
	"$(git -C "$canary/usr/local/share/openclaw-infra" rev-parse HEAD)"
rollback_pass=$(sed -n '/-> RollingBack/,/audit: rollback/p' "$log")
tap_check "weights and build moved in the same pass: the weights" bash -c \
	'grep "SET_WEIGHTS .*: read back" | grep "canary-gw=100" | grep "stable-gw-a=100" | grep -q "stable-gw-b=100"' \
	<<<"$rollback_pass"
tap_contains "weights and build moved in the same pass: the canary's target" "node canary-gw accepted target generation" "$rollback_pass"
read -r on_canary _ <<<"$(fleet_measure "$FLEET_FRONTEND" 30 acme)"
tap_check "the canary tenant is routed back to the stable pool" test "$on_canary" -lt 30
tap_check "the rollback is recorded: reason, pre-canary weights, quarantine" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rb = [l for l in lines if l["event"] == "rollback"]
assert len(rb) == 1 and rb[0]["reason"] == "doctor.red" and rb[0]["step"] == 2, rb
assert rb[0]["from"]["tag"] == "v2026.8.0" and rb[0]["to"]["tag"] == "v2026.7.1", rb
assert rb[0]["weights"] == {"canary-gw": 100, "stable-gw-a": 100, "stable-gw-b": 100}, rb
assert [l["event"] for l in lines][-4:] == ["rollback", "quarantined", "rolled_back", "drained"], lines
assert lines[-1]["node"] == "canary-gw" and lines[-1]["reason"] == "doctor.red", lines' "$audit"
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
tap_check "the rollback is broadcast to the notifier" fleet_wait 5 events_have rollback doctor.red
tap_check "the history says rolled_back" status \
	'd["history"][-1]["outcome"] == "rolled_back" and d["history"][-1]["reason"] == "doctor.red"'
tap_check "/metrics counts the rollback by reason" \
	grep -qx 'clawfleet_rollbacks_total{reason="doctor.red"} 1' <<<"$(curl -s --max-time 2 "$FLEET_URL/metrics")"
doctor green
within "green again: the canary is restored to the pre-canary weights" 15 \
	'd["weights"] == {"canary-gw": 100, "stable-gw-a": 100, "stable-gw-b": 100}'
tap_check "and the restore is recorded" python3 -c '
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
assert last["event"] == "restored" and last["node"] == "canary-gw", last' "$audit"
lines=$(wc -l <"$audit")
holds "a quarantined tag is never promoted again" $((2 * INTERVAL_S)) \
	'd["phase"] == "RolledBack" and d["nodes"]["canary-gw"]["tag"] == "v2026.7.1"'
tap_eq "and nothing more is recorded" "$lines" "$(wc -l <"$audit")"

# --- another tag: suspended through Git, then aborted
git -C "$FLEET_REPO" tag -a -m v2026.8.1 v2026.8.1 'v2026.8.0^{commit}'
sed -i 's/tag: v2026.8.0/tag: v2026.8.1/' "$FLEET_REPO/clawfleet/promotion.yaml"
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.1"
within "a new tag starts" 40 'd["phase"] == "Analysing" and d["promotion"]["tag"] == "v2026.8.1"'
fleet_spec "$fleet" suspend true
within "suspend: true is read" 10 \
	'[c for c in d["conditions"] if c["type"] == "Reconciling"][0]["reason"] == "Suspended"'
frozen=$(status | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["phase"], d["percent"])')
holds "suspended: frozen where it was" $((3 * INTERVAL_S)) \
	"'%s %d' % (d['phase'], d['percent']) == '$frozen'"
fleet_spec "$fleet" abort true
within "abort: true rolls back" 30 'd["phase"] == "RolledBack"'
tap_check "an abort does not quarantine the tag" status 'd["quarantined"] == ["v2026.8.0"]'
tap_check "and is recorded as such" python3 -c '
import json, sys
rb = [json.loads(l) for l in open(sys.argv[1]) if "\"rollback\"" in l]
assert rb[-1]["reason"] == "abort" and rb[-1]["from"]["tag"] == "v2026.8.1", rb' "$audit"
tap_check "every node runs v2026.7.1 again" status \
	'all(n["tag"] == "v2026.7.1" and n["skills"] == "1.4.2" for n in d["nodes"].values())'
tap_check "the audit chain still verifies" "$FLEET_BIN" audit verify "$audit"

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
