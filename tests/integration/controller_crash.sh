#!/usr/bin/env bash
# Runs alone (tests/run): it follows rollout phases and timings that a second fleet's load would blur.
# The fleet controller killed and restarted on a simulated fleet (hack/fleet.sh): SIGKILL in
# Shadow, Analysing and Mirroring, a torn audit line left behind by one of the kills, and each
# time a restart that carries on from the saved rollout state, so the promotion still converges
# with no step recorded or sent twice and an audit chain that verifies. Also SIGHUP: a broken
# configuration file is refused and the running one kept, a good one is taken.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
fleet_test_up ctl-crash 2s
# Installs take 2 s on every Mac, so that Shadow and Mirroring last long enough to be caught.
for node in $FLEET_NODES; do
	npm=$fleet/macs/$node/usr/local/bin/npm
	real=$(readlink "$npm")
	rm -f "$npm"
	printf '#!/bin/sh\ncase "$1" in install | i) sleep 2 ;; esac\nexec "%s" "$@"\n' "$real" >"$npm"
	chmod +x "$npm"
done

fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'

# --- SIGHUP
cp "$FLEET_CONFIG" "$fleet/good.yaml"
printf 'source: {url: %s, interval: 1}\nagentTokn: /x\n' "$FLEET_REPO" >"$FLEET_CONFIG"
kill -HUP "$FLEET_CONTROLLER_PID"
tap_check "SIGHUP with a broken file: not reloaded" fleet_wait 5 grep -q "config file has errors, not reloading" "$log"
tap_contains "every problem is logged at its line" "$FLEET_CONFIG:2:1: -: agentTokn: unknown key" "$(cat "$log")"
within "and the controller carries on" 5 'd["passes"][-1]["green"]'
sed 's/interval: 1s/interval: 2s/' "$fleet/good.yaml" >"$FLEET_CONFIG"
kill -HUP "$FLEET_CONTROLLER_PID"
tap_check "SIGHUP with a good file: reloaded" fleet_wait 5 grep -q "configuration reloaded" "$log"
cp "$fleet/good.yaml" "$FLEET_CONFIG"
kill -HUP "$FLEET_CONTROLLER_PID"

# --- SIGKILL in three phases, each followed by a restart
fleet_promote "$fleet" v2026.8.0
restart() {
	wait "$FLEET_CONTROLLER_PID" 2>/dev/null
	fleet_controller "$fleet"
	fleet_wait 10 status True
}
kill_in() { # PHASE [torn]
	if ! fleet_wait 60 status "d['phase'] == '$1'"; then
		tap_fail "the rollout reaches $1" "last /status: $(status)"
		return
	fi
	kill -9 "$FLEET_CONTROLLER_PID"
	wait "$FLEET_CONTROLLER_PID" 2>/dev/null
	tap_ok "SIGKILL in $1"
	if [ "${2:-}" = torn ]; then
		printf '{"actor":"a torn write","event":"st' >>"$audit"
	fi
	restart
	tap_check "restarted after $1: it carries on from the saved state" status \
		"d['phase'] not in ('Idle', 'RollingBack', 'RolledBack') and d['promotion']['tag'] == 'v2026.8.0'"
}
kill_in Shadow
kill_in Analysing torn
tap_contains "the torn audit line is cut off at start-up and logged" "cut a torn last line" "$(cat "$log")"
kill_in Mirroring
within "the promotion converges: Succeeded on v2026.8.0" 90 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'
tap_check "every node reports v2026.8.0, skills 1.4.3, green" status \
	'all(n["tag"] == "v2026.8.0" and n["skills"] == "1.4.3" and n["status"] == "green" for n in d["nodes"].values())'
tap_check "the weights are the declared map" status \
	'd["weights"] == {"canary-gw": 100, "stable-gw-a": 100, "stable-gw-b": 100}'

# --- nothing twice
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
tap_eq "each step recorded exactly once" \
	"step/Mirroring/0 succeeded/Succeeded/0 step/Shadow/0 step/Promoting/1 step/Promoting/2 step/Promoting/3 step/Mirroring/3 succeeded/Succeeded/3" \
	"$(python3 -c '
import json, sys
print(" ".join("%s/%s/%d" % (d["event"], d["phase"], d["step"]) for d in map(json.loads, open(sys.argv[1]))))' "$audit")"
# A generation per target: the bring-up, then the canary's shadow and final targets and each
# stable gateway's mirror target; a controller that forgot a generation would send another.
for pair in canary-gw:3 stable-gw-a:2 stable-gw-b:2; do
	tap_check "${pair%%:*}: generation ${pair##*:}, no target sent twice" status \
		"d['nodes']['${pair%%:*}']['observedGeneration'] == ${pair##*:}"
done
tap_eq "the controller was started four times" 4 "$(grep -c "controller info: serving " "$log")"

kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
tap_eq "SIGTERM: exit 0" 0 $?
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -60
tap_done
