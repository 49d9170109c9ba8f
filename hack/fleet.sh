#!/usr/bin/env bash
# fleet.sh: a simulated fleet on loopback for the controller's tests and `make demo`: three
# simulated Macs (hack/sim/mkmac.sh: canary-gw, stable-gw-a in zone-a, stable-gw-b in zone-b),
# each running the fake gateway and a real `clawfleet agent`; a real HAProxy in front of the
# gateways (hack/haproxy/clawfleet.cfg.in, runtime socket); and a Git repository holding the
# example manifests (manifests/example-repo) adapted to them, with two builds tagged:
# v2026.7.1 (OpenClaw 2026.7.1, skills 1.4.2) and v2026.8.0 (2026.8.0, skills 1.4.3). main
# promotes v2026.7.1 with canary steps 10, 50, 100. The Macs start with no OpenClaw installed.
#
#   hack/fleet.sh up DIR [--analysis DURATION]   starts it all; writes DIR/fleet.env and
#                                                DIR/controller.yaml (the controller is not
#                                                started: `clawfleet controller --config ...`)
#   hack/fleet.sh down DIR                       stops every process it started
#
# Sourced (`. hack/fleet.sh`), it defines the same as functions, fleet_up and fleet_down, and
# helpers for tests: fleet_promote, fleet_spec, fleet_status, fleet_measure, fleet_sed,
# fleet_track. Every process it starts is written to DIR/fleet.pids with its start time, so that a
# pid reused since by another process is not the fleet's; fleet_down stops those, their
# descendants and process groups, and each Mac's gateway (its sim/gateway.pid) with the
# supervisor the simulated launchctl runs it under. A process a caller starts for the fleet joins
# it with fleet_track. No /proc: this runs on macOS too (bash 3.2, BSD ps, sed, awk). Needs BUILD
# (default build) to hold clawfleet and sim/.
# FLEET_LB=file (for machines without HAProxy) makes the LoadBalancer the `file` driver, writing
# DIR/lb/weights.json, and starts no HAProxy: FLEET_FRONTEND is then empty. That driver cannot
# count sessions, so each restart waits its drainTimeout, 1s here. The Promotion's
# canary.analysis.minSamples is FLEET_MIN_SAMPLES (default 1): windows of a few seconds see only
# a pass or two each, as the controller passes every second during a rollout.

FLEET_NODES="canary-gw stable-gw-a stable-gw-b"
FLEET_HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# fleet_free_port: a loopback port no other script of this user holds (hack/free_port.py says why).
fleet_free_port() {
	"$FLEET_HACK_DIR/free_port.py"
}

# fleet_wait SECONDS CMD...: runs CMD every 0.2 s until it succeeds; 1 when the time is up.
fleet_wait() {
	local i
	for i in $(seq $(($1 * 5))); do
		"${@:2}" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

fleet_var() { echo "$1" | tr - _; }

# fleet_sed FILE SED-ARGS...: FILE edited in place by sed. `sed -i` takes its backup suffix in
# different ways in GNU and BSD sed, so the result goes through a file beside it.
fleet_sed() {
	local file=$1
	shift
	sed "$@" "$file" >"$file.sed" && mv "$file.sed" "$file"
}

# The repository: the example with the fleet's addresses and load balancer, both builds tagged,
# main back on v2026.7.1.
fleet_repo() {
	local dir=$1 analysis=$2 repo=$1/repo node v
	git -c init.defaultBranch=main init -q "$repo"
	cp -R manifests/example-repo/. "$repo/"
	for v in 1.4.2 1.4.3; do
		mkdir -p "$repo/skills/$v/summarise"
		echo "# summarise $v" >"$repo/skills/$v/summarise/SKILL.md"
	done
	for node in $FLEET_NODES; do
		v=$(fleet_var "$node")
		fleet_sed "$repo/openclaw/nodes/$node.yaml" \
			"s|address: .*|address: http://127.0.0.1:$(eval echo "\$FLEET_AGENT_PORT_$v")|"
	done
	if [ "${FLEET_LB:-haproxy}" = file ]; then
		cat >"$repo/clawfleet/loadbalancer.yaml" <<EOF
apiVersion: fleet.openclaw.io/v1alpha1
kind: LoadBalancer
metadata:
  name: gateways
spec:
  driver: file
  drainTimeout: 1s
  file:
    path: $dir/lb/weights.json
EOF
	else
		cat >"$repo/clawfleet/loadbalancer.yaml" <<EOF
apiVersion: fleet.openclaw.io/v1alpha1
kind: LoadBalancer
metadata:
  name: gateways
spec:
  driver: haproxy
  haproxy:
    socket: $dir/haproxy/admin.sock
    backend: openclaw_gateways
    tenantMap: $dir/haproxy/canary-tenants.map
EOF
	fi
	# The example's metrics need a Prometheus, which the simulated fleet does not run
	# (tests/integration/analysis_metrics.sh brings its own): without them, as before.
	fleet_sed "$repo/clawfleet/promotion.yaml" -e '/^    # Judged from HAProxy/,/^    maxHold:/{/^    maxHold:/!d;}'
	local samples="    analysis: {minSamples: ${FLEET_MIN_SAMPLES:-1}}"
	# A newline in a replacement is a backslash and a real newline: `\n` there is GNU sed's.
	fleet_sed "$repo/clawfleet/promotion.yaml" -e "s|steps: .*|steps: [10, 50, 100]|" \
		-e "s|analysisInterval: .*|analysisInterval: $analysis\\
$samples|"
	git -C "$repo" add -A
	git -C "$repo" commit -qm "fleet: promote v2026.7.1" -m "Ticket: OPS-1041"
	git -C "$repo" tag -a -m v2026.7.1 v2026.7.1
	fleet_sed "$repo/openclaw.lock" \
		's/"2026.7.1",/"2026.8.0",/; s/"3f9c2ab"/"5e8d1aa"/; s/2893816b4d0f7b05e1d10393b79f1f5bc1e8a8f2fc89ad9e37e685b0477bf075/b14e2de11878b275de5f761dd89e075d9aa3d402851f51c90480a9a62f4c8e7f/; s/plugin-bundle", "version": "2026.7.1"/plugin-bundle", "version": "2026.8.0"/; s/"semver": "1.4.2"/"semver": "1.4.3"/'
	fleet_sed "$repo/clawfleet/promotion.yaml" \
		's/tag: v2026.7.1/tag: v2026.8.0/; s/skillSemver: 1.4.2/skillSemver: 1.4.3/; s/openclaw-gateway:2026.7.1/openclaw-gateway:2026.8.0/'
	git -C "$repo" commit -qam "build v2026.8.0"
	git -C "$repo" tag -a -m v2026.8.0 v2026.8.0
	git -C "$repo" checkout -q v2026.7.1 -- clawfleet openclaw.lock
	git -C "$repo" commit -qm "fleet: stay on v2026.7.1 until the canary is ready"
}

fleet_haproxy() {
	local dir=$1 h=$1/haproxy
	mkdir -p "$h"
	: >"$h/canary-tenants.map"
	sed -e "s|@RUNTIME_SOCKET@|$h/admin.sock|g" -e "s|@RUNTIME_PORT@|$(fleet_free_port)|g" \
		-e "s|@FRONTEND_PORT@|$FLEET_FRONTEND_PORT|g" -e "s|@TENANT_MAP@|$h/canary-tenants.map|g" \
		-e "s|@STATS_PORT@|$FLEET_STATS_PORT|g" \
		-e "s|@PORT_A@|$FLEET_GATEWAY_PORT_stable_gw_a|g" \
		-e "s|@PORT_B@|$FLEET_GATEWAY_PORT_stable_gw_b|g" \
		-e "s|@PORT_CANARY@|$FLEET_GATEWAY_PORT_canary_gw|g" \
		-e "s|@AGENT_PORT_A@|$FLEET_AGENT_PORT_stable_gw_a|g" \
		-e "s|@AGENT_PORT_B@|$FLEET_AGENT_PORT_stable_gw_b|g" \
		-e "s|@AGENT_PORT_CANARY@|$FLEET_AGENT_PORT_canary_gw|g" \
		hack/haproxy/clawfleet.cfg.in >"$h/haproxy.cfg"
	haproxy -db -f "$h/haproxy.cfg" >"$dir/logs/haproxy.log" 2>&1 &
	disown
	fleet_track "$dir" $!
	fleet_wait 10 test -S "$h/admin.sock"
}

fleet_agent_start() {
	local dir=$1 node=$2 root=$1/macs/$2
	OPENCLAW_SIM_ROOT=$root OPENCLAW_CONFIG_PATH=$root/.openclaw/openclaw.json "$FLEET_BIN" agent \
		--config "$root/etc/clawfleet/agent.yaml" >>"$dir/logs/agent-$node.log" 2>&1 &
	disown
	fleet_track "$dir" $!
}

# fleet_up DIR [ANALYSIS]: everything but the controller; 0 when every piece answers.
fleet_up() {
	local dir=$1 analysis=${2:-5m} node v root sim
	case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
	FLEET_BIN=$PWD/${BUILD:-build}/clawfleet
	sim=$PWD/${BUILD:-build}/sim
	mkdir -p "$dir/logs" "$dir/macs" "$dir/controller"
	FLEET_FRONTEND_PORT=$(fleet_free_port)
	FLEET_STATS_PORT=$(fleet_free_port)
	for node in $FLEET_NODES; do
		v=$(fleet_var "$node")
		eval "FLEET_AGENT_PORT_$v=$(fleet_free_port) FLEET_GATEWAY_PORT_$v=$(fleet_free_port)"
	done
	fleet_repo "$dir" "$analysis" || return 1
	(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/agent-token")
	for node in $FLEET_NODES; do
		v=$(fleet_var "$node")
		root=$dir/macs/$node
		hack/sim/mkmac.sh "$root" --sim "$sim" --port "$(eval echo "\$FLEET_GATEWAY_PORT_$v")" \
			--node "$node" --commit 2026.7.1=3f9c2ab --commit 2026.8.0=5e8d1aa \
			--remote "$dir/repo" --listen "127.0.0.1:$(eval echo "\$FLEET_AGENT_PORT_$v")" \
			--refresh 1s || return 1
		cp "$dir/agent-token" "$root/etc/clawfleet/token.current"
		OPENCLAW_SIM_ROOT=$root "$root/bin/launchctl" kickstart \
			gui/501/ai.openclaw.gateway >/dev/null || return 1
		fleet_agent_start "$dir" "$node"
	done
	if [ "${FLEET_LB:-haproxy}" = file ]; then
		mkdir -p "$dir/lb"
	else
		fleet_haproxy "$dir" || return 1
	fi
	FLEET_CONTROLLER_PORT=$(fleet_free_port)
	cat >"$dir/controller.yaml" <<EOF
source: {url: "$dir/repo", ref: main, interval: 1s, timeout: 20s}
state: $dir/controller
listen: 127.0.0.1:$FLEET_CONTROLLER_PORT
agentToken: $dir/agent-token
analysisInterval: $analysis
canaryBackend: openclaw_canary
EOF
	{
		echo "FLEET_DIR=$dir"
		echo "FLEET_BIN=$FLEET_BIN"
		echo "FLEET_REPO=$dir/repo"
		echo "FLEET_CONFIG=$dir/controller.yaml"
		echo "FLEET_STATE=$dir/controller"
		echo "FLEET_URL=http://127.0.0.1:$FLEET_CONTROLLER_PORT"
		if [ "${FLEET_LB:-haproxy}" = file ]; then
			echo "FLEET_FRONTEND="
		else
			echo "FLEET_FRONTEND=http://127.0.0.1:$FLEET_FRONTEND_PORT"
		fi
		echo "FLEET_SOCKET=$dir/haproxy/admin.sock"
		echo "FLEET_HAPROXY_METRICS=127.0.0.1:$FLEET_STATS_PORT"
		for node in $FLEET_NODES; do
			v=$(fleet_var "$node")
			echo "FLEET_AGENT_PORT_$v=$(eval echo "\$FLEET_AGENT_PORT_$v")"
			echo "FLEET_GATEWAY_PORT_$v=$(eval echo "\$FLEET_GATEWAY_PORT_$v")"
		done
	} >"$dir/fleet.env"
	for node in $FLEET_NODES; do
		v=$(fleet_var "$node")
		fleet_wait 10 curl -sf --max-time 1 \
			"http://127.0.0.1:$(eval echo "\$FLEET_AGENT_PORT_$v")/healthz" || return 1
	done
	# Any answer: HAProxy checks every gateway through its agent's /readyz, and a Mac with no
	# build yet is red (503 from HAProxy until the controller brings it up).
	[ "${FLEET_LB:-haproxy}" = file ] ||
		fleet_wait 10 curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$FLEET_FRONTEND_PORT/whoami"
}

# fleet_controller DIR [FLAGS...]: starts the controller on the fleet's configuration, logging to
# DIR/logs/controller.log; its pid goes to FLEET_CONTROLLER_PID.
fleet_controller() {
	local dir=$1
	"$FLEET_BIN" controller --config "$dir/controller.yaml" "${@:2}" \
		>>"$dir/logs/controller.log" 2>&1 &
	FLEET_CONTROLLER_PID=$!
	fleet_track "$dir" "$FLEET_CONTROLLER_PID"
}

# fleet_track DIR PID: PID, just started, is the fleet's: fleet_down stops it and what it starts.
# Its start time is kept with it (ps lstart, the same tool reading it back). ps runs with SIGINT
# ignored: a Ctrl-C to the process group while it reads would kill it before it writes, and the
# process just started (itself ignoring SIGINT, as a background job of a script) would outlive
# fleet_down; the shell runs its INT trap once ps is done.
fleet_track() {
	(trap '' INT && ps -o pid= -o lstart= -p "$2" >>"$1/fleet.pids" 2>/dev/null)
	return 0
}

# fleet_pids DIR: the fleet's processes alive now, from one `ps` table: the tracked ones whose
# start time still matches, each Mac's gateway (sim/gateway.pid, while that pid is a gateway)
# and its supervisor's process group, then everything whose parent is one of them or whose
# process group is led by one of them or by a tracked process that has exited (a group outlives
# its leader, and its id is not reused while it exists).
fleet_pids() {
	local dir=$1 f
	{
		cat "$dir/fleet.pids" 2>/dev/null
		for f in "$dir"/macs/*/sim/gateway.pid; do
			[ -f "$f" ] && echo "gateway $(cat "$f")"
		done
		echo "table"
		ps -A -o pid= -o ppid= -o pgid= -o lstart= -o comm=
	} | awk '
	$1 == "table" { table = 1; next }
	!table && $1 == "gateway" { gateway[$2] = 1; next }
	!table {
		tracked[$1] = $2
		for (i = 3; i <= NF; i++) tracked[$1] = tracked[$1] " " $i
		width = NF - 1
		next
	}
	{
		n++
		pid[n] = $1; ppid[n] = $2; pgid[n] = $3; group_of[$1] = $3; comm[$1] = $NF
		started[$1] = $4
		for (i = 5; i < 4 + width; i++) started[$1] = started[$1] " " $i
	}
	END {
		for (p in tracked) {
			if (!(p in started)) {
				group[p] = 1
			} else if (started[p] == tracked[p]) {
				ours[p] = 1
				group[p] = 1
			}
		}
		for (p in gateway) {
			if ((p in started) && comm[p] ~ /gateway$/) {
				ours[p] = 1
				group[group_of[p]] = 1
			}
		}
		do {
			added = 0
			for (i = 1; i <= n; i++) {
				if (!(pid[i] in ours) && ((ppid[i] in ours) || (pgid[i] in group) ||
							  (pgid[i] in ours))) {
					ours[pid[i]] = 1
					added = 1
				}
			}
		} while (added)
		for (i = 1; i <= n; i++)
			if (pid[i] in ours)
				print pid[i]
	}'
}

# fleet_down DIR: SIGKILL to every process of the fleet. They are stopped (SIGSTOP) first, and
# looked for again until no new one appears (a few rounds at most), so that none forks a child
# between the look and the kill.
fleet_down() {
	local dir=$1 pids frozen="" round
	case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
	for round in 1 2 3 4 5; do
		pids=$(fleet_pids "$dir")
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086
		kill -STOP $pids 2>/dev/null
		[ "$pids" = "$frozen" ] && break
		frozen=$pids
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	return 0
}

# fleet_promote DIR TAG [MESSAGE]: main's Promotion and openclaw.lock as TAG has them, committed.
fleet_promote() {
	local repo=$1/repo
	git -C "$repo" checkout -q "$2" -- clawfleet openclaw.lock &&
		git -C "$repo" commit -qm "${3:-fleet: promote $2}" -m "Ticket: OPS-2001"
}

# fleet_spec DIR KEY VALUE: sets spec.KEY (suspend, abort) of main's Promotion, committed.
fleet_spec() {
	local repo=$1/repo
	fleet_sed "$repo/clawfleet/promotion.yaml" "s|^  $2: .*|  $2: $3|" &&
		git -C "$repo" commit -qam "fleet: $2: $3"
}

# fleet_status URL [PYTHON EXPR]: GET URL/status; with EXPR, 0 when it holds for d = the document.
fleet_status() {
	local doc
	doc=$(curl -sf --max-time 2 "$1/status") || return 1
	[ $# -lt 2 ] && { echo "$doc"; return 0; }
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$doc" "$2"
}

# fleet_measure FRONTEND N [TENANT]: N requests to /whoami through HAProxy, 8 at a time, one
# connection each, with X-Tenant-Canary: TENANT when given; prints how many each gateway
# answered, as "canary-gw stable-gw-a stable-gw-b".
fleet_measure() {
	python3 -c '
import collections, concurrent.futures, json, sys, urllib.request
url, n, tenant, nodes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def one(_):
    req = urllib.request.Request(url, headers={"Connection": "close"})
    if tenant:
        req.add_header("X-Tenant-Canary", tenant)
    try:
        return json.loads(urllib.request.urlopen(req, timeout=5).read())["node"]
    except Exception:
        return None
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    counts = collections.Counter(pool.map(one, range(n)))
print(" ".join(str(counts[node]) for node in nodes))' "$1/whoami" "$2" "${3:-}" $FLEET_NODES
}

# fleet_notifier DIR: the real notifier (`clawfleet notifier`) on loopback, its channel a stand-in
# that appends every broadcast it is sent to DIR/channel.jsonl, and the controller's `notifier:`
# pointed at its POST /v1/events. Call it after fleet_up and before fleet_controller.
fleet_notifier() {
	local dir=$1 api_port channel_port
	case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
	api_port=$(fleet_free_port)
	channel_port=$(fleet_free_port)
	: >"$dir/channel.jsonl"
	python3 -c '
import http.server, sys
class Channel(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 1 << 20))
        with open(sys.argv[2], "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Channel).serve_forever()' \
		"$channel_port" "$dir/channel.jsonl" >>"$dir/logs/channel.log" 2>&1 &
	disown
	fleet_track "$dir" $!
	cat >"$dir/notifier.yaml" <<EOF
socket: $dir/notifier.sock
listen: 127.0.0.1:$api_port
window: 1m
channel: {url: "http://127.0.0.1:$channel_port/", format: generic}
EOF
	"$FLEET_BIN" notifier --config "$dir/notifier.yaml" >>"$dir/logs/notifier.log" 2>&1 &
	disown
	fleet_track "$dir" $!
	echo "notifier: http://127.0.0.1:$api_port/v1/events" >>"$dir/controller.yaml"
	echo "FLEET_NOTIFIER=http://127.0.0.1:$api_port" >>"$dir/fleet.env"
	echo "FLEET_CHANNEL=$dir/channel.jsonl" >>"$dir/fleet.env"
	fleet_wait 10 curl -sf --max-time 1 "http://127.0.0.1:$api_port/healthz"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	[ $# -ge 2 ] && case $2 in /*) ;; *) set -- "$1" "$PWD/$2" "${@:3}" ;; esac
	cd "$(dirname "$0")/.." || exit 1
	export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-"Fleet Operator"}
	export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-ops@example.com}
	export GIT_COMMITTER_NAME=${GIT_COMMITTER_NAME:-"Fleet Operator"}
	export GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL:-ops@example.com}
	usage() {
		sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
	}
	case "${1:-} $#" in
	"up 2" | "up 4")
		[ $# -eq 2 ] || [ "$3" = --analysis ] || usage
		mkdir -p "$2"
		fleet_up "$2" "${4:-}" || { echo "fleet.sh: the fleet did not come up; see $2/logs" >&2; exit 1; }
		cat "$2/fleet.env"
		;;
	"down 2") fleet_down "$2" ;;
	*) usage ;;
	esac
fi
