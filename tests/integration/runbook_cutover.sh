#!/usr/bin/env bash
# The cutover runbook's checks (004) as probe signals of a real agent on a simulated Mac
# (hack/sim/mkmac.sh): a stack trace in the gateway's log after a restart, another process on
# the gateway port, a plist that does not lint (and the reload it prevents), and the TLS
# certificate's expiry (certificates made by `openssl req -x509 -days N`).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
BUILD=${BUILD:-build}
CLAWFLEET=${CLAWFLEET:-$PWD/$BUILD/clawfleet}
sim=$PWD/$BUILD/sim
TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/clawfleet-cutover.XXXXXX")
up=$TAP_TMP/up
root=$TAP_TMP/mac
ctl=$root/sim
config=$root/etc/clawfleet/agent.yaml
plist=$root/Library/LaunchAgents/ai.openclaw.gateway.plist
target_svc=gui/501/ai.openclaw.gateway
log=$TAP_TMP/agent.log
. tests/lib/sim_mac.sh
# The probe's reason of that code, as "severity-free" text: its message, or nothing.
reason() { python3 -c "import json, sys; d = json.loads(sys.argv[1]); print(''.join(r['message'] for r in d['reasons'] if r['code'] == sys.argv[2]))" "$1" "$2"; }

git -c init.defaultBranch=main init -q "$up"
cp -R manifests/example-repo/. "$up/"
mkdir -p "$up/skills/1.4.2/summarise"
echo "# summarise 1.4.2" >"$up/skills/1.4.2/summarise/SKILL.md"
git -C "$up" add -A && git -C "$up" commit -qm v2026.7.1 && git -C "$up" tag -a -m v2026.7.1 v2026.7.1
v1=$(git -C "$up" rev-parse HEAD)

gw_port=$(free_port)
port=$(free_port)
hack/sim/mkmac.sh "$root" --sim "$sim" --port "$gw_port" --node canary-gw \
	--commit 2026.7.1=3f9c2ab --remote "$up" --listen "127.0.0.1:$port" --refresh 1s --tls-days 90
tok=$(cat "$root/etc/clawfleet/token.current")
base=http://127.0.0.1:$port

start_agent() {
	OPENCLAW_SIM_ROOT=$root "$CLAWFLEET" agent --config "$config" >>"$log" 2>&1 &
	agent_pid=$!
	until_ok 10 curl -sf --max-time 1 "$base/healthz"
}
stop_agent() {
	kill -TERM "$agent_pid" 2>/dev/null
	wait "$agent_pid" 2>/dev/null
	agent_pid=""
}
http() { curl -s --max-time 10 -X "$1" -w ' %{http_code}' "${@:3}" "$base$2"; }
put_target() { # GENERATION [RESTART]
	http PUT /v1/target -H "Authorization: Bearer $tok" --data-binary \
		"{\"generation\":$1,\"tag\":\"v2026.7.1\",\"commit\":\"$v1\",\"skills\":{\"semver\":\"1.4.2\",\"link\":\"current\"},\"tenants\":{\"acme\":\"stable\",\"globex\":\"stable\"},\"restart\":${2:-false}}"
}
get_target() { http GET /v1/target -H "Authorization: Bearer $tok" | sed 's/ [0-9]*$//'; }
launchctl() { OPENCLAW_SIM_ROOT=$root "$root/bin/launchctl" "$@"; }
kickstarts() { grep -c ' launchctl kickstart -k ' "$ctl/log"; }
# ready_is CODE EXPR: /readyz answers CODE and EXPR holds; the answer stays in $TAP_TMP/readyz.
ready_is() {
	http GET /readyz >"$TAP_TMP/readyz"
	local out
	out=$(cat "$TAP_TMP/readyz")
	[ "${out##* }" = "$1" ] && pycheck "${out% *}" "$2"
}
ready_within() { # NAME SECONDS CODE EXPR
	if until_ok "$2" ready_is "$3" "$4"; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected $3 and $4" "last answer: $(cat "$TAP_TMP/readyz")"
	fi
}
last_body() { sed 's/ [0-9]*$//' "$TAP_TMP/readyz"; }
has() { echo "any(r['code'] == '$1' for r in d['reasons'])"; }
hasnt() { echo "not $(has "$1")"; }

start_agent
put_target 1 >/dev/null
ready_within "the node comes up green on its target, its certificate good for 90 days" 20 200 \
	'd["status"] == "green"'

# --- 004 reload: the first 200 log lines after a restart hold no stack trace
# The restarts are the agent's own (a target with restart:true), so none counts toward a crash loop.
echo '{"crashLog":true}' >"$ctl/gateway.control"
put_target 2 true >/dev/null
ready_within "004 a stack trace in the gateway's log after a restart turns the node red (service.crash_log)" \
	10 503 "d['status'] == 'red' and $(has service.crash_log)"
tap_contains "the reason quotes the first trace line and where it is" \
	"Uncaught TypeError: Cannot read properties of undefined" "$(reason "$(last_body)" service.crash_log)"
rm -f "$ctl/gateway.control"
put_target 3 true >/dev/null
ready_within "004 a clean restart clears it: the window starts at the restart" 10 200 \
	"d['status'] == 'green' and $(hasnt service.crash_log)"

# --- 004 TCP: the gateway port is held by the gateway's own process
launchctl bootout "$target_svc"
mkdir -p "$TAP_TMP/stale"
OPENCLAW_SIM_ROOT=$root "$sim/gateway" --port "$gw_port" --root "$TAP_TMP/stale" --node stale \
	>/dev/null 2>&1 &
stale_pid=$!
sim_mac_pids=$stale_pid
ready_within "004 another process on the gateway port is red (port.owner), named by pid" 10 503 \
	"any(r['code'] == 'port.owner' and 'pid $stale_pid (gateway)' in r['message'] for r in d['reasons'])"
kill -TERM "$stale_pid" && wait "$stale_pid" 2>/dev/null
stale_pid=""
sim_mac_pids=""
launchctl kickstart "$target_svc"
ready_within "the gateway back on its port is green again" 10 200 \
	"d['status'] == 'green' and $(hasnt port.owner)"

# --- 004 flip plist: plutil -lint (a portable parse here) before any reload
cp "$plist" "$TAP_TMP/plist.good"
sed -i.bak '/<\/dict>/d' "$plist" && rm -f "$plist.bak"
ready_within "004 a plist that does not lint is red (plist.invalid)" 10 503 "$(has plist.invalid)"
kicks=$(kickstarts)
put_target 4 true >/dev/null
apply_failed() { pycheck "$(get_target)" "d['lastApply']['generation'] == 4 and d['lastApply']['error']"; }
until_ok 10 apply_failed
tap_eq "004 and the agent does not reload the gateway past it" "$kicks" "$(kickstarts)"
tap_contains "the apply error says why" "plist.invalid: not reloading the gateway" "$(get_target)"
cp "$TAP_TMP/plist.good" "$plist"
put_target 5 true >/dev/null
ready_within "the plist fixed, the reload goes through and the node is green" 10 200 \
	"d['status'] == 'green' and d['observedGeneration'] == 5"

# --- 004 TLS: certificate expiry where the gateway terminates TLS (the Mac's is good for 90 days)
tls=$root/etc/openclaw/tls
mkcert() { openssl req -x509 -days "$1" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj /CN=canary-gw -keyout "$tls/gateway.key" -out "$tls/gateway.crt.new" 2>/dev/null &&
	mv "$tls/gateway.crt.new" "$tls/gateway.crt"; }
mkcert 1
ready_within "004 a certificate that expires within 2 days is red (tls.expiring)" 10 503 \
	"$(has tls.expiring)"
mkcert 10
ready_within "004 one that expires within 14 days is degraded (tls.expiring)" 10 200 \
	"d['status'] == 'degraded' and $(has tls.expiring)"
stop_agent

tap_done
