#!/usr/bin/env bash
# clawfleet store migrate and audit export --store, on one etcd member: a controller on the file
# store brings the fleet up; migrate refuses while it runs, copies the state, the anchor and the
# chain once it is stopped, refuses a prefix that holds keys without --force and while a replica
# leads there; the exported chain is promotions.jsonl byte for byte and verifies; a replica on
# the etcd store goes on from the migrated state and chain.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
. tests/lib/etcd.sh
fleet_test_up ha-migrate 1s
etcd_test_up 1
to="etcd://${ETCD_ENDPOINTS#http://}/clawfleet/test"
migrate() { "$FLEET_BIN" store migrate --from "file:$FLEET_STATE" --to "$to" "$@" 2>&1; }

fleet_controller "$fleet"
within "a controller on the file store brings the fleet up" 30 'd["phase"] == "Succeeded"'
out=$(migrate)
tap_eq "migrate refuses while the controller runs (exit 1)" 1 "$?"
tap_contains "saying so" "a controller is running on $FLEET_STATE" "$out"
tap_eq "and writes nothing" "" "$(etcdctl_ get --prefix --keys-only /clawfleet/test)"

kill "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID" 2>/dev/null
lines=$(wc -l <"$audit" | tr -d ' ')
out=$(migrate)
tap_eq "migrate once the controller is stopped (exit 0)" 0 "$?"
tap_contains "copies the state and the chain" "rollout state Succeeded, audit chain of $lines lines" "$out"
tap_check "the state in etcd is rollout.json" python3 -c '
import json, subprocess, sys
got = subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout
sys.exit(0 if json.loads(got) == json.load(open("'"$FLEET_STATE"'/rollout.json")) else 1)' \
	env ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" get --print-value-only /clawfleet/test/state
tap_eq "no leader key is left behind" "" "$(etcdctl_ get --keys-only /clawfleet/test/leader)"

out=$(migrate)
tap_eq "a prefix that holds keys: refused (exit 1)" 1 "$?"
tap_contains "saying --force replaces them" "pass --force" "$out"
out=$(migrate --force)
tap_eq "--force replaces them (exit 0)" 0 "$?"

"$FLEET_BIN" audit export --store "$to" --out "$fleet/exported.jsonl"
tap_eq "audit export --store (exit 0)" 0 "$?"
tap_check "the exported chain is promotions.jsonl, byte for byte" cmp "$fleet/exported.jsonl" "$audit"
tap_check "and audit verify accepts it" "$FLEET_BIN" audit verify "$fleet/exported.jsonl"
tap_eq "to standard output too" "$(cat "$audit")" "$("$FLEET_BIN" audit export --store "$to")"
out=$("$FLEET_BIN" audit export --store "etcd://${ETCD_ENDPOINTS#http://}" 2>&1)
tap_eq "a store without a prefix is a usage error (exit 2)" 2 "$?"

# A replica on the etcd store goes on from the migrated state and chain.
ha_replicas 1
lstatus() { ha_status 1 "$@"; }
if fleet_wait 40 lstatus 'd["leader"]["self"] and d["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'; then
	tap_ok "a replica on the etcd store leads from the migrated state"
else
	tap_fail "a replica on the etcd store leads from the migrated state" "$(lstatus)" \
		"$(tail -n 20 "$fleet/logs/replica1.log")"
fi
tap_check "its promotions.jsonl is the migrated chain" fleet_wait 5 cmp -s "$fleet/replica1/promotions.jsonl" "$audit"
out=$(migrate --force)
tap_eq "migrate refuses while a replica leads on the prefix (exit 1)" 1 "$?"
tap_contains "saying so" "a controller replica leads on /clawfleet/test" "$out"
tap_done
