#!/usr/bin/env bash
# Three controller replicas on a three-member etcd cluster (tests/lib/etcd.sh) over the simulated
# fleet and a real HAProxy: one leads, the others follow and say who leads; the leader SIGKILLed
# mid-rollout → another replica leads within one lease TTL (3 s) plus a poll, and the rollout
# finishes under it with no step repeated (the chain in etcd and every replica's mirror verify,
# no duplicate step line) and no target sent twice (each agent's observedGeneration). A Flux event
# posted to a follower starts the leader's pass at once (through <prefix>/trigger). A target the
# killed leader sent, replayed once the new leader has sent a newer generation, is refused (409).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
. tests/lib/etcd.sh
fleet_test_up ha-failover 2s
etcd_test_up

# The Flux receiver on every replica, one bearer token.
hook_token=$(printf '%064d' 7)
printf '%s' "$hook_token" | "$FLEET_BIN" token stage --dir "$fleet/flux-tokens" --actor test --ticket T-1 --stdin >/dev/null
"$FLEET_BIN" token promote --dir "$fleet/flux-tokens" --actor test --ticket T-1 >/dev/null
printf 'webhook: {path: /hook/flux, tokens: {dir: %s}}\n' "$fleet/flux-tokens" >>"$FLEET_CONFIG"
ha_replicas 3
lstatus() { ha_status "$L" "$@"; }

etcd_wait 15 ha_leader
L=$(ha_leader)
tap_check "one replica leads" test -n "$L"
tap_eq "exactly one replica leads" 1 "$(for n in 1 2 3; do
	ha_status "$n" 'd["leader"]["self"]' && echo "$n"
done | wc -l | tr -d ' ')"
if fleet_wait 60 lstatus 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'; then
	tap_ok "bring-up under the leader: Succeeded on v2026.7.1"
else
	tap_fail "bring-up under the leader: Succeeded on v2026.7.1" "$(lstatus)" \
		"$(tail -n 20 "$fleet/logs/replica$L.log")"
fi
F=$((L % 3 + 1))
tap_check "a follower serves /status from the shared state, naming the leader" etcd_wait 5 ha_status "$F" \
	"d['phase'] == 'Succeeded' and not d['leader']['self'] and d['leader']['address'] == '$(eval echo "\$HA_URL_$L" | sed 's|http://||')'"


# --- a Flux event received by a follower
code=$(curl -s --max-time 5 -o "$fleet/hook-reply" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/json' -H "Authorization: Bearer $hook_token" -H 'x-flux-event: true' \
	--data-binary '{"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"openclaw-fleet","uid":"u-1"},"severity":"info","reason":"NewArtifact","message":"stored artifact","metadata":{},"timestamp":"2026-11-21T04:00:01Z"}' \
	"$(eval echo "\$HA_URL_$F")/hook/flux")
t0=$(python3 -c 'import time; print(time.time())')
tap_eq "a follower accepts a Flux event" 202 "$code"
etcd_wait 5 grep -q "flux event: received by replica" "$fleet/logs/replica$L.log"
took=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
tap_check "and the leader's pass starts at once (${took}s, at most 2)" python3 -c "import sys; sys.exit(0 if $took <= 2 and open('$fleet/logs/replica$L.log').read().count('flux event: received by replica') == 1 else 1)"
tap_contains "the follower says it passed the event on" "flux event: passed on to the leader" "$(cat "$fleet/logs/replica$F.log")"

fleet_promote "$fleet" v2026.8.0
if fleet_wait 60 lstatus "d['phase'] == 'Promoting' and d['promotion']['tag'] == 'v2026.8.0'"; then
	tap_ok "the leader promotes v2026.8.0"
else
	tap_fail "the leader promotes v2026.8.0" "$(lstatus)"
fi
term=$(lstatus | python3 -c 'import json, sys; print(json.load(sys.stdin)["leader"]["term"])')
# agent_target NODE [METHOD BODY]: GET (or PUT BODY to) the node's /v1/target with the agent token;
# prints the body then the status.
agent_target() {
	curl -s --max-time 5 -w ' %{http_code}' -X "${2:-GET}" ${3:+--data-binary "$3"} \
		-H "Authorization: Bearer $(cat "$fleet/agent-token")" -H 'Content-Type: application/json' \
		"http://127.0.0.1:$(eval echo "\$FLEET_AGENT_PORT_$(echo "$1" | tr - _)")/v1/target"
}
old_target=$(agent_target canary-gw | sed 's/ [0-9]*$//' | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["target"]))')
killed=$L
kill -9 "$(eval echo "\$HA_PID_$L")"
wait "$(eval echo "\$HA_PID_$L")" 2>/dev/null
t0=$(python3 -c 'import time; print(time.time())')
etcd_wait 10 ha_leader
L=$(ha_leader)
took=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
tap_check "SIGKILL of the leader: replica ${L:-none} leads within a lease, a poll and a pass (${took}s, at most 6)" \
	python3 -c "import sys; sys.exit(0 if '$L' and '$L' != '$killed' and $took <= 6 else 1)"
tap_check "with a new term" lstatus "d['leader']['term'] > $term and d['leader']['failovers'] >= 1"
if fleet_wait 90 lstatus 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'; then
	tap_ok "the rollout finishes under the new leader"
else
	tap_fail "the rollout finishes under the new leader" "$(lstatus)" \
		"$(tail -n 30 "$fleet/logs/replica$L.log")"
fi

# --- the killed leader's target, replayed: the agent refuses it
out=$(agent_target canary-gw PUT "$old_target")
tap_eq "the killed leader's target (generation $(echo "$old_target" | python3 -c 'import json, sys; print(json.load(sys.stdin)["generation"])')), replayed: 409" 409 "${out##* }"
tap_contains "saying why" "is older than the current target's, 3" "${out% *}"
same_gen=$(echo "$old_target" | python3 -c 'import json, sys; d = json.load(sys.stdin); d["generation"] = 3; print(json.dumps(d))')
out=$(agent_target canary-gw PUT "$same_gen")
tap_eq "the same generation as the new leader's with the old leader's body: 409" 409 "${out##* }"
tap_contains "saying why" "generation 3 already names a different target" "${out% *}"

# --- nothing twice
audit=$fleet/replica$L/promotions.jsonl
tap_check "the new leader's audit chain verifies" "$FLEET_BIN" audit verify "$audit"
tap_eq "each step recorded exactly once" "" "$(python3 -c '
import collections, json, sys
seen = collections.Counter("%s/%s/%s/%d" % (d["event"], d["promotion"], d["phase"], d["step"])
                           for d in map(json.loads, open(sys.argv[1])))
print(" ".join(k for k, n in seen.items() if n > 1))' "$audit")"
etcdctl_ get --prefix --print-value-only /clawfleet/test/audit/ | grep . >"$fleet/etcd-chain.jsonl"
tap_eq "the chain in etcd is the leader's promotions.jsonl" "$(cat "$audit")" "$(cat "$fleet/etcd-chain.jsonl")"
for n in 1 2 3; do
	[ "$n" = "$killed" ] && continue
	fleet_wait 5 cmp -s "$fleet/replica$n/promotions.jsonl" "$audit"
	tap_check "replica $n mirrors the chain" cmp -s "$fleet/replica$n/promotions.jsonl" "$audit"
done
for pair in canary-gw:3 stable-gw-a:2 stable-gw-b:2; do
	tap_check "${pair%%:*}: generation ${pair##*:}, no target sent twice" lstatus \
		"d['nodes']['${pair%%:*}']['observedGeneration'] == ${pair##*:}"
done
[ "$TAP_FAILED" -eq 0 ] || for n in 1 2 3; do sed "s/^/    replica $n: /" "$fleet/logs/replica$n.log" | tail -40; done
tap_done
