#!/usr/bin/env bash
# Metric analysis through a bad window and a Prometheus outage, with a real Prometheus (Debian's
# prometheus, on a free loopback port, scraping every second, its own data directory) scraping
# the real HAProxy's exporter in front of the simulated gateways, with load sent through HAProxy
# by a curl loop. The Promotion of v2026.8.0 has one canary step, 10 %, and judges
# request-success-rate (at least 99 %) over windows of 3s with failureLimit 2, Prometheus asked
# with a 1s timeout; the step lasts at least its analysisInterval, 10s, so that several windows
# are judged while it holds:
#   - one bad window (the canary failing every request for half a second): failureLimit 2
#     counts it and holds;
#   - Prometheus stopped right then (SIGSTOP: it accepts connections and never answers): each
#     window ends at its deadline with no data, the step holds, the failure already counted is
#     not counted again (nothing rolls back), and the controller's passes stay short (the loop
#     never waits on Prometheus);
#   - Prometheus continued: the next window passes, the count starts again, and the healthy
#     canary is promoted to Succeeded.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
if ! command -v prometheus >/dev/null; then
	tap_fail "prometheus is installed" "run hack/install-deps.sh (Debian package prometheus)"
	tap_done
	exit
fi
fleet_test_up metrics-outage 10s
promotion=$FLEET_REPO/clawfleet/promotion.yaml
control=$fleet/macs/canary-gw/sim/gateway.control
# A port none of the fleet's processes was given: one of them restarting must not find it taken.
prom_port=$(fleet_free_port)
while grep -q "[:=]$prom_port\b" "$fleet/fleet.env"; do prom_port=$(fleet_free_port); done
prom_url=http://127.0.0.1:$prom_port
echo "prometheus: {url: $prom_url, timeout: 1s}" >>"$FLEET_CONFIG"

cat >"$fleet/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: haproxy
    static_configs: [{targets: ["$FLEET_HAPROXY_METRICS"]}]
EOF
prometheus --config.file="$fleet/prometheus.yml" --storage.tsdb.path="$fleet/prom" \
	--web.listen-address="127.0.0.1:$prom_port" >>"$fleet/logs/prometheus.log" 2>&1 &
prom_pid=$!
disown
fleet_track "$fleet" "$prom_pid"

# Load through HAProxy, one request at a time, as long as the fleet runs.
(
	while [ -d "$fleet/logs" ]; do
		curl -s -o /dev/null --max-time 2 "$FLEET_FRONTEND/whoami"
		sleep 0.02
	done
) </dev/null >/dev/null 2>&1 &
load=$!
trap 'kill -CONT $prom_pid 2>/dev/null; kill $load 2>/dev/null; fleet_down "$fleet"; rm -rf "$fleet"' EXIT

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
fleet_sed "$promotion" -e 's|steps: .*|steps: [10]|' -e 's|greenWindows: .*|greenWindows: 1|' -e 's|^    analysis: {minSamples: \(.*\)}$|    analysis:\
      minSamples: \1\
      metrics:\
        - name: request-success-rate\
          thresholdRange: {min: 99}\
          failureLimit: 2\
          interval: 3s|'
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0, judged by its success rate"

metric='d["analysis"]["metrics"][0]'
within "at 10 % the canary's windows pass" 40 \
	"d[\"phase\"] == \"Analysing\" and d[\"percent\"] == 10 and $metric[\"verdict\"] == \"pass\""

# --- one bad window: failureLimit 2 counts it and holds, the next window passes
# The canary fails every request for 0.5 s from 1.5 s after the end of the window just judged:
# the failures are scraped within the next window (3 s after it, or a little more) and are out
# of the one after. A window seen too late to fit it is let go, and the next one tried.
blip() {
	python3 - "$FLEET_URL" "$control" <<'EOF'
import datetime, json, sys, time, urllib.request
url, control = sys.argv[1:]
def metric():
    d = json.load(urllib.request.urlopen(url + "/status", timeout=2))
    return d["percent"], d["analysis"]["metrics"][0]
_, seen = metric()
for _ in range(200):
    time.sleep(0.05)
    percent, m = metric()
    if m["windowEnd"] == seen["windowEnd"]:
        continue
    seen = m
    end = datetime.datetime.fromisoformat(m["windowEnd"].replace("Z", "+00:00")).timestamp()
    if m["verdict"] != "pass" or percent != 10 or time.time() > end + 1.5:
        continue
    time.sleep(end + 1.5 - time.time())
    open(control, "w").write('{"failRate": 1}')
    time.sleep(0.5)
    open(control, "w").write("{}")
    sys.exit(0)
sys.exit(1)
EOF
}
tap_check "the canary fails every request for 0.5 s, inside one window" blip
within "the bad window is counted, and holds: failureLimit is 2" 10 \
	"$metric[\"verdict\"] == \"fail\" and $metric[\"failures\"] == 1 and d[\"phase\"] == \"Analysing\" and d[\"percent\"] == 10 and \" % < 99 % (canary-gw, 3s)\" in $metric[\"message\"]"

# --- Prometheus stopped right after the bad window: no data holds, the failure is not counted
# again, the loop never waits. The next window's query goes out a window (3s) after the bad
# one's: Prometheus is stopped by then.
read -r sum0 count0 <<<"$(passes)"
kill -STOP "$prom_pid"
within "Prometheus stopped: the next window ends at its deadline with no data" 15 \
	"$metric[\"verdict\"] == \"noData\" and \"no answer within 1000 ms\" in $metric[\"message\"]"
sleep 3
tap_check "and holds: no rollback, still at 10 %, the one failure not counted again" status \
	"d[\"phase\"] == \"Analysing\" and d[\"percent\"] == 10 and $metric[\"failures\"] == 1 and $metric[\"verdict\"] == \"noData\""
# The step waits for the metrics once its analysisInterval is over: say so by then.
within "the Reconciling condition says why" 15 \
	'"waiting for the metrics: request-success-rate: no data" in [c for c in d["conditions"] if c["type"] == "Reconciling"][0]["message"]'
read -r sum1 count1 <<<"$(passes)"
tap_check "the passes did not wait on Prometheus (mean under 0.5 s, the timeout is 1 s)" python3 -c '
import sys
s0, n0, s1, n1 = map(float, sys.argv[1:])
assert n1 - n0 >= 3 and (s1 - s0) / (n1 - n0) < 0.5, (s0, n0, s1, n1)' "$sum0" "$count0" "$sum1" "$count1"

# --- Prometheus continued: the next window passes and the rollout goes on
kill -CONT "$prom_pid"
within "Prometheus back: the healthy canary is promoted, Succeeded on v2026.8.0" 40 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'
tap_check "a passing window let the step go: the count started again" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if l["event"] == "step" and l["phase"] == "Mirroring"]
assert steps and steps[-1]["reason"].startswith("request-success-rate "), steps' "$audit"
tap_check "no rollback in the audit log" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert not any(l["event"] == "rollback" for l in lines)' "$audit"
rm -f "$control"
tap_done
