#!/usr/bin/env bash
# mkmac.sh: makes a simulated Mac, a directory that `clawfleet agent` uses as its root. The fake
# openclaw, npm and launchctl sit where the agent's defaults look for them (symlinks into the
# simulator's build directory), launchd's service runs the fake gateway on PORT, and the
# directories the agent writes to exist. OpenClaw is not installed: the agent's install step
# does that. Anything run against the Mac needs OPENCLAW_SIM_ROOT=ROOT in its environment.
#
#   hack/sim/mkmac.sh ROOT --sim DIR --port PORT [--node NAME] [--commit VERSION=SHA]...
#                     [--remote URL --listen ADDR [--refresh DURATION]]
#
# --commit  the short commit `openclaw --version` prints once npm installed VERSION
# --remote  also writes ROOT/etc/clawfleet/agent.yaml (every path inside ROOT, the gateway on
#           PORT, doctor timeout 2s) and two random tokens in ROOT/etc/clawfleet/token.current
#           and token.next; run `clawfleet agent --config ROOT/etc/clawfleet/agent.yaml`
set -eu

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
	exit 2
}

[ $# -ge 1 ] || usage
root=$1
shift
sim="" port="" node=canary-gw remote="" listen="" refresh=1s
commits=()
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--sim) sim=$2 ;;
	--port) port=$2 ;;
	--node) node=$2 ;;
	--commit) commits+=("$2") ;;
	--remote) remote=$2 ;;
	--listen) listen=$2 ;;
	--refresh) refresh=$2 ;;
	*) usage ;;
	esac
	shift 2
done
if [ -z "$sim" ] || [ -z "$port" ]; then usage; fi
case $root in /*) ;; *) root=$PWD/$root ;; esac
sim=$(cd "$sim" && pwd)
for prog in openclaw npm launchctl gateway; do
	[ -x "$sim/$prog" ] || { echo "mkmac.sh: $sim/$prog is missing; build the simulator" >&2; exit 1; }
done

mkdir -p "$root/sim" "$root/usr/local/bin" "$root/bin" "$root/usr/local/share" \
	"$root/var/db/openclaw/skills" "$root/etc/openclaw/tenants" "$root/var/db/clawfleet"
ln -sfn "$sim/openclaw" "$root/usr/local/bin/openclaw"
ln -sfn "$sim/npm" "$root/usr/local/bin/npm"
ln -sfn "$sim/launchctl" "$root/bin/launchctl"
printf '%s\n' "$sim/gateway" --port "$port" --root "$root" --node "$node" >"$root/sim/gateway.cmd"
for c in ${commits[@]+"${commits[@]}"}; do
	echo "${c#*=}" >"$root/sim/commit-for-${c%%=*}"
done

[ -n "$remote" ] || exit 0
[ -n "$listen" ] || usage
mkdir -p "$root/etc/clawfleet"
for t in current next; do
	(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/clawfleet/token.$t")
done
cat >"$root/etc/clawfleet/agent.yaml" <<EOF
node: $node
listen: "$listen"
root: $root
infra: {remote: "$remote"}
service: {manager: launchd, label: gui/501/ai.openclaw.gateway}
gateway: {port: $port}
tokens: {dir: /etc/clawfleet}
refresh: $refresh
doctor: {timeout: 2s}
fetchTimeout: 20s
EOF
