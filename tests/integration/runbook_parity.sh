#!/usr/bin/env bash
# Runbooks 000, 001, 002 and 003 on a simulated fleet (hack/fleet.sh): the Macs on one build agree
# on what must be identical (parity), a per-Mac OpenClaw fragment reaches that Mac alone, and a
# token older than tokens.maxAge shows its age and a degraded reason.
#   000: one OpenClaw fragment per Mac, merged deterministically (openclaw/nodes/<host>.d).
#   001/003: the four artifacts agree across peers; "LB off if hash != peers", a broadcast so
#   peers freeze ratio ramps: two Macs on one build with different tenant fragments hold the
#   rollout (parity.mismatch) and /status names them.
#   002: token hygiene, the 30-day cadence (token.age).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up parity 1s

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'

canary_cfg=$fleet/macs/canary-gw/.openclaw/openclaw.json
stable_cfg=$fleet/macs/stable-gw-a/.openclaw/openclaw.json
tap_check "000 a per-Mac fragment reaches that Mac's OpenClaw configuration and no other" \
	python3 -c '
import json, sys
canary, stable = (json.load(open(p)) for p in sys.argv[1:3])
assert canary["logging"]["level"] == "debug", canary
assert stable["logging"]["level"] == "info", stable
assert canary["gateway"] == stable["gateway"] == {"port": 18789, "bind": "loopback"}, (canary, stable)' \
	"$canary_cfg" "$stable_cfg"
within "001 peers on one build agree while their fragments are the same" 20 \
	'd["parity"] == {"agree": True}'

# stable-gw-b's materialised tenant fragments drift from stable-gw-a's (a hand edit on the Mac).
tenants=$fleet/macs/stable-gw-b/etc/openclaw/tenants
frag=$(find "$tenants"/ -path '*/gateway.d/*.yaml' -type f | sort | head -n 1)
tap_check "a materialised tenant fragment to edit" test -n "$frag"
chmod u+w "$frag" "$(dirname "$frag")" 2>/dev/null
echo "# edited by hand on stable-gw-b" >>"$frag"
within "001 /status names the Mac that differs, its peer and the part" 20 \
	'd["parity"]["agree"] is False and d["parity"]["reason"] == "parity.mismatch" and d["parity"]["message"] == "stable-gw-b differs from canary-gw, stable-gw-a in tenants"'
fleet_promote "$fleet" v2026.8.0
within "003 the rollout holds on the parity difference, nothing widens" 30 \
	'd["phase"] == "Held" and d["hold"]["reason"] == "parity.mismatch" and d["hold"]["node"] == "stable-gw-b"'
tap_check "003 the hold is broadcast once" test "$(grep -c 'broadcast (verdict hold): .*parity.mismatch' "$log")" -eq 1

# An old token: stable-gw-a's token.current and the controller's agentToken, 40 days old.
touch -d '40 days ago' "$fleet/macs/stable-gw-a/etc/clawfleet/token.current" "$fleet/agent-token"
within "002 an old token shows its age and the degraded reason token.age" 20 \
	'd["tokens"]["nodes"]["stable-gw-a"]["current"] >= 40 * 86400 and d["tokens"]["nodes"]["stable-gw-b"]["current"] < 86400 and d["tokens"]["agentToken"]["ageSeconds"] >= 40 * 86400 and sorted(t["node"] or "" for t in d["tokens"]["tooOld"]) == ["", "stable-gw-a"] and d["nodes"]["stable-gw-a"]["status"] == "degraded"'
port=$FLEET_AGENT_PORT_stable_gw_a
tap_check "002 the agent's /readyz says it: tokenAges and token.age" python3 -c '
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))
assert d["tokenAges"]["current"] >= 40 * 86400 and d["tokenAges"]["maxAgeSeconds"] == 30 * 86400, d["tokenAges"]
assert any(r["code"] == "token.age" for r in d["reasons"]), d["reasons"]' \
	"http://127.0.0.1:$port/readyz"
# One broadcast per change of the list: the controller's file and stable-gw-a may be seen a pass
# apart; the full list is said once, and not again.
sleep 2
tap_check "002 the old tokens are broadcast once" test "$(grep -c 'broadcast (verdict hold): bearer tokens older than tokens.maxAge (token.age): controller,stable-gw-a;' "$log")" -eq 1
kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
