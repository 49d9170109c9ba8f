#!/usr/bin/env bash
# The node agent as a real process on a simulated Mac (hack/sim/mkmac.sh) with a GitOps
# repository made by the git CLI: the target API and its refusals, applying, changing and rolling
# back targets, the merged probe's green, degraded and red answers, SIGKILL at each reconciler
# step followed by a restart that converges, and SIGTERM.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
BUILD=${BUILD:-build}
CLAWFLEET=${CLAWFLEET:-$PWD/$BUILD/clawfleet}
sim=$PWD/$BUILD/sim
TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-agent.XXXXXX")
up=$TAP_TMP/up
root=$TAP_TMP/mac
ctl=$root/sim
skills=$root/var/db/openclaw/skills
infra=$root/usr/local/share/openclaw-infra
state=$root/var/db/clawfleet/agent
config=$root/etc/clawfleet/agent.yaml
log=$TAP_TMP/agent.log
. tests/lib/sim_mac.sh
pyget() { python3 -c "import json, sys; print(json.loads(sys.argv[1])$2)" "$1"; }

# --- the GitOps repository: v2026.7.1 pins 2026.7.1 and skills 1.4.2, v2026.8.0 2026.8.0 and 1.4.3
git -c init.defaultBranch=main init -q "$up"
cp -R manifests/example-repo/. "$up/"
for v in 1.4.2 1.4.3; do
	mkdir -p "$up/skills/$v/summarise"
	echo "# summarise $v" >"$up/skills/$v/summarise/SKILL.md"
done
git -C "$up" add -A && git -C "$up" commit -qm v2026.7.1 && git -C "$up" tag -a -m v2026.7.1 v2026.7.1
v1=$(git -C "$up" rev-parse HEAD)
sed -i 's/"2026.7.1",/"2026.8.0",/; s/"3f9c2ab"/"5e8d1aa"/; s/2893816b4d0f7b05e1d10393b79f1f5bc1e8a8f2fc89ad9e37e685b0477bf075/b14e2de11878b275de5f761dd89e075d9aa3d402851f51c90480a9a62f4c8e7f/; s/plugin-bundle", "version": "2026.7.1"/plugin-bundle", "version": "2026.8.0"/; s/"semver": "1.4.2"/"semver": "1.4.3"/' \
	"$up/openclaw.lock"
sed -i 's/tag: v2026.7.1/tag: v2026.8.0/; s/skillSemver: 1.4.2/skillSemver: 1.4.3/' "$up/clawfleet/promotion.yaml"
git -C "$up" commit -qam v2026.8.0 && git -C "$up" tag -a -m v2026.8.0 v2026.8.0
v2=$(git -C "$up" rev-parse HEAD)
tap_check "the fixture repository validates at both tags" \
	bash -c "'$CLAWFLEET' validate --ref v2026.7.1 '$up' && '$CLAWFLEET' validate --ref v2026.8.0 '$up'"

# --- the simulated Mac and its agent
gw_port=$(free_port)
port=$(free_port)
hack/sim/mkmac.sh "$root" --sim "$sim" --port "$gw_port" --node canary-gw \
	--commit 2026.7.1=3f9c2ab --commit 2026.8.0=5e8d1aa \
	--remote "$up" --listen "127.0.0.1:$port" --refresh 1s
tok=$(cat "$root/etc/clawfleet/token.current")
tok_next=$(cat "$root/etc/clawfleet/token.next")
base=http://127.0.0.1:$port

start_agent() {
	OPENCLAW_SIM_ROOT=$root OPENCLAW_CONFIG_PATH=$root/.openclaw/openclaw.json "$CLAWFLEET" agent --config "$config" >>"$log" 2>&1 &
	agent_pid=$!
	until_ok 10 curl -sf --max-time 1 "$base/healthz"
}
# Waits up to 10 s for the agent (our child, so kill -0 can be trusted) to exit, then kills it;
# its exit status goes to agent_status (137 when it had to be killed).
reap_agent() {
	local _
	for _ in $(seq 100); do
		kill -0 "$agent_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$agent_pid" 2>/dev/null
	wait "$agent_pid" 2>/dev/null
	agent_status=$?
	agent_pid=""
}
# http METHOD PATH [curl args]: the body, a space, the status code.
http() { curl -s --max-time 10 -X "$1" -w ' %{http_code}' "${@:3}" "$base$2"; }
put_target() { http PUT /v1/target -H "Authorization: Bearer ${2:-$tok}" --data-binary "$1"; }
get_target() { http GET /v1/target -H "Authorization: Bearer $tok" | sed 's/ [0-9]*$//'; }
target() { # GENERATION TAG COMMIT SEMVER LINK ACME_CHANNEL
	printf '{"generation":%s,"tag":"%s","commit":"%s","skills":{"semver":"%s","link":"%s"},"tenants":{"acme":"%s","globex":"stable"}}' "$@"
}
observed() { pycheck "$(get_target)" "d['observedGeneration'] == $1 and d['lastApply']['error'] is None"; }
readyz() { http GET /readyz; }
ready_is() { # STATUS-CODE EXPR; the last answer stays in $TAP_TMP/readyz for a failure report
	readyz >"$TAP_TMP/readyz"
	local out
	out=$(cat "$TAP_TMP/readyz")
	[ "${out##* }" = "$1" ] && pycheck "${out% *}" "$2"
}
# ready_within NAME SECONDS STATUS-CODE EXPR: polls /readyz; a failure shows the last answer.
ready_within() {
	if until_ok "$2" ready_is "$3" "$4"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected $3 and $4" "last answer: $(cat "$TAP_TMP/readyz")"
	fi
}
kickstarts() { grep -c ' launchctl kickstart -k ' "$ctl/log"; }
link_of() { readlink "$skills/$1"; }
complete() { [ -f "$skills/$(link_of current)/.clawfleet-complete" ]; }
gateway_saw() { curl -s --max-time 2 "http://127.0.0.1:$gw_port/sim/state"; }

# A Mac that already runs a gateway, as one does when its agent is installed.
OPENCLAW_SIM_ROOT=$root "$root/bin/launchctl" kickstart gui/501/ai.openclaw.gateway
start_agent
tap_eq "the agent answers /healthz" '{"ok":true} 200' "$(http GET /healthz)"
out=$(readyz)
tap_eq "/readyz is 503 before any target" 503 "${out##* }"
tap_check "and red" pycheck "${out% *}" 'd["status"] == "red" and d["reasons"]'
tap_check "GET /v1/target: no target, nothing observed, no pass yet" pycheck "$(get_target)" \
	'd == {"target": None, "observedGeneration": 0, "lastApply": None}'

# --- refusals
t1=$(target 1 v2026.7.1 "$v1" 1.4.2 current canary)
denied='{"error":"unauthorized"} 401'
tap_eq "PUT without Authorization: 401" "$denied" "$(http PUT /v1/target --data-binary "$t1")"
tap_eq "a wrong token: the same 401" "$denied" "$(put_target "$t1" "not-the-token")"
tap_eq "a prefix of the token: the same 401" "$denied" "$(put_target "$t1" "${tok:0:20}")"
tap_eq "an empty bearer: the same 401" "$denied" \
	"$(http PUT /v1/target -H 'Authorization: Bearer ' --data-binary "$t1")"
tap_eq "another scheme: the same 401" "$denied" \
	"$(http PUT /v1/target -H "Authorization: Basic $tok" --data-binary "$t1")"
tap_eq "GET /v1/target without a token: the same 401" "$denied" "$(http GET /v1/target)"
head -c 71680 /dev/zero | tr '\0' x >"$TAP_TMP/big"
out=$(http PUT /v1/target --data-binary @"$TAP_TMP/big")
tap_eq "a 70 KiB body without a token: 413" 413 "${out##* }"
out=$(put_target @"$TAP_TMP/big")
tap_eq "and with one: 413" 413 "${out##* }"
out=$(put_target '{"generation":1,')
tap_eq "malformed JSON: 400" 400 "${out##* }"
tap_check "with a reason" pycheck "${out% *}" '"not valid JSON" in d["error"]'
out=$(put_target '{"generation":1,"tag":"v2026.7.1"}')
tap_check "a missing field: 400 naming it" pycheck "${out% *}" 'd["error"] == "commit: required"'
out=$(put_target "$(target 1 '-x' "$v1" 1.4.2 current canary)")
tap_eq "a tag that is no tag name: 400" 400 "${out##* }"
tap_eq "nothing was accepted" 0 "$(pyget "$(get_target)" '["observedGeneration"]')"

# --- apply, repeat, change, roll back
# Two seconds of synthetic checks against the running gateway, the latency baseline of a kickstart.
tap_check "the probe sees the running gateway" until_ok 10 ready_is 503 'd["tcp"]["ok"] and d["service"]["running"]'
sleep 2
out=$(put_target "$t1")
tap_eq "PUT generation 1: 202" '{"generation":1,"observedGeneration":0} 202' "$out"
tap_check "generation 1 is observed within 20 s" until_ok 20 observed 1
tap_check "the target was persisted" pycheck "$(cat "$state/target.json")" 'd["generation"] == 1'
tap_eq "the infra tree is at v2026.7.1" "$v1" "$(git -C "$infra" rev-parse HEAD)"
tap_eq "skills/current -> 1.4.2" 1.4.2 "$(link_of current)"
tap_check "both tenants are materialised" test -L "$root/etc/openclaw/tenants/acme" -a -f "$root/etc/openclaw/tenants/globex/gateway.json"
tap_eq "OpenClaw 2026.7.1 is installed" "2026.7.1 (3f9c2ab)" "$(cat "$ctl/version")"
tap_eq "the gateway was kickstarted exactly once" 1 "$(kickstarts)"
ready_within "/readyz turns green within 20 s" 20 200 'd["status"] == "green"'
out=$(readyz)
tap_check "/readyz carries every contract field" pycheck "${out% *}" "$(cat <<'EOF'
set(d) >= {"node", "status", "reasons", "observedGeneration", "infra", "lock", "skills", "doctor",
 "queue", "digest", "disk", "service", "tcp", "latency", "checkedAt", "probeSha256"}
 and set(d["infra"]) >= {"tag", "commit", "dirty"} and set(d["lock"]) >= {"sha256", "versionMatch"}
 and set(d["skills"]) >= {"current", "next", "lockSemver", "match"}
 and set(d["doctor"]) >= {"verdict", "tenants", "firstBad"} and set(d["queue"]) >= {"depth", "limit"}
 and set(d["digest"]) >= {"ageSec", "top"} and set(d["disk"]) >= {"freePercent"}
 and set(d["service"]) >= {"running", "lastExit", "restarts5m"} and set(d["tcp"]) >= {"ok", "ms"}
 and set(d["latency"]) >= {"p95ms", "baselineP95ms"} and len(d["probeSha256"]) == 64
EOF
)"
tap_check "and says what this node runs" pycheck "${out% *}" \
	"d['node'] == 'canary-gw' and d['observedGeneration'] == 1 and d['infra'] == {'tag': 'v2026.7.1', 'commit': '$v1', 'dirty': False} and d['skills']['current'] == '1.4.2' and d['skills']['match'] and d['lock']['versionMatch'] and d['service']['running'] and d['tcp']['ok']"

before=$(pyget "$(get_target)" '["lastApply"]["at"]')
tap_eq "the same target again: 200" '{"generation":1,"observedGeneration":1} 200' "$(put_target "$t1")"
later_pass() { [ "$(pyget "$(get_target)" '["lastApply"]["at"]')" != "$before" ]; }
tap_check "a later pass runs" until_ok 10 later_pass
tap_check "and performs no action" pycheck "$(get_target)" \
	'd["lastApply"]["generation"] == 1 and d["lastApply"]["actions"] == [] and d["lastApply"]["error"] is None'
tap_eq "no second kickstart" 1 "$(kickstarts)"
out=$(put_target "$(target 1 v2026.7.1 "$v1" 1.4.2 current stable)")
tap_eq "generation 1 with another body: 409" 409 "${out##* }"

t2=$(target 2 v2026.8.0 "$v2" 1.4.3 next canary)
tap_eq "generation 2 (v2026.8.0, next -> 1.4.3): 202" 202 "$(put_target "$t2" | sed 's/.* //')"
tap_check "generation 2 is observed" until_ok 20 observed 2
tap_eq "skills/next -> 1.4.3" 1.4.3 "$(link_of next)"
tap_eq "skills/current stays 1.4.2" 1.4.2 "$(link_of current)"
tap_eq "OpenClaw 2026.8.0 is installed" "2026.8.0 (5e8d1aa)" "$(cat "$ctl/version")"
tap_check "the restarted gateway loaded next = 1.4.3" pycheck "$(gateway_saw)" \
	'd["skills"]["next"].endswith("/skills/1.4.3") and d["skills"]["current"].endswith("/skills/1.4.2")'
tap_eq "one more kickstart" 2 "$(kickstarts)"
out=$(put_target "$t1")
tap_eq "an older generation: 409" 409 "${out##* }"
tap_check "saying so" pycheck "${out% *}" '"older" in d["error"]'

t3=$(target 3 v2026.7.1 "$v1" 1.4.2 current stable)
tap_eq "the next token is accepted too: rollback generation 3" 202 "$(put_target "$t3" "$tok_next" | sed 's/.* //')"
tap_check "generation 3 is observed" until_ok 20 observed 3
tap_eq "rolled back: the infra tree is at v2026.7.1" "$v1" "$(git -C "$infra" rev-parse HEAD)"
tap_eq "OpenClaw 2026.7.1 again" "2026.7.1 (3f9c2ab)" "$(cat "$ctl/version")"
tap_eq "skills/current -> 1.4.2" 1.4.2 "$(link_of current)"
tap_check "acme follows its stable channel: skills/current" \
	grep -q '/skills/current"' "$root/etc/openclaw/tenants/acme/skills.json"
ready_within "/readyz is green after the rollback" 20 200 'd["status"] == "green" and d["observedGeneration"] == 3'

# --- degraded and red
echo '{"verdict":"yellow"}' >"$ctl/doctor"
ready_within "doctor yellow: 200 degraded with doctor.yellow" 15 200 \
	'd["status"] == "degraded" and "doctor.yellow" in [r["code"] for r in d["reasons"]]'
echo '{"verdict":"red"}' >"$ctl/doctor"
ready_within "doctor red: 503 red with doctor.red" 15 503 \
	'd["status"] == "red" and "doctor.red" in [r["code"] for r in d["reasons"]] and d["doctor"]["verdict"] == "red"'
rm -f "$ctl/doctor"
ready_within "a healthy doctor again: green" 20 200 'd["status"] == "green"'
t4=$(target 4 v2026.7.1 "$v1" 1.4.3 current stable)
put_target "$t4" >/dev/null
ready_within "current -> 1.4.3 while the lock pins 1.4.2: 503 skills.semver_mismatch" 20 503 \
	'd["observedGeneration"] == 4 and "skills.semver_mismatch" in [r["code"] for r in d["reasons"]] and not d["skills"]["match"]'
put_target "$(target 5 v2026.7.1 "$v1" 1.4.2 current stable)" >/dev/null
ready_within "fixed by generation 5: green" 20 200 'd["status"] == "green" and d["observedGeneration"] == 5'

# --- SIGKILL at each reconciler step, then a restart that converges
# Each simulated program gets a wrapper that, when sim/hold starts its command line, notes it in
# sim/held and waits before running it: the agent is killed there, in the middle of that step. A
# wrapper whose agent died meanwhile runs nothing.
for prog in npm openclaw launchctl; do
	link=$root/usr/local/bin/$prog
	[ "$prog" = launchctl ] && link=$root/bin/launchctl
	rm -f "$link"
	cat >"$link" <<EOF
#!/bin/sh
hold=\$(cat "$ctl/hold" 2>/dev/null)
case "$prog \$*" in
"\$hold"*)
	if [ -n "\$hold" ]; then
		echo "$prog \$*" >>"$ctl/held"
		sleep 3
		[ "\$(ps -o ppid= -p \$\$ | tr -d ' ')" = "\$PPID" ] || exit 1
	fi
	;;
esac
exec "$sim/$prog" "\$@"
EOF
	chmod +x "$link"
done
gen=5
# crash_at NAME HOLD: a new generation flipping between the two builds; the agent is killed once a
# command starting with HOLD is held ("" kills it as soon as the PUT is answered).
crash_at() {
	local name=$1 tag commit semver version kicks
	gen=$((gen + 1))
	if [ $((gen % 2)) -eq 0 ]; then
		tag=v2026.8.0 commit=$v2 semver=1.4.3 version="2026.8.0 (5e8d1aa)"
	else
		tag=v2026.7.1 commit=$v1 semver=1.4.2 version="2026.7.1 (3f9c2ab)"
	fi
	rm -f "$ctl/held"
	printf '%s' "$2" >"$ctl/hold"
	put_target "$(target $gen $tag "$commit" $semver current stable)" >/dev/null
	[ -n "$2" ] && until_ok 10 test -s "$ctl/held"
	kill -9 "$agent_pid"
	reap_agent
	rm -f "$ctl/hold"
	tap_check "killed $name: before the pass finished" \
		pycheck "$(cat "$state/applied.json")" "d['generation'] < $gen"
	tap_check "killed $name: skills/current names a complete pack" complete
	if [ "$2" = "launchctl kickstart" ]; then
		tap_eq "killed $name: skills/current was already flipped" "$semver" "$(link_of current)"
		tap_check "killed $name: a kickstart is recorded as owed" test -f "$state/restart-pending.json"
	fi
	kicks=$(kickstarts)
	start_agent
	tap_check "killed $name: the restarted agent converges on generation $gen" until_ok 30 observed $gen
	tap_eq "killed $name: skills/current -> $semver" "$semver" "$(link_of current)"
	tap_eq "killed $name: OpenClaw $version" "$version" "$(cat "$ctl/version")"
	tap_eq "killed $name: the infra tree at $tag" "$commit" "$(git -C "$infra" rev-parse HEAD)"
	tap_eq "killed $name: one kickstart after the restart" $((kicks + 1)) "$(kickstarts)"
	tap_check "killed $name: the gateway was restarted after the flip" pycheck "$(gateway_saw)" \
		"d['skills']['current'].endswith('/skills/$semver')"
	tap_check "killed $name: no kickstart is left owed" test ! -e "$state/restart-pending.json"
}
crash_at "as the PUT is answered (the pull)" ""
crash_at "before the core install" "npm install"
crash_at "before a plugin install" "openclaw plugins install"
crash_at "after the skills flip, before the kickstart" "launchctl kickstart"
ready_within "the last target is green" 20 200 'd["status"] == "green"'

# --- stopping
kill -TERM "$agent_pid"
reap_agent
tap_eq "SIGTERM: the agent exits with status 0 (within the 10 s it is given)" 0 "$agent_status"
tap_contains "and says it stops" "finishing the current step and stopping" "$(cat "$log")"

"$CLAWFLEET" agent >/dev/null 2>&1
tap_eq "no --config: usage, exit 2" 2 $?
printf 'node: Bad_Name\nlisten: 127.0.0.1:1\nrefersh: 1s\n' >"$TAP_TMP/bad.yaml"
out=$("$CLAWFLEET" agent --config "$TAP_TMP/bad.yaml" 2>&1)
tap_eq "a bad configuration: exit 1" 1 $?
tap_contains "naming the file, line and column of an unknown key" "$TAP_TMP/bad.yaml:3:1: -: refersh: unknown key" "$out"
tap_contains "and every other problem" "infra.remote: required key is missing" "$out"

[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    agent log: /' "$log" | tail -40
tap_done
