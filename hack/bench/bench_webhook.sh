#!/usr/bin/env bash
# Webhook to first action during a rollout: the controller on a simulated fleet (hack/fleet.sh)
# holding v2026.8.0's canary at 10 % (Analysing, a 5-minute window, so a pass every second),
# and EVENTS new commits at random offsets into the pass cycle (hack/bench/webhook_latency.py).
# Every other one is announced by a signed Flux event: from the POST to the controller's log line
# reading that commit. The baseline is the others, published with no event: the pass the
# controller runs on its own reads them. The two alternate; p50 and p99 of each, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
EVENTS=${EVENTS:-60}
. hack/fleet.sh
command -v haproxy >/dev/null || export FLEET_LB=file
fleet=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-bench-webhook.XXXXXX")
cleanup() {
	fleet_down "$fleet"
	rm -rf "$fleet"
}
trap cleanup EXIT
fail() {
	echo "== webhook to first action: FAILED: $1" >&2
	tail -n 20 "$fleet"/logs/*.log >&2
	exit 1
}
fleet_up "$fleet" 5m || fail "the simulated fleet did not come up"
. "$fleet/fleet.env"
key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
printf '%s' "$key" | "$FLEET_BIN" token stage --dir "$fleet/flux-tokens" --actor bench --ticket B-1 --stdin >/dev/null
"$FLEET_BIN" token promote --dir "$fleet/flux-tokens" --actor bench --ticket B-1 >/dev/null
printf 'webhook: {path: /hook/flux, tokens: {dir: %s}}\n' "$fleet/flux-tokens" >>"$FLEET_CONFIG"
fleet_controller "$fleet"
disown "$FLEET_CONTROLLER_PID" # fleet_down stops it; no "Killed" from this shell
fleet_wait 60 fleet_status "$FLEET_URL" "d['phase'] == 'Succeeded'" || fail "the fleet did not reach v2026.7.1"
fleet_promote "$fleet" v2026.8.0 >/dev/null
fleet_wait 60 fleet_status "$FLEET_URL" "d['phase'] == 'Analysing'" || fail "the rollout did not reach its first step"
out=$(python3 hack/bench/webhook_latency.py --baseline "$FLEET_REPO" "$FLEET_URL/hook/flux" "$key" \
	"$fleet/logs/controller.log" "$EVENTS") || fail "$out"
fleet_status "$FLEET_URL" "d['phase'] == 'Analysing'" || fail "the rollout left its step during the run"
summary() { printf '%s\n' "$out" | sed -n "s/^$1 p50=\([^ ]*\) p99=\([^ ]*\) .*/\1 \2/p"; }
echo "== webhook to first action during a rollout ($((EVENTS / 2)) events, $((EVENTS - EVENTS / 2)) commits without one, alternated; a pass every 1 s)"
read -r e50 e99 <<<"$(summary event)"
read -r b50 b99 <<<"$(summary baseline)"
awk -v e50="$e50" -v e99="$e99" -v b50="$b50" -v b99="$b99" 'BEGIN {
	printf "  clawfleet: a Flux event, from the POST to the pass reading its commit  p50 %7.1f ms  p99 %7.1f ms   (aim: p99 < 50 ms)\n", e50, e99
	printf "  baseline: a commit with no event, read by the next pass               p50 %7.1f ms  p99 %7.1f ms\n", b50, b99
	printf "  ratio baseline / clawfleet                                             p50 %7.0fx    p99 %7.0fx\n", b50 / (e50 > 0.1 ? e50 : 0.1), b99 / (e99 > 0.1 ? e99 : 0.1)
}'
