#!/usr/bin/env bash
# Metric analysis through a bad window and a Prometheus outage, with a real Prometheus (Debian's
# prometheus, on a free loopback port, scraping every second, its own data directory) scraping
# the real HAProxy's exporter in front of the simulated gateways, with load sent through HAProxy
# by a curl loop. The Promotion of v2026.8.0 has one canary step, 10 %, and a gate before
# Mirroring (gates [100]); it judges request-success-rate (at least 99 %) over windows of 3s with
# failureLimit 2, Prometheus asked with a 1s timeout. The gate holds the canary at 10 % for as
# long as this script needs, and its windows are judged there as in Analysing:
#   - one bad window (the canary failing every request until a window counts it):
#     failureLimit 2 counts it and holds;
#   - Prometheus stopped right then (SIGSTOP: it accepts connections and never answers): each
#     window ends at its deadline with no data, the failure already counted is not counted
#     again (nothing rolls back), the controller's passes stay short (the loop never waits on
#     Prometheus), and an approval of the gate waits for the metrics, saying so;
#   - Prometheus continued: the next window passes, the count starts again, the approved gate
#     lets Mirroring go and the healthy canary is promoted to Succeeded.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
. tests/lib/prometheus.sh
prom_require
fleet_test_up metrics-outage 4s
promotion=$FLEET_REPO/clawfleet/promotion.yaml
control=$fleet/macs/canary-gw/sim/gateway.control
prom_setup 1s

prom_start

# Load through HAProxy, one request at a time, as long as the fleet runs.
prom_load
trap 'kill -CONT $prom_pid 2>/dev/null; kill $prom_load_pid 2>/dev/null; fleet_down "$fleet"; rm -rf "$fleet"' EXIT

# The controller's passes so far: "<seconds> <count>" from its reconcile-duration histogram.
passes() {
	curl -s --max-time 2 "$FLEET_URL/metrics" | awk '
		/^clawfleet_reconcile_duration_seconds_sum / { s = $2 }
		/^clawfleet_reconcile_duration_seconds_count / { n = $2 }
		END { print s, n }'
}

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'

git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock
fleet_sed "$promotion" -e 's|^    steps: .*|    steps: [10]\
    gates: [100]|' -e 's|greenWindows: .*|greenWindows: 1|' -e 's|^    analysis: {minSamples: \(.*\)}$|    analysis:\
      minSamples: \1\
      metrics:\
        - name: request-success-rate\
          thresholdRange: {min: 99}\
          failureLimit: 2\
          interval: 3s|'
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0, judged by its success rate"

metric='d["analysis"]["metrics"][0]'
within "held at the gate after 10 %, the canary's windows passing" 40 \
	"d[\"phase\"] == \"Held\" and d[\"percent\"] == 10 and d[\"hold\"][\"approval\"][\"percent\"] == 100 and $metric[\"verdict\"] == \"pass\""

# --- one bad window at the gate, then Prometheus stopped: failureLimit 2 counts the window and
# holds; the windows after have no data, hold, and count no failure more. The canary fails
# every request until a window judged at the gate counts it; Prometheus is stopped and the
# canary healed at once (polled every 50 ms), well before the next window's query goes out a
# window (3 s) after that one's: the failures since are never measured.
fail_once_then_stop() {
	python3 - "$FLEET_URL" "$control" "$prom_pid" <<'EOF'
import json, os, signal, sys, time, urllib.request
url, control, prom = sys.argv[1], sys.argv[2], int(sys.argv[3])
def metric():
    d = json.load(urllib.request.urlopen(url + "/status", timeout=2))
    return d["phase"], d["analysis"]["metrics"][0]
open(control, "w").write('{"failRate": 1}')
try:
    for _ in range(600):
        phase, m = metric()
        if m["verdict"] == "fail":
            os.kill(prom, signal.SIGSTOP)
            if phase == "Held" and m["failures"] == 1 and " % < 99 % (canary-gw, 3s)" in m["message"]:
                sys.exit(0)
            sys.exit("counted as: %s %s" % (phase, m))
        time.sleep(0.05)
    sys.exit("no window counted the canary failing")
finally:
    open(control, "w").write("{}")
EOF
}
read -r sum0 count0 <<<"$(passes)"
tap_check "a window at the gate counts the canary failing, with its value; Prometheus stopped" \
	fail_once_then_stop
tap_check "the bad window holds: failureLimit is 2" status \
	"$metric[\"failures\"] == 1 and d[\"phase\"] == \"Held\" and d[\"percent\"] == 10"
within "Prometheus stopped: the next window ends at its deadline with no data" 15 \
	"$metric[\"verdict\"] == \"noData\" and \"no answer within 1000 ms\" in $metric[\"message\"]"
sleep 2
tap_check "and holds: no rollback, still at 10 %, the one failure not counted again" status \
	"d[\"phase\"] == \"Held\" and d[\"percent\"] == 10 and $metric[\"failures\"] == 1 and $metric[\"verdict\"] == \"noData\""
printf '%s\n' "  approval:" "    tag: v2026.8.0" "    through: full" >>"$promotion"
git -C "$FLEET_REPO" commit -qam "fleet: approve v2026.8.0 in full"
within "approved, the gate waits for the metrics and the Reconciling condition says why" 20 \
	'"100 % approved; waiting for the metrics: request-success-rate: no data" in [c for c in d["conditions"] if c["type"] == "Reconciling"][0]["message"] and d["phase"] == "Held"'
read -r sum1 count1 <<<"$(passes)"
tap_check "the passes did not wait on Prometheus (mean under 0.5 s, the timeout is 1 s)" python3 -c '
import sys
s0, n0, s1, n1 = map(float, sys.argv[1:])
assert n1 - n0 >= 3 and (s1 - s0) / (n1 - n0) < 0.5, (s0, n0, s1, n1)' "$sum0" "$count0" "$sum1" "$count1"

# --- Prometheus continued: the next window passes and the approved gate lets Mirroring go
kill -CONT "$prom_pid"
within "Prometheus back: the next window passes, the count starts again, Mirroring goes" 20 \
	"d[\"phase\"] in (\"Mirroring\", \"Finalising\", \"Succeeded\") and $metric[\"verdict\"] == \"pass\" and $metric[\"failures\"] == 0"
within "the healthy canary is promoted, Succeeded on v2026.8.0" 40 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'
tap_check "no rollback in the audit log" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert not any(l["event"] == "rollback" for l in lines)' "$audit"
rm -f "$control"
tap_done
