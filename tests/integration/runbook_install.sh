#!/usr/bin/env bash
# Runbooks 001-004, the install rules, on one simulated Mac with its agent: the package is
# byte-verified against openclaw.lock before it installs, a rollback reinstalls from the artifact
# cache while the registry is down, a configuration that fails validation prevents the restart
# and leaves the node on what it ran (packages and skills links put back), and a plugin installed
# twice is red.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
BUILD=${BUILD:-build}
CLAWFLEET=${CLAWFLEET:-$PWD/$BUILD/clawfleet}
sim=$PWD/$BUILD/sim
TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-runbook-install.XXXXXX")
up=$TAP_TMP/up
root=$TAP_TMP/mac
ctl=$root/sim
state=$root/var/db/clawfleet/agent
config=$root/etc/clawfleet/agent.yaml
log=$TAP_TMP/agent.log
. tests/lib/sim_mac.sh

# --- the repository: v2026.7.1 pins the simulator's default package, v2026.8.0 a release of its own
good=$(printf 'openclaw 2026.8.0 release\n' | sha256sum | cut -c1-64)
default=$(printf 'simulated npm tarball of openclaw@2026.7.1\n' | sha256sum | cut -c1-64)
git -c init.defaultBranch=main init -q "$up"
cp -R manifests/example-repo/. "$up/"
for v in 1.4.2 1.4.3; do
	mkdir -p "$up/skills/$v/summarise"
	echo "# summarise $v" >"$up/skills/$v/summarise/SKILL.md"
done
git -C "$up" add -A && git -C "$up" commit -qm v2026.7.1 && git -C "$up" tag -a -m v2026.7.1 v2026.7.1
v1=$(git -C "$up" rev-parse HEAD)
sed -i "s/\"2026.7.1\",/\"2026.8.0\",/; s/\"3f9c2ab\"/\"5e8d1aa\"/; s/$default/$good/; s/\"semver\": \"1.4.2\"/\"semver\": \"1.4.3\"/" \
	"$up/openclaw.lock"
sed -i 's/tag: v2026.7.1/tag: v2026.8.0/; s/skillSemver: 1.4.2/skillSemver: 1.4.3/' "$up/clawfleet/promotion.yaml"
git -C "$up" commit -qam v2026.8.0 && git -C "$up" tag -a -m v2026.8.0 v2026.8.0
v2=$(git -C "$up" rev-parse HEAD)

gw_port=$(free_port)
port=$(free_port)
hack/sim/mkmac.sh "$root" --sim "$sim" --port "$gw_port" --node canary-gw \
	--commit 2026.7.1=3f9c2ab --commit 2026.8.0=5e8d1aa \
	--remote "$up" --listen "127.0.0.1:$port" --refresh 1s
tok=$(cat "$root/etc/clawfleet/token.current")
base=http://127.0.0.1:$port

http() { curl -s --max-time 10 -X "$1" -w ' %{http_code}' "${@:3}" "$base$2"; }
put_target() { http PUT /v1/target -H "Authorization: Bearer $tok" --data-binary "$1" >/dev/null; }
get_target() { http GET /v1/target -H "Authorization: Bearer $tok" | sed 's/ [0-9]*$//'; }
target() { # GENERATION TAG COMMIT SEMVER
	printf '{"generation":%s,"tag":"%s","commit":"%s","skills":{"semver":"%s","link":"current"},"tenants":{"acme":"stable","globex":"stable"}}' "$@"
}
observed() { pycheck "$(get_target)" "d['observedGeneration'] == $1 and d['lastApply']['error'] is None"; }
ready_is() { # STATUS-CODE EXPR
	http GET /readyz >"$TAP_TMP/readyz"
	local out
	out=$(cat "$TAP_TMP/readyz")
	[ "${out##* }" = "$1" ] && pycheck "${out% *}" "$2"
}
ready_within() { # NAME SECONDS STATUS-CODE EXPR
	if until_ok "$2" ready_is "$3" "$4"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected $3 and $4" "last answer: $(cat "$TAP_TMP/readyz")"
	fi
}
reason() { # CODE: the message of that reason on /readyz
	python3 -c 'import json, sys; d = json.loads(sys.argv[1].rsplit(" ", 1)[0]); print(next((r["message"] for r in d["reasons"] if r["code"] == sys.argv[2]), ""))' \
		"$(cat "$TAP_TMP/readyz")" "$1"
}
kickstarts() { grep -c ' launchctl kickstart -k ' "$ctl/log"; }
installed() { cat "$ctl/version"; }

OPENCLAW_SIM_ROOT=$root "$root/bin/launchctl" kickstart gui/501/ai.openclaw.gateway
OPENCLAW_SIM_ROOT=$root "$CLAWFLEET" agent --config "$config" >>"$log" 2>&1 &
agent_pid=$!
until_ok 10 curl -sf --max-time 1 "$base/healthz"

# --- 002/004: the package is the bytes the lock pins
put_target "$(target 1 v2026.7.1 "$v1" 1.4.2)"
tap_check "002 generation 1 installs OpenClaw 2026.7.1, verified" until_ok 20 observed 1
tap_check "002 the verified tarball is in the artifact cache, under its sha256" \
	test -f "$state/artifacts/$default/openclaw-2026.7.1.tgz"
printf 'tampered\n' >"$ctl/package-2026.8.0"
kicks=$(kickstarts)
put_target "$(target 2 v2026.8.0 "$v2" 1.4.3)"
ready_within "004 a tampered package is refused: red install.digest_mismatch" 20 503 \
	'any(r["code"] == "install.digest_mismatch" for r in d["reasons"])'
tampered=$(printf 'tampered\n' | sha256sum | cut -c1-64)
tap_contains "004 the reason names the digest fetched" "$tampered" "$(reason install.digest_mismatch)"
tap_contains "004 and the digest the lock pins" "$good" "$(reason install.digest_mismatch)"
tap_eq "004 the node stays on its build: OpenClaw 2026.7.1" "2026.7.1 (3f9c2ab)" "$(installed)"
tap_eq "004 the node stays on its build: skills/current -> 1.4.2" 1.4.2 \
	"$(readlink "$root/var/db/openclaw/skills/current")"
tap_eq "004 the node stays on its build: no kickstart" "$kicks" "$(kickstarts)"
tap_check "004 nothing of the tampered package is kept" test ! -e "$state/artifacts/$tampered"

printf 'openclaw 2026.8.0 release\n' >"$ctl/package-2026.8.0"
put_target "$(target 3 v2026.8.0 "$v2" 1.4.3)"
tap_check "002 the release's own bytes install: generation 3" until_ok 20 observed 3
tap_eq "002 OpenClaw 2026.8.0" "2026.8.0 (5e8d1aa)" "$(installed)"
ready_within "002 and the refusal is gone" 20 200 '"install.digest_mismatch" not in [r["code"] for r in d["reasons"]]'

# --- 003/004: a rollback needs no registry
touch "$ctl/registry-down"
packs=$(grep -c ' npm pack ' "$ctl/log")
put_target "$(target 4 v2026.7.1 "$v1" 1.4.2)"
tap_check "004 rollback reinstalls from the artifact cache with the registry down" until_ok 20 observed 4
tap_eq "004 OpenClaw 2026.7.1 again" "2026.7.1 (3f9c2ab)" "$(installed)"
tap_contains "003 npm installed the cached tarball, preferring its own cache" \
	"npm install -g --no-fund --no-audit --prefer-offline $state/artifacts/$default/openclaw-2026.7.1.tgz" \
	"$(cat "$ctl/log")"
tap_eq "003 nothing was fetched from the registry" "$packs" "$(grep -c ' npm pack ' "$ctl/log")"
tap_check "004 the cache keeps the current and the previous build" \
	pycheck "$(cat "$state/artifacts/builds.json")" "d == {'current': '$default', 'previous': '$good'}"
rm -f "$ctl/registry-down"

# --- 001/002/003: the checks before the restart
cached_installs() { grep -c -- "--prefer-offline $state/artifacts/$default/openclaw-2026.7.1.tgz" "$ctl/log"; }
cached=$(cached_installs)
printf '{"valid":false,"path":"gateway.port","message":"expected integer"}\n' >"$ctl/config.acme"
kicks=$(kickstarts)
put_target "$(target 5 v2026.8.0 "$v2" 1.4.3)"
ready_within "002 a configuration that fails validation: red config.invalid" 20 503 \
	'any(r["code"] == "config.invalid" for r in d["reasons"])'
tap_contains "002 the reason names the tenant and the finding" \
	"tenant acme: gateway.port: expected integer" "$(reason config.invalid)"
tap_eq "001 the gateway was not restarted" "$kicks" "$(kickstarts)"
# Each refused pass puts the node back; the agent retries, 1 s then 2 s later (each with a random
# part). Right after the second refusal is logged the next try is at least a second away.
refused_twice() { [ "$(grep -c 'generation 5: kickstart: config.invalid: not restarting' "$log")" -ge 2 ]; }
until_ok 20 refused_twice
tap_eq "001 after a refused restart the node is on what it ran: OpenClaw 2026.7.1" \
	"2026.7.1 (3f9c2ab)" "$(installed)"
tap_eq "001 after a refused restart the node is on what it ran: skills/current -> 1.4.2" 1.4.2 \
	"$(readlink "$root/var/db/openclaw/skills/current")"
tap_check "001 nothing is owed: the record the pass wrote is gone" \
	test ! -e "$state/restart-pending.json"
tap_contains "001 the agent says what it put back" "generation 5: restore openclaw@2026.7.1" \
	"$(cat "$log")"
tap_check "001 2026.7.1 reinstalled from the artifact cache" \
	test "$(cached_installs)" -gt "$cached"
tap_contains "001 and the skills links were put back" "generation 5: restore skills links" \
	"$(cat "$log")"
rm -f "$ctl/config.acme"
tap_check "001 fixed: the owed kickstart happens, generation 5" until_ok 20 observed 5
tap_eq "001 exactly once" $((kicks + 1)) "$(kickstarts)"

# --- 003: npm ls -g --depth=1, duplicates are red
printf '{"openclaw":{"@openclaw/plugin-slack":{"version":"2026.6.0"}}}\n' >"$ctl/npm-tree.json"
ready_within "003 duplicate plugins are red: packages.duplicate" 20 503 \
	'any(r["code"] == "packages.duplicate" for r in d["reasons"])'
tap_contains "003 naming both copies" \
	"@openclaw/plugin-slack 2026.7.0 (global) and 2026.6.0 (inside openclaw@2026.8.0)" \
	"$(reason packages.duplicate)"
printf '{"openclaw":{"@openclaw/sdk":{"required":"^2","missing":true}}}\n' >"$ctl/npm-tree.json"
ready_within "003 an unmet peer is red: packages.peer" 20 503 \
	'any(r["code"] == "packages.peer" for r in d["reasons"])'
rm -f "$ctl/npm-tree.json"
ready_within "003 a sound tree: green again" 20 200 'd["status"] == "green"'

[ "$TAP_FAILED" -eq 0 ] || sed 's/^/    agent log: /' "$log" | tail -40
tap_done
