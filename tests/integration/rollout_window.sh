#!/usr/bin/env bash
# The rollback window on a simulated fleet (hack/fleet.sh): once v2026.8.0 has Succeeded after
# v2026.7.1, promoting v2026.7.1 again (one of the last spec.rollback.window builds that
# Succeeded here) skips Shadow and the canary steps: Mirroring from the canary gateway on, one
# gateway at a time out of traffic, and the audit line says why. With window 0 the same
# promotion would go through the canary (tests/unit/test_planner.c).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up window 1s
promotion=$FLEET_REPO/clawfleet/promotion.yaml
# weights_seen: every weight map /status reported while the window rollout ran, one a line.
weights_seen=$fleet/weights-seen

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
git -C "$FLEET_REPO" checkout -q v2026.8.0 -- clawfleet openclaw.lock
fleet_sed "$promotion" -e 's|^    steps: .*|    steps: [50]|' -e 's|^    greenWindows: .*|    greenWindows: 1|'
git -C "$FLEET_REPO" commit -qam "fleet: promote v2026.8.0"
within "v2026.8.0 goes through the canary and succeeds" 40 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'

fleet_promote "$fleet" v2026.7.1 "fleet: back to v2026.7.1"
(while :; do status | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["phase"], d["step"], sorted(d["weights"].values()))' >>"$weights_seen" 2>/dev/null; sleep 0.2; done) &
sampler=$!
within "back to v2026.7.1: straight to Mirroring, no step" 20 \
	'd["rollout"]["tag"] == "v2026.7.1" and d["phase"] in ("Mirroring", "Finalising", "Succeeded") and d["step"] == 0'
tap_check "the audit line says why" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
last = [l for l in lines if l["event"] == "step"][-1]
assert last["phase"] == "Mirroring" and last["reason"] == "rollback window: v2026.7.1 succeeded here 2 rollouts ago", last
assert last["to"]["tag"] == "v2026.7.1" and last["from"]["tag"] == "v2026.8.0", last' "$audit"
within "and succeeds with every node on v2026.7.1" 40 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1" and all(n["tag"] == "v2026.7.1" for n in d["nodes"].values())'
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
tap_check "never Shadow, and never more than one gateway out of traffic" python3 -c '
import sys
rows = [l.split(" ", 2) for l in open(sys.argv[1]) if l.strip()]
assert rows, "nothing sampled"
assert all(r[0] != "Shadow" and r[1] == "0" for r in rows if r[0] != "Succeeded"), rows
assert all(eval(r[2]).count(0) <= 1 for r in rows), rows' "$weights_seen"
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
