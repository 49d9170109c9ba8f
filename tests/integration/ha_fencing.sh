#!/usr/bin/env bash
# Fencing and etcd's failures with three controller replicas on a three-member etcd cluster
# (tests/lib/etcd.sh, leaseTTL 3 s) over the simulated fleet and a real HAProxy:
#   - one etcd member killed: the leader keeps its term and the rollout goes on;
#   - the leader SIGSTOPped past its lease: another replica leads and acts; SIGCONT: the old
#     leader steps down and moves nothing (no weight, no target, no audit line);
#   - quorum lost (two members killed): every replica holds and says so in /status; once the
#     members are back a replica leads again;
#   - then its promotions.jsonl changed behind it (sealed): it revokes its lease rather than
#     hold it and act on nothing, a leader of a new term follows and the rollout finishes, the
#     chain intact; the sealed replica's log is written again from etcd (the changed one kept
#     aside).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh
. tests/lib/etcd.sh
fleet_test_up ha-fencing 1s
etcd_test_up
ha_replicas 3
lstatus() { ha_status "$L" "$@"; }
etcd_wait 15 ha_leader
L=$(ha_leader)
if etcd_wait 60 lstatus 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'; then
	tap_ok "bring-up under replica $L: Succeeded on v2026.7.1"
else
	tap_fail "bring-up under replica ${L:-none}: Succeeded on v2026.7.1" "$(lstatus)"
fi

# --- one etcd member killed
term=$(lstatus | python3 -c 'import json, sys; print(json.load(sys.stdin)["leader"]["term"])')
etcd_kill "$fleet" 1
fleet_promote "$fleet" v2026.8.0
if etcd_wait 30 lstatus "d['phase'] == 'Promoting' and d['promotion']['tag'] == 'v2026.8.0'"; then
	tap_ok "one etcd member killed: the rollout goes on (Promoting)"
else
	tap_fail "one etcd member killed: the rollout goes on (Promoting)" "$(lstatus)"
fi
tap_check "and the leader keeps its term" lstatus "d['leader']['self'] and d['leader']['term'] == $term"
etcd_start "$fleet" 1
etcd_wait 10 etcd_healthy

# --- the leader paused past its lease
old=$L
old_log=$fleet/logs/replica$old.log
kill -STOP "$(eval echo "\$HA_PID_$old")"
new=""
for _ in $(seq 50); do
	for n in 1 2 3; do
		[ "$n" != "$old" ] && ha_status "$n" 'd["leader"]["self"]' && new=$n
	done
	[ -n "$new" ] && break
	sleep 0.2
done
tap_check "the leader SIGSTOPped: replica ${new:-none} leads" test -n "$new"
L=${new:-$old}
# The new leader acts: a step recorded under its term.
lines=$(wc -l <"$fleet/replica$L/promotions.jsonl")
tap_check "the new leader acts (a new audit line)" etcd_wait 30 \
	sh -c "[ \$(wc -l <'$fleet/replica$L/promotions.jsonl') -gt $lines ]"
mark=$(wc -l <"$old_log")
kill -CONT "$(eval echo "\$HA_PID_$old")"
tap_check "SIGCONT: the old leader steps down" etcd_wait 10 ha_status "$old" \
	'not d["leader"]["self"]'
sleep 2
after=$(tail -n +$((mark + 1)) "$old_log")
tap_eq "and moves nothing: no weight, target, route, drain or audit line from it" "" \
	"$(echo "$after" | grep -E 'SET_WEIGHTS|accepted target|routed to|server .* (drained|ready)|audit: ')"

# --- quorum lost
etcd_kill "$fleet" 2
etcd_kill "$fleet" 3
held() {
	local n
	for n in 1 2 3; do
		ha_status "$n" 'not d["leader"]["self"] and d["leader"]["error"]' || return 1
	done
}
tap_check "quorum lost: every replica holds and says why in /status" etcd_wait 15 held
weights=$(haproxy_weights)
sleep 2
tap_eq "and nothing moves" "$weights" "$(haproxy_weights)"
etcd_start "$fleet" 2
etcd_start "$fleet" 3
etcd_wait 15 etcd_healthy
etcd_wait 15 ha_leader
L=$(ha_leader)
tap_check "etcd back: replica ${L:-none} leads" test -n "$L"

# --- the leader's audit log sealed, mid-rollout
sealed=$L
term=$(lstatus | python3 -c 'import json, sys; print(json.load(sys.stdin)["leader"]["term"])')
echo '{"changed":"behind the controller"}' >>"$fleet/replica$sealed/promotions.jsonl"
tap_check "a leader whose audit log is sealed revokes its lease" etcd_wait 10 grep -q \
	"the audit log is sealed, so this replica hands the lead over" "$fleet/logs/replica$sealed.log"
new_term() {
	local n
	for n in 1 2 3; do
		ha_status "$n" "d['leader']['self'] and d['leader']['term'] > $term" && L=$n && return 0
	done
	return 1
}
etcd_wait 10 new_term
tap_check "and a leader of a new term follows (replica $L)" new_term
if etcd_wait 90 lstatus 'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.8.0"'; then
	tap_ok "and the rollout finishes: Succeeded on v2026.8.0"
else
	tap_fail "and the rollout finishes: Succeeded on v2026.8.0" "$(lstatus)"
fi

audit=$fleet/replica$L/promotions.jsonl
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
tap_eq "each step recorded exactly once" "" "$(python3 -c '
import collections, json, sys
seen = collections.Counter("%s/%s/%s/%d" % (d["event"], d["promotion"], d["phase"], d["step"])
                           for d in map(json.loads, open(sys.argv[1])))
print(" ".join(k for k, n in seen.items() if n > 1))' "$audit")"
etcd_wait 5 cmp -s "$fleet/replica$old/promotions.jsonl" "$audit"
tap_check "the old leader mirrors the chain the others wrote" \
	cmp -s "$fleet/replica$old/promotions.jsonl" "$audit"
tap_check "the sealed replica's log is written again from etcd" etcd_wait 5 \
	cmp -s "$fleet/replica$sealed/promotions.jsonl" "$audit"
tap_check "the changed one kept aside" sh -c "tail -n 1 '$fleet/replica$sealed'/promotions.jsonl.diverged-* | grep -q changed"
tap_contains "and it may lead again" "this replica may lead again" "$(cat "$fleet/logs/replica$sealed.log")"
[ "$TAP_FAILED" -eq 0 ] || for n in 1 2 3; do sed "s/^/    replica $n: /" "$fleet/logs/replica$n.log" | tail -30; done
tap_done
