#!/usr/bin/env bash
# Metric analysis against the stable pool, with a real Prometheus (Debian's prometheus, on a free
# loopback port, scraping every second, its own data directory) scraping the real HAProxy's
# exporter in front of the simulated gateways, with load sent through HAProxy by a curl loop.
# Every gateway answers /whoami (the traffic) after 10 ms, the canary after 50 ms (the simulated
# gateway's whoamiSlowMs, which its agent's probes do not see: only the metric can tell). The
# Promotion of v2026.8.0 judges the built-in request-duration with compare: stable and
# thresholdRange {max: 1.5}: the slow canary is rolled back, the metric named in the reason,
# /status giving both pools' values and their ratio.
# HAProxy 2.6's per-server response time is a moving average over the server's last 1024
# responses that starts from 0 when HAProxy starts: until each server has answered about a
# thousand requests, a server that answered fewer shows less than its real time. The rollout
# starts once every server has answered WARM requests at equal weights, and the canary is five
# times as slow, not twice: at this test's few requests a second the figures are that coarse.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
. tests/lib/prometheus.sh
prom_require
fleet_test_up metrics-compare 1s
promotion=$FLEET_REPO/clawfleet/promotion.yaml
WARM=60
prom_setup 2s
for node in stable-gw-a stable-gw-b; do
	echo '{"whoamiSlowMs": 10}' >"$fleet/macs/$node/sim/gateway.control"
done
echo '{"whoamiSlowMs": 50}' >"$fleet/macs/canary-gw/sim/gateway.control"

prom_start

# Load through HAProxy, one request at a time, as long as the fleet runs.
prom_load
trap 'kill $prom_load_pid 2>/dev/null; fleet_down "$fleet"; rm -rf "$fleet"' EXIT

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
tap_check "Prometheus answers" fleet_wait 20 curl -sf -o /dev/null --max-time 1 "$prom_url/-/ready"
warm() {
	curl -s --max-time 2 "http://$FLEET_HAPROXY_METRICS/metrics" | awk -v warm=$WARM '
		/^haproxy_server_http_responses_total\{proxy="openclaw_gateways".*code="2xx"/ {
			n++; if ($2 < warm) cold++ }
		END { exit !(n == 3 && !cold) }'
}
tap_check "every server answered $WARM requests at equal weights" fleet_wait 40 warm

git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock
fleet_sed "$promotion" -e 's|^    analysis: {minSamples: \(.*\)}$|    analysis:\
      minSamples: \1\
      metrics:\
        - name: request-duration\
          thresholdRange: {max: 1.5}\
          compare: stable\
          interval: 2s|'
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0, judged by its latency against the stable pool"

within "a canary five times as slow as its peers is rolled back by request-duration" 40 \
	'd["phase"] in ("RollingBack", "RolledBack")'
tap_check "/status gives both pools' values, their ratio and the threshold" status \
	'(lambda m: m["verdict"] == "fail" and m["compare"] == "stable" and m["threshold"]["max"] == 1.5 and m["ratio"] > 1.5 and m["value"] > m["stable"] > 0 and " x > 1.5 x of stable (canary-gw, 2s)" in m["message"])(d["analysis"]["metrics"][0])'
tap_check "the rollback's audit line names the metric" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["event"] == "rollback" and l["reason"] == "metric.request-duration" for l in lines)' "$audit"
tap_done
