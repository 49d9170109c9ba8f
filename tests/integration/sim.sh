#!/usr/bin/env bash
# The simulated Mac (hack/sim): fake npm, openclaw, launchctl and a real HTTP gateway on loopback,
# driven through their control files in $OPENCLAW_SIM_ROOT/sim as the agent's tests will.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
tap_tmpdir
BUILD=${BUILD:-build}
sim=$PWD/$BUILD/sim
root=$TAP_TMP/mac
ctl=$root/sim
export OPENCLAW_SIM_ROOT=$root
unset OPENCLAW_PROFILE
target=gui/$(id -u)/ai.openclaw.gateway
pids=()

# Every gateway this script started dies with it, whatever happened in between; a pid is only
# killed while it still belongs to this simulated Mac, never after the system reused it.
ours() { env -u OPENCLAW_SIM_ROOT grep -qsxz "OPENCLAW_SIM_ROOT=$root" "/proc/$1/environ"; }
cleanup() {
	local p
	for p in "${pids[@]}"; do ours "$p" && kill -9 "$p"; done
	rm -rf "$TAP_TMP"
}
trap cleanup EXIT

# pycheck JSON EXPR: EXPR holds for d = the parsed JSON.
pycheck() {
	python3 -c "import json, sys; d = json.loads(sys.argv[1]); assert $2, d" "$1"
}
not_json() { ! python3 -c 'import json, sys; json.loads(sys.argv[1])' "$1" 2>/dev/null; }
state() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))$1)" "$ctl/gateway.state"; }
now_ms() { date +%s%3N; }
free_port() {
	hack/free_port.py
}
# http PATH: the body, a space, the status code.
http() { curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:$port$1"; }
wait_live() {
	local _
	for _ in $(seq 50); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && return 0
		sleep 0.1
	done
	return 1
}
kickstart() {
	"$sim/launchctl" kickstart "$@" "$target"
	local rc=$? p
	p=$(state '["pid"]')
	[ "$p" != 0 ] && pids+=("$p")
	return $rc
}
gateway_cmd() { printf '%s\n' "$sim/gateway" --port "$port" --root "$root" --node mac-1 >"$ctl/gateway.cmd"; }
# Another process may take the free port before the gateway binds it: try a fresh one.
first_start() {
	local _
	for _ in 1 2 3; do
		port=$(free_port)
		gateway_cmd
		kickstart -k && wait_live && return 0
	done
	return 1
}

mkdir -p "$ctl" "$root/var/db/openclaw/skills/1.4.2"
ln -s 1.4.2 "$root/var/db/openclaw/skills/current"

# --- npm and --version ---
out=$("$sim/openclaw" --version 2>&1)
tap_eq "openclaw is missing until npm installs it" "openclaw: command not found 127" "$out $?"
echo 3f9c2ab >"$ctl/commit-for-2026.7.1"
tap_check "npm install -g openclaw@2026.7.1 succeeds" "$sim/npm" install -g openclaw@2026.7.1
tap_eq "npm writes the version with its commit" "2026.7.1 (3f9c2ab)" "$(cat "$ctl/version")"
tap_eq "openclaw --version prints it" "OpenClaw 2026.7.1 (3f9c2ab)" "$("$sim/openclaw" --version)"
tap_eq "-V is the same" "OpenClaw 2026.7.1 (3f9c2ab)" "$("$sim/openclaw" -V)"
tap_check "npm ls -g --depth=0 --json lists openclaw" \
	pycheck "$("$sim/npm" ls -g --depth=0 --json)" 'd["dependencies"]["openclaw"]["version"] == "2026.7.1"'
"$sim/npm" outdated -g >/dev/null 2>&1
tap_eq "npm exits 1 on what it does not simulate" 1 $?

# --- doctor ---
doctor() { "$sim/openclaw" doctor --json --non-interactive "$@"; }
out=$(doctor)
tap_eq "doctor green exits 0" 0 $?
tap_check "doctor green: ok, only info findings" pycheck "$out" \
	'd["ok"] is True and d["checksRun"] > 0 and "checksSkipped" in d and d["findings"] and all(f["severity"] == "info" for f in d["findings"])'
echo '{"verdict":"yellow"}' >"$ctl/doctor"
tap_check "doctor yellow: ok with a gateway.latency warning" pycheck "$(doctor)" \
	'd["ok"] is True and any(f["severity"] == "warning" and f["checkId"] == "gateway.latency" for f in d["findings"])'
echo '{"verdict":"red"}' >"$ctl/doctor"
out=$(doctor --deep)
tap_eq "doctor red still exits 0" 0 $?
tap_check "doctor red: not ok, a located skills.semver error" pycheck "$out" \
	'd["ok"] is False and d["checksSkipped"] == 0 and any(f["severity"] == "error" and f["checkId"] == "skills.semver" and f["path"].endswith("openclaw.lock") and f["line"] > 0 for f in d["findings"])'
echo '{"mode":"garbage"}' >"$ctl/doctor"
out=$(doctor)
tap_check "doctor garbage mode prints something that is not JSON" not_json "$out"
echo '{"mode":"cli_error"}' >"$ctl/doctor"
out=$(doctor)
tap_eq "doctor cli_error exits 1" 1 $?
tap_check "and prints the cli_error object" pycheck "$out" \
	'd["ok"] is False and d["error"]["type"] == "cli_error" and d["error"]["message"]'
echo '{"mode":"old_cli"}' >"$ctl/doctor"
out=$(doctor 2>&1)
tap_eq "an old CLI rejects --non-interactive with exit 2" \
	"error: unknown option '--non-interactive' 2" "$out $?"
tap_check "and answers without the flag" pycheck "$("$sim/openclaw" doctor --json)" 'd["ok"] is True'
echo '{"mode":"hang"}' >"$ctl/doctor"
timeout 1 "$sim/openclaw" doctor --json --non-interactive >/dev/null
tap_eq "doctor hang mode is only ended by timeout" 124 $?
echo '{"latencyMs":300}' >"$ctl/doctor"
t0=$(now_ms)
doctor >/dev/null
tap_check "latencyMs delays the answer" test $(($(now_ms) - t0)) -ge 300
echo '{"verdict":"green"}' >"$ctl/doctor"
echo '{"verdict":"red"}' >"$ctl/doctor.work"
tap_check "OPENCLAW_PROFILE picks sim/doctor.<profile>" \
	pycheck "$(OPENCLAW_PROFILE=work doctor)" 'd["ok"] is False'
tap_check "a profile without its own file falls back to sim/doctor" \
	pycheck "$(OPENCLAW_PROFILE=home doctor)" 'd["ok"] is True'
"$sim/openclaw" version --json >/dev/null 2>&1
tap_eq "unknown commands exit 2" 2 $?

# --- launchctl and the gateway ---
out=$("$sim/launchctl" print "$target" 2>&1)
tap_eq "print without gateway.cmd: exit 113" 113 $?
tap_contains "saying the service is not found" "Could not find service" "$out"
"$sim/launchctl" kickstart -k ai.openclaw.gateway 2>/dev/null
tap_eq "a target without a domain is a usage error" 64 $?
port=$(free_port)
gateway_cmd
out=$("$sim/launchctl" print "$target")
tap_contains "print before any start: not running" "state = not running" "$out"
tap_contains "and never exited" "last exit code = (never exited)" "$out"

first_start
tap_eq "kickstart -k starts the gateway and it answers" 0 $?
pid1=$(state '["pid"]')
tap_eq "gateway.state says running" running "$(state '["state"]')"
tap_check "the recorded pid is alive" kill -0 "$pid1"
tap_eq "/healthz answers live" '{"ok":true,"status":"live"} 200' "$(http /healthz)"
tap_eq "/health too" '{"ok":true,"status":"live"} 200' "$(http /health)"
out=$(http /readyz)
tap_check "/readyz answers 200 ready" pycheck "${out% *}" 'd["ready"] is True and "failing" not in d'
tap_eq "with status 200" 200 "${out##* }"
tap_eq "/whoami names the node" '{"node":"mac-1"} 200' "$(http /whoami)"
out=$(curl -s --max-time 5 -i "http://127.0.0.1:$port/no/such/page")
tap_contains "an unknown path answers 200" "200 OK" "$out"
tap_contains "with the Control UI's HTML" "<html>" "$out"
tap_check "/sim/state shows the version and the resolved skills" pycheck "$(http /sim/state | sed 's/ 200$//')" \
	"d['version'] == '2026.7.1 (3f9c2ab)' and d['skills']['current'].endswith('/skills/1.4.2') and d['skills']['next'] is None and d['pid'] == $pid1 and d['node'] == 'mac-1'"

kickstart
tap_eq "kickstart without -k leaves a running gateway alone" "$pid1" "$(state '["pid"]')"
kickstart -k
pid2=$(state '["pid"]')
tap_check "kickstart -k restarts it with a new pid" test "$pid2" != "$pid1" -a "$pid2" != 0
tap_check "the old gateway is gone" bash -c "! kill -0 $pid1 2>/dev/null"
tap_eq "both starts are in restarts" 2 "$(state '["restarts"].__len__()')"
tap_eq "the old one exited 0 on SIGTERM" 0 "$(state '["lastExitStatus"]')"
wait_live
out=$("$sim/launchctl" print "$target")
tap_contains "print: state = running" "state = running" "$out"
tap_contains "print: pid" "pid = $pid2" "$out"
tap_contains "print: runs" "runs = 2" "$out"
tap_contains "print: last exit code" "last exit code = 0" "$out"
tap_check "openclaw gateway status --json: running, pid, port, rpc" \
	pycheck "$("$sim/openclaw" gateway status --json)" \
	"d['service']['label'] == 'ai.openclaw.gateway' and d['service']['loaded'] is True and d['service']['runtime']['status'] == 'running' and d['service']['runtime']['pid'] == $pid2 and d['gateway']['port'] == $port and d['gateway']['probeUrl'].endswith('/readyz') and d['port']['status'] == 'listening' and d['rpc']['ok'] is True"
tap_check "openclaw gateway restart succeeds" "$sim/openclaw" gateway restart
pids+=("$(state '["pid"]')")
tap_check "and gives a new pid" test "$(state '["pid"]')" != "$pid2"
tap_contains "through launchctl kickstart -k" "launchctl kickstart -k $target" "$(cat "$ctl/log")"
wait_live

echo '{"ready":false,"failing":["channels.slack"]}' >"$ctl/gateway.control"
sleep 0.3
out=$(http /readyz)
tap_eq "ready:false answers 503" 503 "${out##* }"
tap_check "with ready false and the failing list" pycheck "${out% *}" \
	'd["ready"] is False and d["failing"] == ["channels.slack"]'
echo '{"failRate":0.5}' >"$ctl/gateway.control"
sleep 0.3
codes=$(for _ in 1 2 3 4; do curl -s -o /dev/null --max-time 5 -w '%{http_code} ' "http://127.0.0.1:$port/whoami"; done)
tap_eq "failRate 0.5 fails every second /whoami" "200 500 200 500 " "$codes"
echo '{"slowMs":300}' >"$ctl/gateway.control"
sleep 0.3
t0=$(now_ms)
http /healthz >/dev/null
tap_check "slowMs delays the answer" test $(($(now_ms) - t0)) -ge 300

# --- plugins ---
tap_check "plugins install succeeds" "$sim/openclaw" plugins install @openclaw/voice@1.2.0
tap_check "and records the plugin" pycheck "$(cat "$ctl/plugins.json")" 'd == {"@openclaw/voice": "1.2.0"}'
echo "@openclaw/matrix" >"$ctl/fail-install"
"$sim/openclaw" plugins install @openclaw/matrix@0.9.0 2>/dev/null
tap_eq "a plugin listed in fail-install fails with exit 1" 1 $?
tap_check "and is not recorded" pycheck "$(cat "$ctl/plugins.json")" '"@openclaw/matrix" not in d'
echo "openclaw@2026.8.0" >>"$ctl/fail-install"
out=$("$sim/npm" install -g openclaw@2026.8.0 2>&1)
tap_eq "fail-install makes npm fail too, exit 1" 1 $?
tap_contains "with npm's ETARGET" "npm error code ETARGET" "$out"
tap_eq "leaving the installed version alone" "2026.7.1 (3f9c2ab)" "$(cat "$ctl/version")"
"$sim/npm" install -g openclaw@latest 2>/dev/null
tap_eq "npm installs exact versions only" 1 $?

# --- crashes and stops ---
echo '{"crash":true}' >"$ctl/gateway.control"
kickstart -k
tap_eq "a crashing gateway is recorded stopped" stopped "$(state '["state"]')"
tap_eq "with its exit status" 1 "$(state '["lastExitStatus"]')"
out=$("$sim/launchctl" print "$target")
tap_contains "print: not running" "state = not running" "$out"
tap_contains "print: last exit code = 1" "last exit code = 1" "$out"
tap_check "gateway status --json: stopped, rpc down" pycheck "$("$sim/openclaw" gateway status --json)" \
	'd["service"]["runtime"]["status"] == "stopped" and d["service"]["runtime"]["lastExitStatus"] == 1 and d["rpc"]["ok"] is False'

printf '%s\n' /bin/sh -c "trap '' TERM; exec sleep 30" >"$ctl/gateway.cmd"
kickstart -k
stubborn=$(state '["pid"]')
t0=$(now_ms)
"$sim/launchctl" bootout "$target"
tap_check "a gateway ignoring SIGTERM is killed after the 2 s grace" \
	test $(($(now_ms) - t0)) -ge 2000 -a "$(state '["state"]')" = stopped
tap_eq "its exit status says SIGKILL" 137 "$(state '["lastExitStatus"]')"
out=$("$sim/launchctl" print "$target")
tap_contains "print names the signal as launchd does" "last terminating signal = Killed: 9" "$out"
tap_check "in place of an exit code" bash -c '! grep -q "last exit code" <<<"$1"' _ "$out"
tap_check "and it is gone" bash -c "! kill -0 $stubborn 2>/dev/null"

echo '{}' >"$ctl/gateway.control"
gateway_cmd
kickstart -k
wait_live
last=$(state '["pid"]')
tap_check "bootout succeeds" "$sim/launchctl" bootout "$target"
tap_eq "bootout leaves the service stopped" stopped "$(state '["state"]')"
tap_check "the gateway process is gone" bash -c "! kill -0 $last 2>/dev/null"
# Supervisors and gateways carry OPENCLAW_SIM_ROOT from their start; this script exported it later.
left=$(env -u OPENCLAW_SIM_ROOT grep -lsxz "OPENCLAW_SIM_ROOT=$root" /proc/[0-9]*/environ)
tap_eq "no process of this simulated Mac is left" "" "$left"
tap_check "every gateway started here is gone" bash -c "for p in ${pids[*]}; do ! kill -0 \$p 2>/dev/null || exit 1; done"

# --- the log ---
tap_check "every log line is '<epoch ms> <program> <args>'" \
	bash -c "! grep -Ev '^[0-9]{13} (openclaw|npm|launchctl|gateway)( |$)' '$ctl/log'"
tap_contains "the log shows what the agent would have run" \
	"openclaw doctor --json --non-interactive --deep" "$(cat "$ctl/log")"
tap_contains "and the gateways launchctl started" "gateway --port $port --root $root --node mac-1" \
	"$(cat "$ctl/log")"

tap_done
