#!/usr/bin/env bash
# Flux events during a rollout are acted on at once, not at the next pass: with v2026.8.0's
# canary held at 10 % (Analysing, a pass every second), 20 new commits announced by signed
# events at random offsets into the pass cycle are each read by a pass within 500 ms of the POST
# (p99; hack/bench/webhook_latency.py measures, hack/bench/bench_webhook.sh is the benchmark,
# whose aim is 50 ms), and the rollout stays on its step.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up webhook-latency 5m
key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
printf '%s' "$key" | "$FLEET_BIN" token stage --dir "$fleet/flux-tokens" --actor test --ticket T-1 --stdin >/dev/null
"$FLEET_BIN" token promote --dir "$fleet/flux-tokens" --actor test --ticket T-1 >/dev/null
printf 'webhook: {path: /hook/flux, tokens: {dir: %s}}\n' "$fleet/flux-tokens" >>"$FLEET_CONFIG"
fleet_controller "$fleet"
disown "$FLEET_CONTROLLER_PID" # fleet_down stops it; no "Killed" from this shell
within "the controller brings the fleet to v2026.7.1" 30 "d['phase'] == 'Succeeded'"
fleet_promote "$fleet" v2026.8.0
within "the rollout of v2026.8.0 holds its first step" 30 "d['phase'] == 'Analysing'"

out=$(python3 hack/bench/webhook_latency.py "$FLEET_REPO" "$FLEET_URL/hook/flux" "$key" "$log" 20 2>&1)
p99=$(printf '%s\n' "$out" | sed -n 's/^event p50=[^ ]* p99=\([^ ]*\) .*/\1/p')
if [ -n "$p99" ] && awk -v p="$p99" 'BEGIN {exit !(p < 500)}'; then
	tap_ok "20 events: each commit is read within 500 ms of its event (p99 $p99 ms)"
else
	tap_fail "20 events: each commit is read within 500 ms of its event" "$out" "$(tail -n 15 "$log")"
fi
within "and the rollout is still on its step" 5 "d['phase'] == 'Analysing'"
tap_done
