#!/usr/bin/env bash
# make demo-ha: three controller replicas on a three-member etcd cluster, live in the terminal.
# hack/fleet.sh brings up the simulated fleet (three Macs with real agents, a real HAProxy, a Git
# repository of the example manifests); tests/lib/etcd.sh starts three etcd members on loopback
# ports, each with its own data directory, and three controller replicas with the etcd store (a
# 3 s lease, so a failover shows in seconds). One replica leads and brings the fleet up; then a
# promotion of v2026.8.0, during which the leader is killed with SIGKILL; another replica takes
# the leader key once the lease expires, goes on from the state the killed leader committed, and
# finishes the rollout; the audit chain kept in etcd and every replica's mirror are verified.
#
#   BUILD=build hack/demo-ha.sh   needs BUILD/clawfleet and BUILD/sim (make demo-ha builds them),
#                                 etcd (Debian etcd-server, brew etcd), etcdctl and HAProxy
#
# Ctrl-C, an error or the end stops every process it started; the logs stay in the work
# directory, printed at the end.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
DEMO_NAME=demo-ha
. hack/demo_common.sh
demo_need "run hack/install-deps.sh (etcd-server, etcd-client, haproxy)" git python3 curl haproxy etcd etcdctl

. hack/fleet.sh
. tests/lib/etcd.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-demo-ha.XXXXXX") || exit 1
fleet=$work # tests/lib/etcd.sh's replicas live in $fleet
export CLAWFLEET_DEMO=${CLAWFLEET_DEMO:-$work}
stopped=0
stop() {
	[ "$stopped" = 1 ] && return
	stopped=1
	fleet_down "$work"
}
trap stop EXIT
trap 'echo; echo "demo-ha: interrupted; every process it started is stopped; logs in $work/logs"; exit 130' INT
trap 'exit 143' TERM

# leader: the number of the replica that leads now ("" when none does).
leader() { ha_leader 2>/dev/null || true; }
# field K EXPR: the python expression EXPR of replica K's /status document d.
field() {
	local doc
	doc=$(curl -sf --max-time 2 "$(eval echo "\$HA_URL_$1")/status") || return 1
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$doc" "$2"
}
# follow UNTIL TIMEOUT: prints each new phase and step of whichever replica leads, until the
# python expression UNTIL holds for its document d.
follow() {
	local end=$((SECONDS + $2)) last="" now l
	while [ "$SECONDS" -lt "$end" ]; do
		l=$(leader)
		if [ -n "$l" ]; then
			now=$(field "$l" '"%s %s, step %s, %s %% to the canary" % (d["phase"], (d.get("promotion") or {}).get("tag", "-"), d["step"], d["percent"])' 2>/dev/null)
			if [ -n "$now" ] && [ "$now" != "$last" ]; then
				note "replica $l leads: $now"
				last=$now
			fi
			[ "$(field "$l" "$1" 2>/dev/null)" = True ] && return 0
		fi
		sleep 0.3
	done
	return 1
}

t0=$SECONDS
say "clawfleet demo-ha: three controller replicas on etcd, the leader killed mid-rollout"
note "work directory: $work"

say "1/5  the fleet: three simulated Macs, HAProxy, a Git repository; a three-member etcd cluster"
fleet_up "$work" 2s || die "the simulated fleet did not come up"
. "$work/fleet.env"
etcd_up "$work" || die "the etcd cluster did not come up (see $work/logs/etcd-*.log)"
for n in 1 2 3; do
	note "etcd member e$n   $(echo "$ETCD_ENDPOINTS" | cut -d' ' -f"$n")   data $work/etcd/e$n"
done

say "2/5  three controller replicas with store: {type: etcd, prefix: /clawfleet/test, leaseTTL: 3s}"
ha_replicas 3
for n in 1 2 3; do
	note "replica $n   $(eval echo "\$HA_URL_$n")   pid $(eval echo "\$HA_PID_$n")   log $work/logs/replica$n.log"
done
etcd_wait 15 ha_leader || die "no replica leads"
L=$(leader)
note "replica $L won /clawfleet/test/leader (term $(field "$L" 'd["leader"]["term"]')); the others follow"
note "they watch the key, serve /status from the shared state and take no action"
follow 'd["phase"] == "Succeeded" and (d.get("lastGood") or {}).get("tag") == "v2026.7.1"' 90 ||
	die "the bring-up did not finish"
F=$((L % 3 + 1))
fleet_wait 10 ha_status "$F" 'd["phase"] == "Succeeded"'
note "replica $F (a follower) says: $(field "$F" '"phase %s, leader %s at %s" % (d["phase"], d["leader"]["id"], d["leader"]["address"])')"

say "3/5  a promotion through Git: v2026.8.0; the leader is killed with SIGKILL mid-rollout"
fleet_promote "$work" v2026.8.0 "fleet: promote v2026.8.0"
note "git commit: $(git -C "$FLEET_REPO" log -1 --format='%h %s (%an)')"
follow 'd["phase"] == "Analysing" and d["percent"] >= 50' 90 || die "the canary did not reach 50 %"
killed=$L
term=$(field "$L" 'd["leader"]["term"]')
kill -9 "$(eval echo "\$HA_PID_$L")"
wait "$(eval echo "\$HA_PID_$L")" 2>/dev/null
t_kill=$(python3 -c 'import time; print(time.time())')
printf '   %sreplica %s (the leader, term %s) killed with SIGKILL%s\n' "$BOLD" "$killed" "$term" "$RESET"
new_leader() { local l; l=$(leader); [ -n "$l" ] && [ "$l" != "$killed" ]; }
etcd_wait 15 new_leader || die "no replica took over"
L=$(leader)
note "replica $L leads after $(python3 -c "import time; print('%.1f' % (time.time() - $t_kill))") s (term $(field "$L" 'd["leader"]["term"]')): the killed leader's lease expired, replica $L took the key"
note "it went on from the state and audit chain the killed leader committed to etcd"

say "4/5  the rollout finishes under the new leader"
follow 'd["phase"] == "Succeeded" and (d.get("lastGood") or {}).get("tag") == "v2026.8.0"' 120 ||
	die "v2026.8.0 did not finish under the new leader"
note "generations the agents hold: $(field "$L" '", ".join("%s %d" % (k, v["observedGeneration"]) for k, v in sorted(d["nodes"].items()))') (each target sent once)"

say "5/5  the audit chain: kept in etcd, mirrored by every replica, verified"
to="etcd://$(echo "$ETCD_ENDPOINTS" | sed 's|http://||g; s/ /,/g')/clawfleet/test"
note "\$ clawfleet audit export --store $to --out $work/chain.jsonl"
"$FLEET_BIN" audit export --store "$to" --out "$work/chain.jsonl" || die "audit export failed"
note "\$ clawfleet audit verify $work/chain.jsonl"
"$FLEET_BIN" audit verify "$work/chain.jsonl" 2>&1 | sed 's/^/   /'
dups=$(python3 -c '
import collections, json, sys
seen = collections.Counter("%s %s %s step %d" % (d["event"], d["promotion"], d["phase"], d["step"])
                           for d in map(json.loads, open(sys.argv[1])))
print(", ".join(k for k, n in seen.items() if n > 1))' "$work/chain.jsonl")
if [ -z "$dups" ]; then
	note "no step recorded twice across the two leaders"
else
	die "steps recorded twice: $dups"
fi
for n in 1 2 3; do
	[ "$n" = "$killed" ] && continue
	fleet_wait 10 cmp -s "$work/replica$n/promotions.jsonl" "$work/chain.jsonl" &&
		note "replica $n's promotions.jsonl is the chain in etcd ($(awk 'END { print NR }' "$work/chain.jsonl") lines)" ||
		die "replica $n's promotions.jsonl is not the chain in etcd"
done
note "status:  $FLEET_BIN status --url $(eval echo "\$HA_URL_$L")"
"$FLEET_BIN" status --url "$(eval echo "\$HA_URL_$L")" 2>&1 | grep -i "lead" | sed 's/^/   /'
note "logs:    $work/logs"
printf '\n%sThe demo took %d s.%s\n' "$BOLD" $((SECONDS - t0)) "$RESET"
