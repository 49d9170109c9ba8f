#!/usr/bin/env bash
# Every failpoint (`clawfleet failpoints`, base/failpoint.h) walked during a promotion on a
# simulated fleet (hack/fleet.sh): the controller and two agents each run with a failpoint armed
# (CLAWFLEET_FAILPOINT), die there by SIGKILL after logging "failpoint NAME: killing myself",
# and are restarted with the next name of their list, the last time with none. The controller
# walks the controller's names; canary-gw walks the agent's names while it applies its Shadow
# target (pull, install, skill pack, `next` link, tenant trees, kickstart); stable-gw-a walks the
# two link-flip names again while Mirroring flips its `current`. After every kill: skills/current
# on every Mac is a complete pack (its marker present), the audit chain verifies and no step is
# recorded twice. A failpoint a rollout went past is retried in one more rollout (back to the
# first build); every name must be walked. Then the rollout converges: Succeeded, every Mac on
# the build, the weights HAProxy reads back equal to /status's and to the saved state's, and no
# temporary file ("*.tmp-*") left on any Mac or in the controller's state after a pass.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. hack/fleet.sh
. tests/lib/fleet_test.sh

names=$("$BUILD/clawfleet" failpoints)
if [ -z "$names" ]; then
	tap_fail "clawfleet failpoints lists the failpoints" "$("$BUILD/clawfleet" failpoints 2>&1)"
	tap_done
	exit
fi
fleet_test_up failpoints 1s

# ---- the walkers: one process each, started here so that its exit status can be read
walkers="controller canary-gw stable-gw-a"
declare -A pid armed queue logf
queue[controller]=$(grep '^controller\.' <<<"$names" | tr '\n' ' ')
# The agents' walkers start before the bring-up, which applies a first target on every Mac: their
# first failpoint is armed for its second hit, in the rollout.
queue[canary-gw]=$(grep '^agent\.' <<<"$names" | sed '1s/$/:2/' | tr '\n' ' ')
queue[stable-gw-a]="agent.link.flip.before:2 agent.link.flip.after"
logf[controller]=$log
for node in canary-gw stable-gw-a; do logf[$node]=$fleet/logs/agent-$node.log; done

start() { # WALKER: started with its armed failpoint (none when its list is done)
	local w=$1 root=$fleet/macs/$1
	if [ "$w" = controller ]; then
		CLAWFLEET_FAILPOINT=${armed[$w]} "$FLEET_BIN" controller \
			--config "$FLEET_CONFIG" >>"$log" 2>&1 &
	else
		CLAWFLEET_FAILPOINT=${armed[$w]} OPENCLAW_SIM_ROOT=$root OPENCLAW_CONFIG_PATH=$root/.openclaw/openclaw.json \
			"$FLEET_BIN" agent --config "$root/etc/clawfleet/agent.yaml" >>"${logf[$w]}" 2>&1 &
	fi
	pid[$w]=$!
	fleet_track "$fleet" "${pid[$w]}"
}
arm_next() { # WALKER
	local w=$1
	set -- ${queue[$w]}
	armed[$w]=${1:-}
	queue[$w]=${*:2}
}
alive() { [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# The agent fleet_up started for NODE, stopped with SIGTERM so that a walker takes its place.
stop_fleet_agent() {
	local p
	for p in $(fleet_pids "$fleet"); do
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null |
			grep -qF -- "--config $fleet/macs/$1/etc/clawfleet/agent.yaml"; then
			kill -TERM "$p"
			fleet_wait 10 sh -c "! test -e /proc/$p"
		fi
	done
}

# skills/current on every Mac is a link to a complete pack: the marker skills_install writes last.
current_complete() {
	local node d
	for node in $FLEET_NODES; do
		d=$fleet/macs/$node/var/db/openclaw/skills
		[ -L "$d/current" ] && [ -f "$d/current/.clawfleet-complete" ] ||
			{ echo "$node: skills/current -> $(readlink "$d/current") is not a complete pack"; return 1; }
	done
}
# No line of the audit log twice (a line appended again carries its action's time), and no step
# of a promotion twice. A hold may recur: the canary's agent dies over and over in Shadow.
no_step_twice() {
	python3 -c '
import collections, json, sys
keys = collections.Counter()
for line in open(sys.argv[1]):
    d = json.loads(line)
    keys[(d["ts"], d["event"], d["phase"], d["step"], d.get("node", ""))] += 1
    if d["event"] in ("step", "succeeded", "rollback", "rolled_back"):
        keys[(d["to"]["tag"], d["event"], d["phase"], d["step"])] += 1
twice = [k for k, n in keys.items() if n > 1]
print("recorded twice: %s" % twice if twice else "", end="")
sys.exit(1 if twice else 0)' "$audit"
}
invariants() {
	local out
	out=$(current_complete && "$FLEET_BIN" audit verify "$audit" >/dev/null 2>&1 &&
		no_step_twice) || { echo "${out:-the audit chain does not verify}"; return 1; }
}

for w in canary-gw stable-gw-a; do
	stop_fleet_agent "$w"
	arm_next "$w"
	start "$w"
	v=$(fleet_var "$w")
	fleet_wait 10 curl -sf --max-time 1 "http://127.0.0.1:$(eval echo "\$FLEET_AGENT_PORT_$v")/healthz"
done
fleet_controller "$fleet"
within "bring-up: Succeeded on v2026.7.1" 60 \
	'd["phase"] == "Succeeded" and d["lastGood"]["tag"] == "v2026.7.1"'
kill -TERM "$FLEET_CONTROLLER_PID"
wait "$FLEET_CONTROLLER_PID"
arm_next controller
start controller

# One pass of the walk: every walker that died is checked and restarted with its next failpoint.
reap() {
	local w rc fp out
	for w in $walkers; do
		alive "${pid[$w]}" && continue
		wait "${pid[$w]}"
		rc=$?
		fp=${armed[$w]%%:*}
		if [ -n "$fp" ] && [ "$rc" -eq 137 ] &&
			tail -n 3 "${logf[$w]}" | grep -qF "failpoint $fp: killing myself"; then
			tap_ok "$fp: $w logged it and died of SIGKILL there"
			walked="$walked$fp "
			if out=$(invariants); then
				tap_ok "after $fp: skills/current complete everywhere, audit verifies, no step twice"
			else
				tap_fail "after $fp: skills/current complete everywhere, audit verifies, no step twice" "$out"
			fi
		else
			tap_fail "$w stops only at its failpoint" "armed: ${fp:-none}, exit status $rc" \
				"$(tail -n 5 "${logf[$w]}")"
			unexpected=$((unexpected + 1))
		fi
		arm_next "$w"
		start "$w"
		quiet_since=$SECONDS
	done
}
walk() {
	local w left deadline=$((SECONDS + 150))
	while [ "$SECONDS" -lt "$deadline" ]; do
		reap
		[ "$unexpected" -ge 3 ] && return
		left=""
		for w in $walkers; do left="$left${armed[$w]}${queue[$w]}"; done
		[ -z "$left" ] && return
		# A rollout went past what is still armed: one more, back to the first build.
		if [ $((SECONDS - quiet_since)) -ge 3 ] &&
			status "d['phase'] == 'Succeeded' and d['lastGood']['tag'] == '$tag'"; then
			[ "$rollouts" -ge 2 ] && return
			tag=v2026.7.1
			rollouts=$((rollouts + 1))
			# Through the canary again, not the rollback window (v2026.7.1 Succeeded here):
			# the failpoints left are those of any phase.
			git -C "$FLEET_REPO" checkout -q "$tag" -- clawfleet openclaw.lock
			fleet_sed "$FLEET_REPO/clawfleet/promotion.yaml" 's|^    automatic: true|&\
    window: 0|'
			git -C "$FLEET_REPO" commit -qam "fleet: promote $tag"
			quiet_since=$SECONDS
		fi
		sleep 0.2
	done
}
walked=" "
unexpected=0
tag=v2026.8.0
rollouts=1
fleet_promote "$fleet" "$tag"
quiet_since=$SECONDS
# bash reports each walker killed by its failpoint ("Killed ..."): expected, so kept out of the
# output; anything else the walk writes to standard error is shown.
walk 2>"$fleet/walk.stderr"
grep -vE ': line [0-9]+: +[0-9]+ Killed ' "$fleet/walk.stderr" >&2
missing=""
for fp in $names; do
	case $walked in *" $fp "*) ;; *) missing="$missing $fp" ;; esac
done
tap_eq "every failpoint walked ($(wc -w <<<"$names") of them, in $rollouts rollout(s))" "" "$missing"

# ---- the rollout converges
within "the rollout converges: Succeeded on $tag" 90 \
	"d['phase'] == 'Succeeded' and d['lastGood']['tag'] == '$tag'"
tap_check "every Mac reports $tag and is green" status \
	"all(n['tag'] == '$tag' and n['status'] == 'green' for n in d['nodes'].values())"
hap_weights=$(haproxy_weights json)
tap_eq "HAProxy's weights read back equal /status's" "$hap_weights" \
	"$(status | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["weights"], sort_keys=True))')"
tap_eq "and the saved state's" "$hap_weights" \
	"$(python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["plannedWeights"], sort_keys=True))' "$FLEET_STATE/rollout.json")"
tap_check "the audit chain verifies" "$FLEET_BIN" audit verify "$audit"
tap_check "no step recorded twice" no_step_twice
# Each agent passes every second (refresh 1s): two seconds let every Mac clean up once.
sleep 2
tap_eq "no temporary file left on any Mac or in the controller's state" "" \
	"$(find "$fleet/macs" "$FLEET_STATE" -name '*.tmp-*' 2>/dev/null)"

for w in $walkers; do kill -TERM "${pid[$w]}"; done
for w in $walkers; do
	wait "${pid[$w]}"
	tap_eq "$w: SIGTERM, exit 0" 0 $?
done
[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    controller log: /' "$log" | tail -40
tap_done
