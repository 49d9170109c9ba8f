#!/usr/bin/env bash
# Metric analysis with a real Prometheus (Debian's prometheus, on a free loopback port, scraping
# every second, its own data directory) scraping the real HAProxy's exporter in front of the
# simulated gateways (hack/fleet.sh), with load sent through HAProxy by a curl loop. The
# Promotion of v2026.8.0 judges request-success-rate (at least 99 %) over windows of 2s:
#   - while Prometheus is not running the windows have no data: the step holds (noData: hold,
#     /status and `clawfleet status` say why), it never rolls back;
#   - once Prometheus answers, a healthy canary's windows pass and the step goes, the audit line
#     recording the value that let it;
#   - a canary answering 5xx to 20 % of requests is rolled back, the metric named in the reason
#     and its value in /status.
# The comparison with the stable pool and failureLimit are tables in test_plan_analysis.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
. tests/lib/prometheus.sh
prom_require
fleet_test_up metrics 1s
promotion=$FLEET_REPO/clawfleet/promotion.yaml
control=$fleet/macs/canary-gw/sim/gateway.control
prom_setup 3s

# Load through HAProxy, beside the test: one request at a time, a few dozen a second, as long as
# the fleet runs.
prom_load
trap 'kill $prom_load_pid 2>/dev/null; fleet_down "$fleet"; rm -rf "$fleet"' EXIT

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'

git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock
fleet_sed "$promotion" -e 's|^    analysis: {minSamples: \(.*\)}$|    analysis:\
      minSamples: \1\
      metrics:\
        - name: request-success-rate\
          thresholdRange: {min: 99}\
          interval: 2s|'
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0, judged by its success rate"
tap_check "the Promotion carries the metric" grep -q 'name: request-success-rate' "$promotion"

# --- no Prometheus: no data holds the step
within "without Prometheus the step holds on no data" 30 \
	'd["phase"] == "Analysing" and d["analysis"]["metrics"][0]["verdict"] == "noData" and "'"$prom_url"'/api/v1/query" in d["analysis"]["metrics"][0]["message"]'
sleep 3
tap_check "and holds: no rollback, still at 10 %" status \
	'd["phase"] == "Analysing" and d["percent"] == 10 and d["analysis"]["metrics"][0]["failures"] == 0'
# The message is the step's, pass by pass: a pass between two windows may say where the window is.
within "the Reconciling condition says why" 10 \
	'"waiting for the metrics: request-success-rate: no data" in [c for c in d["conditions"] if c["type"] == "Reconciling"][0]["message"]'
tap_contains "clawfleet status names the metric in words" "request-success-rate: no data" \
	"$("$FLEET_BIN" status --url "$FLEET_URL" 2>&1)"

# --- Prometheus answers: the healthy canary's window passes and the step goes
prom_start
tap_check "Prometheus starts" fleet_wait 30 curl -sf -o /dev/null --max-time 1 "$prom_url/-/ready"
within "a healthy canary passes its windows and goes to 50 %" 40 \
	'd["percent"] == 50 and d["phase"] in ("Promoting", "Analysing")'
tap_check "the step's audit line records the value that let it go" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if l["event"] == "step" and l["percent"] == 50]
assert steps and steps[-1]["reason"].startswith("request-success-rate 100 %"), steps' "$audit"

# --- a canary failing 20 % of its requests is rolled back, the metric named
echo '{"failRate": 0.2}' >"$control"
within "a canary answering 5xx to 20 % of requests is rolled back" 40 \
	'd["phase"] in ("RollingBack", "RolledBack")'
tap_check "/status gives the value against the threshold" status \
	'd["analysis"]["metrics"][0]["verdict"] == "fail" and " % < 99 % (canary-gw, 2s)" in d["analysis"]["metrics"][0]["message"]'
tap_check "the rollback's audit line names the metric" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["event"] == "rollback" and l["reason"] == "metric.request-success-rate" for l in lines)' "$audit"
tap_check "/metrics gives the value and the verdict" python3 -c '
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=2).read().decode()
assert "clawfleet_analysis_metric{promotion=\"gateway\",metric=\"request-success-rate\"}" in text, text
assert "clawfleet_analysis_metric_verdict{promotion=\"gateway\",metric=\"request-success-rate\",verdict=\"fail\"} 1" in text' "$FLEET_URL"
rm -f "$control"
tap_done
