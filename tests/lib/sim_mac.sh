# sim_mac.sh: what a script needs that runs one simulated Mac (hack/sim/mkmac.sh) under a real
# `clawfleet agent`, sourced after tests/lib/tap.sh with root (the Mac's directory) set.
# Every process of that Mac (agents, launchd supervisors, gateways) carries
# OPENCLAW_SIM_ROOT=$root from its start: that, not a pid that may have been reused, says it is
# ours to kill. On exit the script's agent_pid and anything in sim_mac_pids are killed with the
# Mac's processes, and TAP_TMP is removed.

agent_pid=""
sim_mac_pids=""
unset OPENCLAW_PROFILE

ours() { env -u OPENCLAW_SIM_ROOT grep -lsxz "OPENCLAW_SIM_ROOT=$root" /proc/[0-9]*/environ | cut -d/ -f3; }
sim_mac_cleanup() {
	local p
	for p in $agent_pid $sim_mac_pids; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for p in $(ours); do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TAP_TMP"
}
trap sim_mac_cleanup EXIT

free_port() { hack/free_port.py; }
# pycheck JSON EXPR: EXPR holds for d = the parsed JSON.
pycheck() { python3 -c "import json, sys; d = json.loads(sys.argv[1]); assert ($2), d" "$1"; }
# until_ok SECONDS CMD...: runs CMD every 0.2 s until it succeeds or the time is up.
until_ok() {
	local _
	for _ in $(seq $(($1 * 5))); do
		"${@:2}" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
